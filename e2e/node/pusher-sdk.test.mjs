// recordsync's Pusher HTTP API end to end: the real `pusher` npm SDK (the
// same wire as pusher-php-server, what Laravel's pusher driver calls)
// publishes through recordsync's HTTP API; Echo clients receive. Started by
// e2e/ingress_test.go.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Pusher from 'pusher';
import { env, makeEcho, connected, subscribed, collector, sleep } from './lib.mjs';

const port = Number(env('RS_PORT'));
const appId = env('RS_APP_ID');
const key = env('RS_APP_KEY');
const secret = env('RS_APP_SECRET');
const sdk = new Pusher({ appId, key, secret, host: '127.0.0.1', port: String(port), useTLS: false });
const echoes = [];
after(() => { for (const e of echoes) e.disconnect(); });

function echo() {
  const e = makeEcho({ host: '127.0.0.1', port });
  echoes.push(e);
  return e;
}

test('trigger reaches Echo subscribers; socket_id excludes that socket', async () => {
  const a = echo();
  const b = echo();
  const [socketA] = await Promise.all([connected(a), connected(b)]);
  const gotA = collector();
  const gotB = collector();
  const chA = a.private('record.flow.9').listen('.record.note', (e) => gotA.push(e));
  const chB = b.private('record.flow.9').listen('.record.note', (e) => gotB.push(e));
  await Promise.all([subscribed(chA), subscribed(chB)]);

  const res = await sdk.trigger('private-record.flow.9', 'record.note', { text: 'hello' });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
  assert.deepEqual((await gotA.waitFor(1))[0], { text: 'hello' });
  assert.deepEqual((await gotB.waitFor(1))[0], { text: 'hello' });

  await sdk.trigger('private-record.flow.9', 'record.note', { text: 'not for A' }, { socket_id: socketA });
  await gotB.waitFor(2);
  await sleep(300);
  assert.equal(gotA.events.length, 1, 'the socket named in socket_id must get no copy');
});

test('triggerBatch and channel info', async () => {
  const e = echo();
  await connected(e);
  const got = collector();
  const ch = e.channel('news').listen('.headline', (ev) => got.push(ev));
  await subscribed(ch);
  const res = await sdk.triggerBatch([
    { channel: 'news', name: 'headline', data: { n: 1 } },
    { channel: 'news', name: 'headline', data: { n: 2 } },
  ]);
  assert.equal(res.status, 200);
  const events = await got.waitFor(2);
  assert.deepEqual(events.map((x) => x.n), [1, 2]);

  const list = await (await sdk.get({ path: '/channels' })).json();
  assert.ok(list.channels.news, JSON.stringify(list));
  const filtered = await (await sdk.get({ path: '/channels', params: { filter_by_prefix: 'private-' } })).json();
  assert.ok(!filtered.channels.news, JSON.stringify(filtered));
  const info = await (await sdk.get({ path: '/channels/news', params: { info: 'subscription_count' } })).json();
  assert.deepEqual(info, { occupied: true, subscription_count: 1 });
  const empty = await (await sdk.get({ path: '/channels/nobody-here' })).json();
  assert.deepEqual(empty, { occupied: false });
});

test('a wrong secret is refused with 401', async () => {
  const bad = new Pusher({ appId, key, secret: 'wrong', host: '127.0.0.1', port: String(port), useTLS: false });
  await assert.rejects(bad.trigger('news', 'headline', { n: 3 }), (err) => {
    assert.equal(err.status, 401, String(err));
    assert.match(err.body, /auth_signature/);
    return true;
  });
});

test('oversize data is refused with 413', async () => {
  await assert.rejects(sdk.trigger('news', 'big', { x: 'y'.repeat(11000) }), (err) => {
    // The SDK itself may refuse over 10 KB before sending.
    assert.ok(err.status === 413 || /10KB|too large|size/i.test(String(err)), String(err));
    return true;
  });
});
