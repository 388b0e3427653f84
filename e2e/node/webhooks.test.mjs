// recordsync's webhooks checked by the `pusher` npm SDK's own validator
// (pusher.webhook({headers, rawBody}).isValid(), lib/webhook.js: the
// Content-Type exactly application/json, X-Pusher-Key the app key,
// X-Pusher-Signature the HMAC-SHA256 of the raw body under the secret).
// This script is the webhook endpoint: it listens on RS_HOOK_PORT, where
// the Caddy of TestWebhooksPusherSDK (e2e/webhooks_test.go) sends them,
// while Echo clients join a presence channel, whisper and leave.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import Pusher from 'pusher';
import { env, makeEcho, connected, subscribed, collector, sleep } from './lib.mjs';

const port = Number(env('RS_PORT'));
const hookPort = Number(env('RS_HOOK_PORT'));
const appId = env('RS_APP_ID');
const key = env('RS_APP_KEY');
const secret = env('RS_APP_SECRET');
const sdk = new Pusher({ appId, key, secret });
const wrongSecret = new Pusher({ appId, key, secret: secret + 'x' });

// Every webhook received: its validity by the SDK, the tenant, the events.
const hooks = collector();
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const wh = sdk.webhook({ headers: req.headers, rawBody });
    hooks.push({
      method: req.method,
      path: req.url,
      valid: wh.isValid(),
      validUnderWrongSecret: wrongSecret.webhook({ headers: req.headers, rawBody }).isValid(),
      validTampered: sdk.webhook({ headers: req.headers, rawBody: rawBody.replace('"time_ms":', '"time_ms": ') }).isValid(),
      tenantHeader: req.headers['x-recordsync-tenant'],
      data: wh.isValid() ? wh.getData() : null,
      events: wh.isValid() ? wh.getEvents() : [],
      time: wh.isValid() ? wh.getTime() : null,
    });
    res.writeHead(200);
    res.end();
  });
});
await new Promise((resolve) => server.listen(hookPort, '127.0.0.1', resolve));

const echoes = [];
after(() => {
  for (const e of echoes) e.disconnect();
  server.close();
});

// echo is an Echo client whose presence and private channels are
// authorised by the `pusher` SDK itself (no app in this test).
function echo(user) {
  const e = makeEcho({
    host: '127.0.0.1', port,
    authorizer: (channel) => ({
      authorize: (socketId, callback) => {
        const presence = channel.name.startsWith('presence-') ? { user_id: user.id, user_info: { name: user.name } } : undefined;
        callback(null, sdk.authorizeChannel(socketId, channel.name, presence));
      },
    }),
  });
  echoes.push(e);
  return e;
}

// events waits until the webhooks hold n events and returns them, flat.
async function events(n) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const all = hooks.events.flatMap((h) => h.events);
    if (all.length >= n) return all;
    if (Date.now() > deadline) throw new Error(`got ${all.length} webhook events, want ${n}: ${JSON.stringify(all)}`);
    await sleep(20);
  }
}

test("the pusher SDK's validator accepts recordsync's webhooks: occupied, members, a whisper, vacated", async () => {
  const alice = echo({ id: '1', name: 'Alice' });
  const bob = echo({ id: '2', name: 'Bob' });
  await Promise.all([connected(alice), connected(bob)]);
  const whispers = collector();
  const roomA = alice.join('room.1').listenForWhisper('typing', (e) => whispers.push(e));
  await subscribed(roomA);
  await events(2); // occupied, Alice added
  const roomB = bob.join('room.1');
  await subscribed(roomB);
  await events(3);
  roomB.whisper('typing', { n: 1, text: 'héllo "quoted"' });
  assert.deepEqual((await whispers.waitFor(1))[0], { n: 1, text: 'héllo "quoted"' });
  await events(4);
  const bobSocket = bob.socketId();
  alice.disconnect();
  await events(5);
  bob.disconnect();
  const all = await events(7);
  await sleep(300); // anything more would have come by now
  assert.equal(hooks.events.flatMap((h) => h.events).length, 7, 'no more webhooks');

  assert.deepEqual(all, [
    { name: 'channel_occupied', channel: 'presence-room.1' },
    { name: 'member_added', channel: 'presence-room.1', user_id: '1' },
    { name: 'member_added', channel: 'presence-room.1', user_id: '2' },
    { name: 'client_event', channel: 'presence-room.1', event: 'client-typing', data: JSON.stringify({ n: 1, text: 'héllo "quoted"' }), socket_id: bobSocket, user_id: '2' },
    { name: 'member_removed', channel: 'presence-room.1', user_id: '1' },
    { name: 'member_removed', channel: 'presence-room.1', user_id: '2' },
    { name: 'channel_vacated', channel: 'presence-room.1' },
  ]);
  for (const h of hooks.events) {
    assert.equal(h.method, 'POST');
    assert.equal(h.path, '/pusher/webhook');
    assert.equal(h.valid, true, 'the SDK validates the webhook');
    assert.equal(h.validUnderWrongSecret, false, 'another secret does not');
    assert.equal(h.validTampered, false, 'a changed body does not');
    assert.equal(h.tenantHeader, '127.0.0.1');
    assert.equal(h.data.tenant, '127.0.0.1', 'the tenant is in the signed body');
    assert.ok(Math.abs(h.time.getTime() - Date.now()) < 60000, `time_ms ${h.time.toISOString()} is now`);
  }
});
