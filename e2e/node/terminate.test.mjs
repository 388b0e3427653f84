// terminate_connections across a cluster: two recordsync instances (two
// Caddies on one Redis), pusher-js clients signed in on both (the user
// authentication answered by the `pusher` SDK's authenticateUser, as an app
// with the pusher broadcaster answers /broadcasting/user-auth), and the
// SDK's terminateUserConnections sent to instance A: the user's sockets on A
// and on B close with 4009, the other user's stay connected. Started by
// TestTerminateUserConnectionsCluster in e2e/signin_test.go.
//
// The node process lingers 30 s after the test: pusher-js's node build,
// told 4009, closes its websocket (faye-websocket) once more, which arms a
// 30 s close timer although the socket is closed already. Browsers have no
// such timer.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Pusher from 'pusher-js';
import PusherSDK from 'pusher';
import { env, collector, sleep } from './lib.mjs';

const host = '127.0.0.1';
const portA = Number(env('RS_PORT_A'));
const portB = Number(env('RS_PORT_B'));
const key = env('RS_APP_KEY');
const sdkFor = (port) => new PusherSDK({ appId: env('RS_APP_ID'), key, secret: env('RS_APP_SECRET'), host, port: String(port), useTLS: false });
const sdkA = sdkFor(portA);

const clients = [];
after(() => { for (const p of clients) p.disconnect(); });

// signedIn connects pusher-js to the instance at port, signs in as user id
// and resolves once its user channel is subscribed. closes collects the
// close codes pusher-js reports.
async function signedIn(port, id) {
  const p = new Pusher(key, {
    cluster: '',
    wsHost: host,
    wsPort: port,
    wsPath: '/ws',
    forceTLS: false,
    enabledTransports: ['ws'],
    userAuthentication: {
      customHandler: ({ socketId }, callback) => callback(null, sdkA.authenticateUser(socketId, { id, name: `user ${id}` })),
    },
  });
  clients.push(p);
  const closes = collector();
  p.connection.bind('error', (err) => { if (err?.error?.data?.code) closes.push(err.error.data.code); });
  p.signin();
  const deadline = Date.now() + 5000;
  while (!p.user.serverToUserChannel?.subscribed) {
    if (Date.now() > deadline) throw new Error(`user ${id} on ${port}: not signed in`);
    await sleep(20);
  }
  return { p, closes };
}

test('terminateUserConnections closes the user\'s sockets on both instances with 4009, and no one else\'s', async () => {
  const [onA, onB, otherOnA, otherOnB] = await Promise.all([
    signedIn(portA, '7'), signedIn(portB, '7'), signedIn(portA, '8'), signedIn(portB, '8'),
  ]);
  // A user event published on A reaches the user on B too (the cluster
  // shares publishes).
  const got = collector();
  onB.p.user.bind('hello', (d) => got.push(d));
  await sdkA.sendToUser('7', 'hello', { from: 'A' });
  assert.deepEqual((await got.waitFor(1))[0], { from: 'A' });

  const res = await sdkA.terminateUserConnections('7');
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
  for (const [name, c] of [['on A', onA], ['on B', onB]]) {
    const [code] = await c.closes.waitFor(1);
    assert.equal(code, 4009, `user 7 ${name}: close code`);
    // 4000-4099: pusher-js does not reconnect by itself.
    const deadline = Date.now() + 5000;
    while (c.p.connection.state === 'connected') {
      if (Date.now() > deadline) throw new Error(`user 7 ${name} still connected`);
      await sleep(20);
    }
  }
  await sleep(300);
  for (const [name, c] of [['on A', otherOnA], ['on B', otherOnB]]) {
    assert.equal(c.p.connection.state, 'connected', `user 8 ${name}`);
    assert.equal(c.closes.events.length, 0, `user 8 ${name} saw ${c.closes.events}`);
  }
});
