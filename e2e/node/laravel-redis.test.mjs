// recordsync's Redis ingress end to end with Laravel's OWN broadcasts: the
// real example app with BROADCAST_DRIVER=redis and BROADCAST_FROM_OBSERVER=1
// publishes to a real redis-server, recordsync's Redis ingress delivers to
// laravel-echo + pusher-js through Caddy. Bob subscribes with the app's own
// /broadcasting/auth (the redis broadcaster answers `true`; recordsync signs
// it for his socket). Started by TestLaravelRedisEcho in
// e2e/laravel_redis_echo_test.go, which passes the app's folder and
// environment so that artisan runs against the same databases and Redis.
//
// Sessions (session.mjs): each user logs in with fetch as a browser page would.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Session } from './session.mjs';
import { env, connected, subscribed, collector, sleep } from './lib.mjs';

// tabTag is what recordsync's events carry as tab_id for a tab's X-Tab-ID:
// the first 32 hex digits of its SHA-256 (never the id itself).
const tabTag = (id) => createHash('sha256').update(id).digest('hex').slice(0, 32);

const host = env('RS_HOST', '127.0.0.1');
const port = Number(env('RS_PORT'));
const tenant = env('RS_TENANT', 'default');

const echoes = [];
after(() => { for (const e of echoes) e.disconnect(); });

const newSession = () => new Session({ host, port, echoes });
const login = (email) => newSession().login(email);

// artisan runs the example app's artisan with the test's environment and
// returns its parsed JSON output.
function artisan(...args) {
  const out = execFileSync(env('RS_PHP'), ['artisan', `--tenant=${tenant}`, ...args], {
    cwd: env('RS_APP_DIR'),
    env: { ...process.env, ...JSON.parse(env('RS_APP_ENV')) },
    encoding: 'utf8',
  });
  return JSON.parse(out.slice(out.indexOf('{')));
}

test('Echo.private receives the observer\'s broadcasts over Redis: an artisan save, and a PUT exactly once; Carol is refused', async () => {
  const [alice, bob, carol] = await Promise.all([login('alice@example.com'), login('bob@example.com'), login('carol@example.com')]);
  const echoB = bob.echo();
  await connected(echoB);
  const got = collector();
  const ch = echoB.private('record.flow.1').listen('.record.updated', (e) => got.push(e));
  await subscribed(ch);

  // A save the proxy never sees: only Redis carries it.
  const touched = artisan('flows:touch', '1', '--name=from artisan');
  const [fromArtisan] = await got.waitFor(1, 10000);
  assert.equal(fromArtisan.record_type, 'flow');
  assert.equal(String(fromArtisan.record_id), '1');
  assert.equal(fromArtisan.updated_at_iso, touched.updated_at);
  assert.equal(fromArtisan.tenant_id, tenant);

  // Alice's PUT through the proxy: the proxy broadcasts it from the answer
  // and the app's observer publishes it to Redis. Bob gets it once.
  const put = await alice.fetch('/api/v1/flows/1', {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', 'X-Tab-ID': 'tab_alice' },
    body: JSON.stringify({ name: 'through the proxy', client_version: touched.updated_at }),
  });
  assert.equal(put.status, 200, put.text);
  const events = await got.waitFor(2, 10000);
  assert.equal(events[1].updated_at_iso, put.json.data.updated_at);
  assert.equal(events[1].tab_id, tabTag('tab_alice'));
  await sleep(1500);
  assert.equal(got.events.length, 2, `the PUT arrived more than once: ${JSON.stringify(got.events)}`);

  // routes/channels.php refuses Carol flow 2 (the app's 403 reaches Echo).
  const echoC = carol.echo();
  await connected(echoC);
  await assert.rejects(subscribed(echoC.private('record.flow.2')), (err) => {
    assert.equal(err.detail.status, 403);
    return true;
  });
  await subscribed(echoC.private('record.flow.1'));
});
