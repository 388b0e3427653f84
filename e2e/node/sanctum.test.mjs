// Sanctum tokens through recordsync against the REAL example Laravel app,
// which emulates Laravel 11's
//   ->withBroadcasting(__DIR__.'/../routes/channels.php',
//        ['prefix' => 'api', 'middleware' => ['api', 'auth:sanctum']])
// at /api/broadcasting/auth (no session, no CSRF token) with the redis
// broadcaster, whose grants are unsigned: recordsync (auth_endpoint, by
// default /broadcasting/auth and /api/broadcasting/auth) signs them, so
// laravel-echo + pusher-js subscribe with nothing but
// `auth: { headers: { Authorization: 'Bearer …' } }`. routes/channels.php
// decides as for sessions: Carol may not see flow 2. Started by
// TestLaravel11SanctumEcho in e2e/laravel11_test.go.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Pusher from 'pusher-js';
import Echo from 'laravel-echo';
import { env, connected, subscribed } from './lib.mjs';

const host = env('RS_HOST', '127.0.0.1');
const port = Number(env('RS_PORT'));
const base = `http://${host}:${port}`;

const echoes = [];
after(() => { for (const e of echoes) e.disconnect(); });

// token logs in as an API client does: POST /api/tokens, no cookies kept.
async function token(email, password = 'secret') {
  const res = await fetch(`${base}/api/tokens`, {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password, device_name: 'node' }),
  });
  const json = await res.json();
  assert.equal(res.status, 201, JSON.stringify(json));
  assert.match(json.data.token, /^\d+\|[A-Za-z0-9]{48}$/);
  assert.equal(res.headers.getSetCookie().length, 0, 'the api group sets no cookie');
  return json.data.token;
}

// tokenEcho is Echo as an app using Sanctum tokens configures it.
function tokenEcho(bearer) {
  const echo = new Echo({
    broadcaster: 'reverb',
    key: env('RS_APP_KEY'),
    wsHost: host,
    wsPort: port,
    wssPort: port,
    wsPath: '/ws',
    forceTLS: false,
    enabledTransports: ['ws'],
    authEndpoint: `${base}/api/broadcasting/auth`,
    auth: { headers: { Authorization: `Bearer ${bearer}`, Accept: 'application/json' } },
    Pusher,
  });
  echoes.push(echo);
  return echo;
}

// joined resolves with the members Echo's here() reports.
function joined(channel, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('here() not called')), timeoutMs);
    channel.here((users) => { clearTimeout(t); resolve(users); });
    channel.error((err) => { clearTimeout(t); reject(Object.assign(new Error('presence error'), { detail: err })); });
  });
}

const refusedWith = (status) => (err) => {
  assert.equal(err.detail.type, 'AuthError');
  assert.equal(err.detail.status, status);
  return true;
};

test("Bob's token opens a private and a presence channel through /api/broadcasting/auth", async () => {
  const bob = await token('bob@example.com');
  const echo = tokenEcho(bob);
  const socket = await connected(echo);

  // The app's own answer is the redis broadcaster's unsigned grant, signed
  // on its way by recordsync.
  const res = await fetch(`${base}/api/broadcasting/auth`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${bob}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: `socket_id=${socket}&channel_name=private-record.flow.2`,
  });
  assert.equal(res.status, 200);
  assert.match((await res.json()).auth, new RegExp(`^${env('RS_APP_KEY')}:[0-9a-f]{64}$`));

  await subscribed(echo.private('record.flow.2'));
  const members = await joined(echo.join('record.flow.1'));
  assert.deepEqual(members, [{ id: 2, name: 'Bob' }]);
});

test("Carol's token: flow 1 yes, flow 2 refused by routes/channels.php (403)", async () => {
  const carol = await token('carol@example.com');
  const echo = tokenEcho(carol);
  await connected(echo);
  await subscribed(echo.private('record.flow.1'));
  await assert.rejects(subscribed(echo.private('record.flow.2')), refusedWith(403));
  await assert.rejects(joined(echo.join('record.flow.2')), refusedWith(403));
  assert.equal(echo.connector.pusher.connection.state, 'connected');
});

test('a wrong token, a malformed one and none are refused by auth:sanctum (401)', async () => {
  const bob = await token('bob@example.com');
  const [id, plain] = bob.split('|');
  for (const bad of [`${id}|${plain.slice(0, -1)}x`, `${Number(id) + 1000}|${plain}`, plain.slice(1), 'null']) {
    const echo = tokenEcho(bad);
    await connected(echo);
    await assert.rejects(subscribed(echo.private('record.flow.1')), refusedWith(401), `token ${bad}`);
  }
  const res = await fetch(`${base}/api/tokens`, {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'bob@example.com', password: 'wrong' }),
  });
  assert.equal(res.status, 422);
});
