// End-to-end encrypted channels through recordsync, in Debian's Chromium
// (playwright-core): the page loads pusher-js's encryption build (the file
// `pusher-js/with-encryption` loads, dist/web/pusher-with-encryption.js)
// and subscribes to a private-encrypted- channel; its channel authorisation
// is answered here by the `pusher` SDK's authorizeChannel, which adds the
// channel's shared_secret (derived from the encryption master key, which
// only this process has); the SDK publishes through recordsync's HTTP API,
// encrypting. recordsync checks the subscription's signature as a private
// channel's and relays the ciphertext as it came; the page decrypts it. The
// document and the websocket are recordsync's own; the page's auth endpoint
// is answered by playwright's request routing at that origin. Started by
// TestEncryptedChannelsPusherJS in e2e/pusherfeatures_test.go.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import PusherSDK from 'pusher';
import { env, sleep } from './lib.mjs';

const port = Number(env('RS_PORT'));
const key = env('RS_APP_KEY');
const executablePath = env('RS_CHROMIUM', '/usr/bin/chromium');
const origin = `http://127.0.0.1:${port}`;
const masterKey = randomBytes(32).toString('base64');
const sdk = new PusherSDK({
  appId: env('RS_APP_ID'), key, secret: env('RS_APP_SECRET'), host: '127.0.0.1', port: String(port), useTLS: false,
  encryptionMasterKeyBase64: masterKey,
});

// The encryption build, as `import Pusher from 'pusher-js/with-encryption'`
// loads it (with-encryption/index.js requires ../dist/web/pusher-with-encryption).
const entry = createRequire(import.meta.url).resolve('pusher-js/with-encryption');
const build = fs.readFileSync(path.join(path.dirname(entry), '..', 'dist', 'web', 'pusher-with-encryption.js'), 'utf8');

let browser;
let page;
const frames = []; // every websocket frame the page received, raw

before(async () => {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage();
  page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload))));
  // The app's channel authorisation: what an app with the pusher SDK (or
  // Laravel's pusher broadcaster with encryption_master_key_base64) answers.
  await page.route(`${origin}/pusher/auth`, (route) => {
    const form = new URLSearchParams(route.request().postData());
    route.fulfill({ contentType: 'application/json', body: JSON.stringify(sdk.authorizeChannel(form.get('socket_id'), form.get('channel_name'))) });
  });
  // A forged grant: a shared_secret, but not recordsync's signature.
  await page.route(`${origin}/pusher/forged-auth`, (route) => route.fulfill({
    contentType: 'application/json', body: JSON.stringify({ auth: `${key}:${'0'.repeat(64)}`, shared_secret: randomBytes(32).toString('base64') }),
  }));
  // A document of recordsync's origin, from the network (Chromium lets a
  // page reach a loopback websocket only from a local document), with the
  // encryption build added.
  await page.goto(`${origin}/`);
  await page.addScriptTag({ content: build });
  assert.equal(await page.evaluate(() => typeof window.Pusher), 'function');
}, { timeout: 60000 });
after(async () => { if (browser) await browser.close(); });

// subscribe opens a pusher-js (encryption build) connection in the page,
// authorised at endpoint, subscribes to channel and resolves with the
// subscription's outcome.
function subscribe(name, channel, endpoint) {
  return page.evaluate(({ name, channel, endpoint, key, port }) => new Promise((resolve) => {
    const p = new window.Pusher(key, {
      cluster: '', wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], wsPath: '/ws',
      channelAuthorization: { endpoint },
    });
    window.clients = window.clients || {};
    window.got = window.got || {};
    window.clients[name] = p;
    window.got[name] = [];
    const ch = p.subscribe(channel);
    ch.bind('secret', (d) => window.got[name].push(d));
    ch.bind('pusher:subscription_succeeded', () => resolve({ ok: true }));
    ch.bind('pusher:subscription_error', (e) => resolve({ ok: false, error: e }));
    setTimeout(() => resolve({ ok: false, error: `no answer; connection ${p.connection.state}` }), 10000);
  }), { name, channel, endpoint, key, port });
}

async function received(name, n, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await page.evaluate((name) => window.got[name], name);
    if (got.length >= n) return got;
    if (Date.now() > deadline) throw new Error(`${name}: ${got.length} events, want ${n}`);
    await sleep(50);
  }
}

test('the SDK encrypts, recordsync relays the ciphertext untouched, pusher-js/with-encryption decrypts', { timeout: 30000 }, async () => {
  const sub = await subscribe('reader', 'private-encrypted-notes', '/pusher/auth');
  assert.deepEqual(sub, { ok: true });

  const secret = { text: 'for the subscriber only', n: 1 };
  const res = await sdk.trigger('private-encrypted-notes', 'secret', secret);
  assert.equal(res.status, 200);
  assert.deepEqual((await received('reader', 1))[0], secret);

  // On the wire: nonce and ciphertext, never the text.
  const raw = frames.find((f) => f.includes('"event":"secret"'));
  assert.ok(raw, 'no frame of the event');
  const data = JSON.parse(JSON.parse(raw).data);
  assert.deepEqual(Object.keys(data).sort(), ['ciphertext', 'nonce']);
  assert.ok(!raw.includes('for the subscriber only'), raw);
});

test('a forged grant is refused like a private channel\'s; client events are refused', { timeout: 30000 }, async () => {
  const forged = await subscribe('forger', 'private-encrypted-notes', '/pusher/forged-auth');
  assert.equal(forged.ok, false);
  assert.equal(forged.error.type, 'AuthError');
  assert.equal(forged.error.status, 401);

  // pusher-js will not trigger on an encrypted channel; what a modified
  // client would send is refused with 4301, and nobody gets it.
  const before = frames.length;
  await page.evaluate(() => window.clients.reader.send_event('client-peek', { x: 1 }, 'private-encrypted-notes'));
  const deadline = Date.now() + 5000;
  let refusal;
  while (!(refusal = frames.slice(before).find((f) => f.includes('pusher:error')))) {
    if (Date.now() > deadline) throw new Error('no pusher:error for a client event');
    await sleep(50);
  }
  assert.equal(JSON.parse(JSON.parse(refusal).data).code, 4301);

  // The reader is still subscribed and still decrypts.
  await sdk.trigger('private-encrypted-notes', 'secret', { n: 2 });
  assert.deepEqual((await received('reader', 2))[1], { n: 2 });
  assert.equal((await received('forger', 0)).length, 0);
});
