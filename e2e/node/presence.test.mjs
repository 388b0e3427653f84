// Presence and signed grants end to end against the REAL example Laravel app
// with Laravel's redis broadcaster, whose /broadcasting/auth answers `true`
// (private) and {"channel_data":{...}} (presence) unsigned: recordsync signs
// those grants for the request's socket, so laravel-echo + pusher-js
// subscribe through recordsync's /ws. Presence (here/joining/leaving with one
// user in two tabs) and whispers (client_events members). Started by
// TestPresenceLaravel in e2e/presence_test.go.
//
// Sessions as in laravel.test.mjs: fetch logs in; pusher-js's Node XHR is
// allowed to send the Cookie header, which goes in Echo's auth.headers with
// X-CSRF-TOKEN, as a browser page's cookie would.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Session } from './session.mjs';
import { env, connected, subscribed, collector, sleep } from './lib.mjs';

const host = env('RS_HOST', '127.0.0.1');
const port = Number(env('RS_PORT'));

const echoes = [];
after(() => { for (const e of echoes) e.disconnect(); });

const newSession = () => new Session({ host, port, echoes });
const login = (email) => newSession().login(email);

// joined resolves with the members Echo's here() reports.
function joined(channel, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('here() not called')), timeoutMs);
    channel.here((users) => { clearTimeout(t); resolve(users); });
    channel.error((err) => { clearTimeout(t); reject(Object.assign(new Error('presence error'), { detail: err })); });
  });
}

test('the redis broadcaster\'s `true` is signed by recordsync: Echo.private subscribes; Carol is refused flow 2', async () => {
  const [alice, carol] = await Promise.all([login('alice@example.com'), login('carol@example.com')]);
  const echoA = alice.echo();
  const socketA = await connected(echoA);
  // What the app itself answers, and what the client gets through recordsync.
  const res = await alice.auth(socketA, 'private-record.flow.1');
  assert.equal(res.status, 200, res.text);
  assert.match(res.json.auth, /^e2e-key:[0-9a-f]{64}$/);
  assert.equal(res.json.channel_data, undefined);
  await subscribed(echoA.private('record.flow.1'));

  // A socket id that is not an open socket of the tenant: recordsync
  // answers 403 in place of the app's grant, never a signature.
  const forged = await alice.auth('1.2', 'private-record.flow.1');
  assert.equal(forged.status, 403, forged.text);
  assert.equal(forged.json.auth, undefined, 'an unknown socket must not get a signature');

  const echoC = carol.echo();
  await connected(echoC);
  await subscribed(echoC.private('record.flow.1'));
  await assert.rejects(subscribed(echoC.private('record.flow.2')), (err) => {
    assert.equal(err.detail.status, 403);
    return true;
  });
  await assert.rejects(joined(echoC.join('record.flow.2')), (err) => err.detail.status === 403);
});

test('presence: two users in three tabs → here / joining / leaving as Echo documents', async () => {
  const [alice, bob] = await Promise.all([login('alice@example.com'), login('bob@example.com')]);
  const tabs = { a1: alice.echo(), a2: alice.echo(), b: bob.echo() };
  await Promise.all(Object.values(tabs).map((e) => connected(e)));
  const ev = {};
  const join = (name) => {
    ev[name] = { joining: collector(), leaving: collector() };
    const ch = tabs[name].join('record.flow.1')
      .joining((u) => ev[name].joining.push(u))
      .leaving((u) => ev[name].leaving.push(u));
    return joined(ch);
  };

  const hereA1 = await join('a1');
  assert.deepEqual(hereA1, [{ id: 1, name: 'Alice' }]);
  const hereA2 = await join('a2');
  assert.deepEqual(hereA2, [{ id: 1, name: 'Alice' }], "Alice's second tab is the same member");
  const hereB = await join('b');
  assert.equal(hereB.length, 2);
  assert.deepEqual(hereB.map((u) => u.name).sort(), ['Alice', 'Bob']);

  // joining fires once for Bob in each of Alice's tabs, and never for Alice's second tab.
  await ev.a1.joining.waitFor(1);
  await ev.a2.joining.waitFor(1);
  await sleep(300);
  assert.deepEqual(ev.a1.joining.events, [{ id: 2, name: 'Bob' }]);
  assert.deepEqual(ev.a2.joining.events, [{ id: 2, name: 'Bob' }]);
  assert.equal(ev.b.joining.events.length, 0);

  // Closing one of Alice's tabs: no leaving. The second: leaving once.
  tabs.a1.disconnect();
  await sleep(500);
  assert.equal(ev.b.leaving.events.length, 0, 'Alice still has a tab open');
  tabs.a2.disconnect();
  const [left] = await ev.b.leaving.waitFor(1);
  assert.deepEqual(left, { id: 1, name: 'Alice' });
  await sleep(300);
  assert.equal(ev.b.leaving.events.length, 1);
});

test('whisper between Alice and Bob on a private channel (client_events members)', async () => {
  const [alice, bob] = await Promise.all([login('alice@example.com'), login('bob@example.com')]);
  const echoA = alice.echo();
  const echoB = bob.echo();
  await Promise.all([connected(echoA), connected(echoB)]);
  const gotA = collector();
  const gotB = collector();
  const chA = echoA.private('record.flow.3').listenForWhisper('typing', (e) => gotA.push(e));
  const chB = echoB.private('record.flow.3').listenForWhisper('typing', (e) => gotB.push(e));
  await Promise.all([subscribed(chA), subscribed(chB)]);
  chA.whisper('typing', { name: 'Alice', field: 'description' });
  const [w] = await gotB.waitFor(1);
  assert.deepEqual(w, { name: 'Alice', field: 'description' });
  await sleep(300);
  assert.equal(gotA.events.length, 0, 'a whisper is never echoed to its sender');

  // On a presence channel the whisper reaches the other member too.
  const pA = echoA.join('record.flow.3');
  const pB = echoB.join('record.flow.3').listenForWhisper('cursor', (e) => gotB.push(e));
  await Promise.all([joined(pA), joined(pB)]);
  pA.whisper('cursor', { x: 3 });
  const events = await gotB.waitFor(2);
  assert.deepEqual(events[1], { x: 3 });
});
