// recordsync's websocket hub end to end against the REAL example Laravel app:
// laravel-echo + pusher-js from npm connect to recordsync's /ws, authorise
// their private channels through Laravel's own /broadcasting/auth
// (routes/channels.php, signed by the app's BROADCAST_DRIVER=signonly
// broadcaster), and receive the record.updated that recordsync publishes for
// a PUT it proxied. Started by TestRecordsyncLaravelEcho in
// e2e/laravel_recordsync_test.go.
//
// Sessions (session.mjs): each user logs in with fetch as a browser page would.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Session } from './session.mjs';
import { env, connected, subscribed, collector, sleep } from './lib.mjs';

// tabTag is what recordsync's events carry as tab_id for a tab's X-Tab-ID:
// the first 32 hex digits of its SHA-256 (never the id itself).
const tabTag = (id) => createHash('sha256').update(id).digest('hex').slice(0, 32);

const host = env('RS_HOST', '127.0.0.1');
const port = Number(env('RS_PORT'));

const echoes = [];
after(() => { for (const e of echoes) e.disconnect(); });

const newSession = () => new Session({ host, port, echoes });
const login = (email) => newSession().login(email);

test("Alice's save through the proxy reaches Bob as record.updated, not Alice's own socket", async () => {
  const [alice, bob] = await Promise.all([login('alice@example.com'), login('bob@example.com')]);
  const echoA = alice.echo();
  const echoB = bob.echo();
  const [socketA] = await Promise.all([connected(echoA), connected(echoB)]);
  const gotA = collector();
  const gotB = collector();
  const chA = echoA.private('record.flow.1').listen('.record.updated', (e) => gotA.push(e));
  const chB = echoB.private('record.flow.1').listen('.record.updated', (e) => gotB.push(e));
  await Promise.all([subscribed(chA), subscribed(chB)]);

  const loaded = await alice.fetch('/api/v1/flows/1');
  assert.equal(loaded.status, 200);
  const res = await alice.put('/api/v1/flows/1',
    { name: 'Saved by Alice', client_version: loaded.json.data.updated_at },
    { 'X-Socket-ID': socketA, 'X-Tab-ID': 'tab_alice1' });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.data.updated_by_name, 'Alice');

  const [ev] = await gotB.waitFor(1);
  assert.deepEqual(ev, {
    tenant_id: host,
    record_type: 'flow',
    record_id: 1,
    updated_at_iso: res.json.data.updated_at,
    updated_by_id: 1,
    updated_by_name: 'Alice',
    tab_id: tabTag('tab_alice1'),
    // Alice's GET taught recordsync the fields of the version she loaded:
    // her save changed the name only.
    changed_fields: ['name'],
  });
  await sleep(400);
  assert.equal(gotA.events.length, 0, "Alice's own socket (X-Socket-ID) must get no copy");
  assert.equal(gotB.events.length, 1);
});

test("Carol's subscription to flow 2 is refused by the app's channels.php (403); flow 1 is fine", async () => {
  const carol = await login('carol@example.com');
  const echo = carol.echo();
  await connected(echo);
  await assert.rejects(subscribed(echo.private('record.flow.2')), (err) => {
    assert.equal(err.detail.type, 'AuthError');
    assert.equal(err.detail.status, 403);
    return true;
  });
  await subscribed(echo.private('record.flow.1'));
  assert.equal(echo.connector.pusher.connection.state, 'connected');
});

test('an anonymous visitor cannot subscribe to a record channel', async () => {
  const anon = newSession();
  await anon.fetch('/login', { headers: { Accept: 'text/html' } }); // a session cookie, no user
  const echo = anon.echo();
  await connected(echo);
  await assert.rejects(subscribed(echo.private('record.flow.1')), (err) => {
    assert.equal(err.detail.status, 403);
    return true;
  });
});

test('the app signs presence channels the pusher way (channel_data is a JSON string)', async () => {
  // Only the app's answer is checked here: it is already the one pusher-js
  // needs (presence through the hub: presence.test.mjs).
  // recordsync lets a grant through only for an open socket of the tenant.
  const bob = await login('bob@example.com');
  const echo = bob.echo();
  await connected(echo);
  const res = await bob.fetch('/broadcasting/auth', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRF-TOKEN': bob.csrf },
    body: `socket_id=${echo.socketId()}&channel_name=presence-record.flow.1`,
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(typeof res.json.channel_data, 'string');
  assert.deepEqual(JSON.parse(res.json.channel_data), { user_id: '2', user_info: { id: 2, name: 'Bob' } });
  assert.match(res.json.auth, new RegExp(`^${env('RS_APP_KEY')}:[0-9a-f]{64}$`));
});
