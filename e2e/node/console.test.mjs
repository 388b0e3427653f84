// recordsync's live console in Debian's Chromium (playwright-core), against
// the REAL example Laravel app behind Caddy with recordsync. Started by
// TestConsoleInBrowser in e2e/console_test.go with RS_PORT, RS_APP_KEY,
// RS_OUT, RS_CHROMIUM and RS_CONSOLE_TOKEN.
//
// The console is at /_recordsync; its one viewer, "tester", sees the tenant
// 127.0.0.1 only and signs in with RS_CONSOLE_TOKEN. The other tenant is
// localhost (the same app, another host: another tenant for recordsync).
// Users of the app log in from Node (session.mjs) and save through the
// proxy; pusher-js sockets are Node's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Pusher from 'pusher-js';
import { chromium } from 'playwright-core';
import { env, collector, sleep } from './lib.mjs';
import { Session } from './session.mjs';

const port = Number(env('RS_PORT'));
const key = env('RS_APP_KEY');
const outDir = env('RS_OUT');
const token = env('RS_CONSOLE_TOKEN');
const executablePath = env('RS_CHROMIUM', '/usr/bin/chromium');
const consoleURL = `http://127.0.0.1:${port}/_recordsync/`;

let browser;
const sockets = [];
const echoes = [];

before(async () => {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  for (const p of sockets) p.disconnect();
  for (const e of echoes) e.disconnect();
  if (browser) await browser.close();
});

// pusherSocket connects pusher-js to host (the tenant) and resolves with it
// once connected.
function pusherSocket(host) {
  const p = new Pusher(key, {
    wsHost: host, wsPort: port, wssPort: port, wsPath: '/ws', forceTLS: false,
    enabledTransports: ['ws'], cluster: 'mt1', disableStats: true,
  });
  sockets.push(p);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`pusher-js to ${host}: not connected`)), 5000);
    p.connection.bind('connected', () => { clearTimeout(t); resolve(p); });
  });
}

function subscribe(p, channel) {
  const ch = p.subscribe(channel);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${channel}: not subscribed`)), 5000);
    ch.bind('pusher:subscription_succeeded', () => { clearTimeout(t); resolve(ch); });
    ch.bind('pusher:subscription_error', (e) => { clearTimeout(t); reject(new Error(`${channel}: ${JSON.stringify(e)}`)); });
  });
}

async function login(host, email) {
  return new Session({ host, port, echoes }).login(email);
}

// save loads flow id as the session's user and saves it through the proxy.
async function save(s, id, name) {
  const loaded = await s.fetch(`/api/v1/flows/${id}`);
  assert.equal(loaded.status, 200, loaded.text);
  const res = await s.put(`/api/v1/flows/${id}`, { name, client_version: loaded.json.data.updated_at });
  assert.equal(res.status, 200, res.text);
  return { loaded: loaded.json.data.updated_at, saved: res.json.data.updated_at };
}

// watchProblems fails the test on the console page's errors.
function watchProblems(page, problems) {
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
}

test('without the token the console is refused: the sign-in form, and no data', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const res = await page.goto(consoleURL);
  assert.equal(res.status(), 401);
  await page.waitForSelector('#signin:not([hidden])');
  assert.equal(await page.isVisible('#console'), false);
  const api = await page.evaluate(async () => {
    const r = await fetch('/_recordsync/api/state');
    return { status: r.status, body: await r.text() };
  });
  assert.equal(api.status, 401);
  assert.doesNotMatch(api.body, /tenants/);
  // A wrong token: back to the form, told so.
  await page.fill('input[name=token]', 'not-the-token-0123456789');
  await Promise.all([page.waitForURL(/signin=failed/), page.click('#signin button[type=submit]')]);
  await page.waitForSelector('#signin-failed:not([hidden])');
  assert.equal(await page.isVisible('#console'), false);
  await context.close();
});

test('the console shows sockets, a save through the proxy, and sends a test event to pusher-js; another tenant never appears', async () => {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  watchProblems(page, problems);
  await page.goto(consoleURL);
  await page.fill('input[name=token]', token);
  await Promise.all([page.waitForURL(consoleURL), page.click('#signin button[type=submit]')]);
  await page.waitForSelector('#console:not([hidden])');
  await page.waitForSelector('#live.on');
  assert.equal(await page.textContent('#viewer'), 'tester');
  problems.length = 0; // the 401s before signing in were expected

  // The other tenant first: a socket, a presence member and a save on
  // localhost. None of it may reach the console.
  const other = await pusherSocket('localhost');
  await subscribe(other, 'console-test');
  const carolOther = await login('localhost', 'alice@example.com');
  await save(carolOther, 2, 'Saved on the other tenant');

  // A pusher-js socket of 127.0.0.1 connects and subscribes.
  const sub = await pusherSocket('127.0.0.1');
  const socketID = sub.connection.socket_id;
  const got = collector();
  const ch = await subscribe(sub, 'console-test');
  ch.bind('TestEvent', (d) => got.push(d));
  await page.waitForSelector(`#stream tr[data-kind=connected][data-tenant="127.0.0.1"] >> text=${socketID}`);
  await page.waitForSelector(`#connections tr[data-socket="${socketID}"]`);
  await page.waitForSelector('#channels tr[data-channel="console-test"][data-tenant="127.0.0.1"]');

  // Alice (a presence member of flow 1) and Bob save flow 1 through the
  // proxy; Bob then saves again on the version he had loaded: a conflict
  // answered at the edge.
  const alice = await login('127.0.0.1', 'alice@example.com');
  const echo = alice.echo();
  await new Promise((resolve, reject) => {
    echo.join('record.flow.1').here(resolve).error((e) => reject(new Error(JSON.stringify(e))));
  });
  const bob = await login('127.0.0.1', 'bob@example.com');
  const { loaded } = await save(bob, 1, `Saved by Bob ${Date.now()}`);
  const row = await page.waitForSelector(
    '#stream tr[data-kind=published][data-event="record.updated"][data-source=proxy][data-channel="private-record.flow.1"]');
  assert.match(await row.textContent(), /"updated_by_name":"Bob"/);
  const stale = await bob.put('/api/v1/flows/1', { name: 'Stale', client_version: loaded });
  assert.equal(stale.status, 409, stale.text);
  await page.waitForSelector('#stream tr[data-kind=conflict][data-tenant="127.0.0.1"]');
  // Alice is the presence channel's member (user 1, her user_info's name).
  await page.waitForFunction(() => {
    const td = document.querySelector('#channels tr[data-channel="presence-record.flow.1"] td:last-child');
    return td && td.textContent === '1 Alice';
  });

  // The test event from the form reaches the pusher-js subscriber.
  await page.selectOption('#publish-tenant', '127.0.0.1');
  await page.fill('#publish-channel', 'console-test');
  await page.fill('#publish-event', 'TestEvent');
  await page.fill('#publish-data', '{"hello":"from the console"}');
  await page.click('#publish-send');
  await page.waitForSelector('#publish-result.ok');
  const [ev] = await got.waitFor(1);
  assert.deepEqual(ev, { hello: 'from the console' });
  await page.waitForSelector('#stream tr[data-kind=published][data-event="TestEvent"][data-source=console]');

  // Nothing of the other tenant anywhere on the page.
  assert.equal(await page.locator('[data-tenant="localhost"]').count(), 0);
  assert.doesNotMatch(await page.textContent('body'), /Saved on the other tenant|localhost/);
  const tenants = await page.$$eval('#publish-tenant option', (os) => os.map((o) => o.value));
  assert.deepEqual(tenants, ['127.0.0.1']);

  // A page of another origin cannot act: its POST is refused (no Origin of
  // the console's own, no CSRF token), and the subscriber gets nothing.
  const evil = await context.newPage();
  await evil.goto(`http://localhost:${port}/login`);
  const status = await evil.evaluate(async (port) => {
    const r = await fetch(`http://127.0.0.1:${port}/_recordsync/api/publish`, {
      method: 'POST', credentials: 'include', mode: 'no-cors',
      headers: { 'Content-Type': 'text/plain' },
      body: JSON.stringify({ tenant: '127.0.0.1', channel: 'console-test', event: 'TestEvent', data: '{"evil":true}' }),
    });
    return r.type;
  }, port);
  assert.equal(status, 'opaque');
  await evil.close();
  // The next legitimate event is the next one the subscriber gets.
  await page.fill('#publish-data', '{"hello":"again"}');
  await page.click('#publish-send');
  await page.waitForFunction(() => document.getElementById('publish-result').textContent.startsWith('sent'));
  const all = await got.waitFor(2);
  assert.deepEqual(all[1], { hello: 'again' });

  await sleep(300); // the counters and tables settle for the picture
  await page.screenshot({ path: path.join(outDir, 'console.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await context.close();
});
