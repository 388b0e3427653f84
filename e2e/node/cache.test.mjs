// Cache channels end to end: the `pusher` SDK publishes through recordsync's
// HTTP API, and a pusher-js client that subscribes later gets the last
// event right after pusher:subscription_succeeded; a channel never
// published gets pusher:cache_miss, as Pusher's servers send it (pusher-js
// hands both to the channel's bind). Private and presence cache channels
// are authorised with the SDK's authorizeChannel; client events on a cache
// channel are relayed and never replayed. Started by
// TestCacheChannelsPusherJS in e2e/pusherfeatures_test.go.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Pusher from 'pusher-js';
import PusherSDK from 'pusher';
import { env, collector, sleep } from './lib.mjs';

const host = '127.0.0.1';
const port = Number(env('RS_PORT'));
const key = env('RS_APP_KEY');
const sdk = new PusherSDK({ appId: env('RS_APP_ID'), key, secret: env('RS_APP_SECRET'), host, port: String(port), useTLS: false });

const clients = [];
after(() => { for (const p of clients) p.disconnect(); });

// client connects pusher-js to recordsync; private and presence channels
// are authorised by the SDK, as an app's /broadcasting/auth would.
function client(userId = '1') {
  const p = new Pusher(key, {
    cluster: '',
    wsHost: host,
    wsPort: port,
    wsPath: '/ws',
    forceTLS: false,
    enabledTransports: ['ws'],
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => callback(null, channelName.startsWith('presence-')
        ? sdk.authorizeChannel(socketId, channelName, { user_id: userId, user_info: { name: `user ${userId}` } })
        : sdk.authorizeChannel(socketId, channelName)),
    },
  });
  clients.push(p);
  return p;
}

// watch subscribes p to name and records, in order, every event the
// channel emits (bind_global), the internal ones included.
function watch(p, name) {
  const ch = p.subscribe(name);
  const got = collector();
  ch.bind_global((event, data) => got.push({ event, data }));
  return got;
}

test('a late subscriber gets the last event after subscription_succeeded; a channel never published gets cache_miss', async () => {
  await sdk.trigger('cache-scores', 'score', { home: 1, away: 0 });
  await sdk.trigger('cache-scores', 'score', { home: 2, away: 0 });
  await sdk.trigger('scores', 'score', { home: 9 }); // not a cache channel: not kept

  const late = client();
  const scores = watch(late, 'cache-scores');
  const never = watch(late, 'cache-never-published');
  const plain = watch(late, 'scores');
  const [ok, replay] = await scores.waitFor(2);
  assert.equal(ok.event, 'pusher:subscription_succeeded');
  assert.deepEqual(replay, { event: 'score', data: { home: 2, away: 0 } });
  const [ok2, miss] = await never.waitFor(2);
  assert.equal(ok2.event, 'pusher:subscription_succeeded');
  assert.equal(miss.event, 'pusher:cache_miss');
  await plain.waitFor(1);

  // Later events arrive as on any channel, and become the one replayed.
  await sdk.trigger('cache-scores', 'score', { home: 3, away: 0 });
  assert.deepEqual((await scores.waitFor(3))[2], { event: 'score', data: { home: 3, away: 0 } });
  const later = client();
  const again = watch(later, 'cache-scores');
  assert.deepEqual((await again.waitFor(2))[1], { event: 'score', data: { home: 3, away: 0 } });
  await sleep(200);
  assert.equal(scores.events.length, 3, 'the replay went to the new subscriber only');
  assert.equal(plain.events.length, 1, 'a plain channel replays nothing');
  assert.equal(again.events.length, 2);
});

test('private-cache- and presence-cache- channels replay too; client events are relayed, never replayed', async () => {
  await sdk.trigger('private-cache-board', 'board', { v: 'p' });
  await sdk.trigger('presence-cache-room', 'topic', { v: 'r' });
  const p = client('5');
  const board = watch(p, 'private-cache-board');
  const room = watch(p, 'presence-cache-room');
  assert.deepEqual((await board.waitFor(2))[1], { event: 'board', data: { v: 'p' } });
  const [joined, topic] = await room.waitFor(2);
  assert.equal(joined.event, 'pusher:subscription_succeeded');
  assert.equal(joined.data.count, 1);
  assert.deepEqual(topic, { event: 'topic', data: { v: 'r' } });

  // Two sockets whisper on a private cache channel no server event reached.
  const a = client('6');
  const b = client('7');
  const docA = watch(a, 'private-cache-doc');
  const docB = watch(b, 'private-cache-doc');
  assert.equal((await docA.waitFor(2))[1].event, 'pusher:cache_miss');
  assert.equal((await docB.waitFor(2))[1].event, 'pusher:cache_miss');
  assert.ok(a.channel('private-cache-doc').trigger('client-typing', { who: 'a' }));
  assert.deepEqual((await docB.waitFor(3))[2], { event: 'client-typing', data: { who: 'a' } });
  const c = client('8');
  const docC = watch(c, 'private-cache-doc');
  assert.equal((await docC.waitFor(2))[1].event, 'pusher:cache_miss', 'a client event was replayed');
});
