// A logged-in browser session of the example Laravel app, for the Node tests
// that drive Laravel Echo against the real app: a tiny cookie jar around
// fetch, login through GET /login (XSRF-TOKEN cookie) + POST /login, and Echo
// "tabs" that send the session's cookie and CSRF token to /broadcasting/auth.
import assert from 'node:assert/strict';
import Pusher from 'pusher-js';
import { makeEcho } from './lib.mjs';

// pusher-js's Node XHR refuses to set a Cookie header (a browser sends the
// cookie by itself): lift that check so auth requests carry the session.
const createXHR = Pusher.Runtime.createXHR.bind(Pusher.Runtime);
Pusher.Runtime.createXHR = () => {
  const xhr = createXHR();
  if (typeof xhr.setDisableHeaderCheck === 'function') xhr.setDisableHeaderCheck(true);
  return xhr;
};

export class Session {
  // echoes collects every Echo this session opens, for the test to disconnect.
  constructor({ host, port, echoes = [] }) {
    this.host = host;
    this.port = port;
    this.base = `http://${host}:${port}`;
    this.echoes = echoes;
    this.cookies = new Map();
    this.csrf = '';
  }

  cookieHeader() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }

  async fetch(path, { method = 'GET', headers = {}, body } = {}) {
    const res = await fetch(this.base + path, {
      method,
      redirect: 'manual',
      headers: { Accept: 'application/json', Cookie: this.cookieHeader(), ...headers },
      body,
    });
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, json, text };
  }

  async login(email) {
    const page = await this.fetch('/login', { headers: { Accept: 'text/html' } });
    assert.equal(page.status, 200, 'GET /login');
    const xsrf = decodeURIComponent(this.cookies.get('XSRF-TOKEN') || '');
    assert.ok(xsrf, 'XSRF-TOKEN cookie after GET /login');
    const res = await this.fetch('/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-XSRF-TOKEN': xsrf },
      body: JSON.stringify({ email, password: 'secret' }),
    });
    assert.equal(res.status, 200, `POST /login as ${email}: ${res.text}`);
    this.csrf = res.json.data.csrf_token;
    return this;
  }

  // echo is one browser tab of this session.
  echo() {
    const e = makeEcho({ host: this.host, port: this.port, headers: { Cookie: this.cookieHeader(), 'X-CSRF-TOKEN': this.csrf } });
    this.echoes.push(e);
    return e;
  }

  put(path, body, headers = {}) {
    return this.fetch(path, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-TOKEN': this.csrf, ...headers },
      body: JSON.stringify(body),
    });
  }

  // auth asks the app's /broadcasting/auth as pusher-js does.
  auth(socketId, channel) {
    return this.fetch('/broadcasting/auth', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRF-TOKEN': this.csrf },
      body: `socket_id=${encodeURIComponent(socketId)}&channel_name=${encodeURIComponent(channel)}`,
    });
  }
}
