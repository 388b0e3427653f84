// User sign-in end to end: pusher-js's signin() against the REAL example
// Laravel app behind recordsync. The app's /broadcasting/user-auth
// (Broadcast::userRoutes(), BROADCAST_DRIVER=redis) answers the logged-in
// user's info unsigned; recordsync signs it for the socket; pusher-js sends
// pusher:signin, gets pusher:signin_success, subscribes to
// #server-to-user-{id}, and pusher.user.bind() receives what the `pusher`
// SDK's sendToUser publishes through recordsync's HTTP API. Another user's
// socket cannot subscribe to that channel. Started by TestUserSigninPusherJS
// in e2e/signin_test.go.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Pusher from 'pusher-js';
import PusherSDK from 'pusher';
import { Session } from './session.mjs';
import { env, collector, sleep } from './lib.mjs';

const host = env('RS_HOST', '127.0.0.1');
const port = Number(env('RS_PORT'));
const key = env('RS_APP_KEY');
const sdk = new PusherSDK({ appId: env('RS_APP_ID'), key, secret: env('RS_APP_SECRET'), host, port: String(port), useTLS: false });

const clients = [];
after(() => { for (const p of clients) p.disconnect(); });

// signedIn logs email in through the app, connects pusher-js with the
// session's cookie on its user authentication requests, calls signin() and
// resolves once the user's channel is subscribed.
async function signedIn(email) {
  const session = await new Session({ host, port }).login(email);
  const p = new Pusher(key, {
    cluster: '',
    wsHost: host,
    wsPort: port,
    wssPort: port,
    wsPath: '/ws',
    forceTLS: false,
    enabledTransports: ['ws'],
    userAuthentication: {
      endpoint: `http://${host}:${port}/broadcasting/user-auth`,
      headers: { Cookie: session.cookieHeader(), 'X-CSRF-TOKEN': session.csrf },
    },
  });
  clients.push(p);
  const frames = [];
  p.connection.bind('message', (m) => frames.push(m));
  const success = new Promise((resolve) => p.bind('pusher:signin_success', resolve));
  p.signin();
  const data = await Promise.race([success, sleep(5000).then(() => { throw new Error(`${email}: no pusher:signin_success`); })]);
  const deadline = Date.now() + 5000;
  while (!p.user.serverToUserChannel?.subscribed) {
    if (Date.now() > deadline) throw new Error(`${email}: the user channel was not subscribed`);
    await sleep(20);
  }
  return { p, session, frames, signinData: data };
}

test('signin() through the app: sendToUser reaches every socket of the user; another user cannot subscribe to their channel', async () => {
  const [bob1, bob2, carol] = await Promise.all([signedIn('bob@example.com'), signedIn('bob@example.com'), signedIn('carol@example.com')]);

  // What pusher-js received: user_data as the app gave it (recordsync
  // signed the redis broadcaster's unsigned answer), parsed by UserFacade.
  assert.equal(typeof bob1.signinData.user_data, 'string');
  assert.deepEqual(JSON.parse(bob1.signinData.user_data), bob1.p.user.user_data);
  const bobId = bob1.p.user.user_data.id;
  assert.equal(bobId, bob2.p.user.user_data.id);
  assert.equal(bob1.p.user.user_data.name, 'Bob');
  assert.notEqual(carol.p.user.user_data.id, bobId);
  assert.equal(bob1.p.user.serverToUserChannel.name, `#server-to-user-${bobId}`);

  const got1 = collector();
  const got2 = collector();
  const gotCarol = collector();
  bob1.p.user.bind('invoice.paid', (d) => got1.push(d));
  bob2.p.user.bind('invoice.paid', (d) => got2.push(d));
  carol.p.user.bind('invoice.paid', (d) => gotCarol.push(d));

  const res = await sdk.sendToUser(bobId, 'invoice.paid', { invoice: 41 });
  assert.equal(res.status, 200);
  assert.deepEqual((await got1.waitFor(1))[0], { invoice: 41 });
  assert.deepEqual((await got2.waitFor(1))[0], { invoice: 41 });

  // Carol's socket asks for Bob's channel (pusher-js refuses to subscribe
  // to a '#' channel itself: this is what a modified client would send).
  carol.p.send_event('pusher:subscribe', { channel: `#server-to-user-${bobId}`, auth: '' });
  const deadline = Date.now() + 5000;
  let refusal;
  while (!(refusal = carol.frames.find((m) => m.event === 'pusher:subscription_error' && m.channel === `#server-to-user-${bobId}`))) {
    if (Date.now() > deadline) throw new Error('no subscription_error for another user\'s channel');
    await sleep(20);
  }
  assert.equal(refusal.data.type, 'AuthError');
  assert.equal(refusal.data.status, 401);

  await sdk.sendToUser(bobId, 'invoice.paid', { invoice: 42 });
  await got1.waitFor(2);
  await got2.waitFor(2);
  await sleep(300);
  assert.equal(gotCarol.events.length, 0, 'Carol got Bob\'s events');
  assert.equal(carol.frames.filter((m) => m.channel === `#server-to-user-${bobId}` && m.event === 'invoice.paid').length, 0);

  // Carol's own channel works.
  await sdk.sendToUser(carol.p.user.user_data.id, 'invoice.paid', { invoice: 43 });
  assert.deepEqual((await gotCarol.waitFor(1))[0], { invoice: 43 });
  assert.equal(got1.events.length, 2);
});
