// recordsync's websocket hub end to end: laravel-echo + pusher-js from npm
// against the real Caddy with recordsync, in front of an upstream that
// behaves like the Laravel app (record routes, and /broadcasting/auth signing
// as Laravel's pusher/reverb broadcaster does). Started by
// e2e/realtime_test.go.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { env, makeEcho, connected, subscribed, collector, sleep } from './lib.mjs';

// tabTag is what recordsync's events carry as tab_id for a tab's X-Tab-ID:
// the first 32 hex digits of its SHA-256 (never the id itself).
const tabTag = (id) => createHash('sha256').update(id).digest('hex').slice(0, 32);

const port = Number(env('RS_PORT'));
const echoes = [];
after(() => { for (const e of echoes) e.disconnect(); });

function echoOn(host, extra = {}) {
  const e = makeEcho({ host, port, ...extra });
  echoes.push(e);
  return e;
}

async function put(host, path, body, headers = {}) {
  const res = await fetch(`http://${host}:${port}${path}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

test('a PUT through the proxy reaches the other tabs as record.updated, not the sender (toOthers)', async () => {
  const a = echoOn('127.0.0.1');
  const b = echoOn('127.0.0.1');
  const [socketA] = await Promise.all([connected(a), connected(b)]);
  assert.match(socketA, /^\d+\.\d+$/);
  const gotA = collector();
  const gotB = collector();
  const chA = a.private('record.flow.1').listen('.record.updated', (e) => gotA.push(e));
  const chB = b.private('record.flow.1').listen('.record.updated', (e) => gotB.push(e));
  await Promise.all([subscribed(chA), subscribed(chB)]);

  const res = await put('127.0.0.1', '/api/v1/flows/1', { name: 'from A' }, { 'X-Socket-ID': socketA, 'X-Tab-ID': 'tab_a1' });
  assert.equal(res.status, 200);
  const version = res.json.data.updated_at;

  const [ev] = await gotB.waitFor(1);
  assert.deepEqual(ev, {
    tenant_id: '127.0.0.1',
    record_type: 'flow',
    record_id: 1,
    updated_at_iso: version,
    updated_by_id: 7,
    updated_by_name: 'Alice',
    tab_id: tabTag('tab_a1'),
  });
  await sleep(500);
  assert.equal(gotA.events.length, 0, 'the socket named in X-Socket-ID must get no copy');
});

test('a list rule also publishes task.updated on the project channel', async () => {
  const b = echoOn('127.0.0.1');
  await connected(b);
  const got = collector();
  const ch = b.private('project.5').listen('.task.updated', (e) => got.push(e));
  await subscribed(ch);
  const res = await put('127.0.0.1', '/api/v1/projects/5/tasks/42', { title: 't' }, { 'X-Tab-ID': 'tab_t' });
  assert.equal(res.status, 200);
  const [ev] = await got.waitFor(1);
  assert.equal(ev.task_id, 42);
  assert.equal(ev.record_type, 'projecttask');
  assert.equal(ev.record_id, 42);
  assert.equal(ev.tab_id, tabTag('tab_t'));
  assert.equal(ev.updated_at_iso, res.json.data.updated_at);
});

test('an import is learned but not broadcast', async () => {
  const b = echoOn('127.0.0.1');
  await connected(b);
  const got = collector();
  const ch = b.private('record.flow.3').listen('.record.updated', (e) => got.push(e));
  await subscribed(ch);
  const res = await put('127.0.0.1', '/api/v1/flows/3', { name: 'import' }, { 'X-Import': '1' });
  assert.equal(res.status, 200);
  await sleep(500);
  assert.equal(got.events.length, 0);
});

test('a forged signature is refused with AuthError 401 and the socket stays up', async () => {
  const key = env('RS_APP_KEY');
  const forged = echoOn('127.0.0.1', {
    authorizer: (channel) => ({
      authorize: (socketId, callback) => callback(null, { auth: `${key}:${'0'.repeat(64)}` }),
    }),
  });
  await connected(forged);
  const ch = forged.private('record.flow.1');
  await assert.rejects(subscribed(ch), (err) => {
    assert.equal(err.detail.type, 'AuthError');
    assert.equal(err.detail.status, 401);
    return true;
  });
  // The connection is still usable: a public channel subscribes fine.
  await subscribed(forged.channel('news'));
  assert.equal(forged.connector.pusher.connection.state, 'connected');
});

test('a socket of another tenant never sees the event', async () => {
  // The tenant is the request host: 127.0.0.1 and localhost are two tenants.
  const other = echoOn('localhost');
  const same = echoOn('127.0.0.1');
  await Promise.all([connected(other), connected(same)]);
  const gotOther = collector();
  const gotSame = collector();
  const chO = other.private('record.flow.1').listen('.record.updated', (e) => gotOther.push(e));
  const chS = same.private('record.flow.1').listen('.record.updated', (e) => gotSame.push(e));
  await Promise.all([subscribed(chO), subscribed(chS)]);

  assert.equal((await put('127.0.0.1', '/api/v1/flows/1', { name: 'tenant 127' })).status, 200);
  await gotSame.waitFor(1);
  await sleep(300);
  assert.equal(gotOther.events.length, 0, 'tenant localhost must not see tenant 127.0.0.1');

  assert.equal((await put('localhost', '/api/v1/flows/1', { name: 'tenant localhost' })).status, 200);
  const [ev] = await gotOther.waitFor(1);
  assert.equal(ev.tenant_id, 'localhost');
  await sleep(300);
  assert.equal(gotSame.events.length, 1);
});

test('subscribing with since gets the newer cached version at once', async () => {
  // Learn a version through a GET, then subscribe with an older one using
  // pusher-js directly (Echo does not send since; the browser kit does).
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/flows/9`, { headers: { Accept: 'application/json' } });
  const current = (await res.json()).data.updated_at;
  const e = echoOn('127.0.0.1');
  await connected(e);
  const pusher = e.connector.pusher;
  const got = collector();
  const socketId = pusher.connection.socket_id;
  const authRes = await fetch(`http://127.0.0.1:${port}/broadcasting/auth`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: `socket_id=${socketId}&channel_name=private-record.flow.9`,
  });
  const { auth } = await authRes.json();
  pusher.connection.bind('message', (m) => { if (m.channel === 'private-record.flow.9' && m.event === 'record.updated') got.push(m.data); });
  pusher.send_event('pusher:subscribe', { channel: 'private-record.flow.9', auth, since: '2000-01-01T00:00:00.000000Z' });
  const [data] = await got.waitFor(1);
  assert.equal(data.updated_at_iso, current);
  assert.equal(data.tab_id, null);
});
