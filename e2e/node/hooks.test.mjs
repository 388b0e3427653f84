// A page built the way Laravel 11–13 starter kits build it, in Debian's
// Chromium (playwright-core): React 19 with Echo from @laravel/echo-react
// (configureEcho() and its hooks), recordsync as the Echo server, and
// recordsync's browser kit handed the page's Echo with the one line
// RecordSync.useEcho(echo()) (kit/README.md). Started by TestEchoHooksBrowser
// in e2e/hooks_test.go with RS_PORT, RS_APP_KEY, RS_BUILD (the folder Caddy
// serves at /build/), RS_OUT and RS_CHROMIUM.
//
// The page (pages/echo-react.jsx) is bundled here with esbuild from the real
// npm packages into RS_BUILD, and runs in the example app's shell
// (GET /spa/echo-react): login, session, CSRF and channel authorisation are
// the app's own. Alice and Bob each log in once through the app's login form,
// each in a browser context of their own, and keep one tab of the page open
// from test to test (the last test closes Alice's).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { env, sleep, logIn } from './lib.mjs';

const port = Number(env('RS_PORT'));
const key = env('RS_APP_KEY');
const buildDir = env('RS_BUILD');
const outDir = env('RS_OUT');
const executablePath = env('RS_CHROMIUM', '/usr/bin/chromium');
const here = path.dirname(new URL(import.meta.url).pathname);
const site = `http://a.localhost:${port}`;
const FLOW = 1;

let browser;
let alice;
let bob;
const saves = []; // the versions Alice's saves made, in order

before(async () => {
  // As `vite build` would: one ES module, production React, the Reverb key
  // from the environment (import.meta.env.VITE_REVERB_APP_KEY).
  await build({
    entryPoints: [path.join(here, 'pages', 'echo-react.jsx')],
    outfile: path.join(buildDir, 'echo-react.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    jsx: 'automatic',
    minify: true,
    define: {
      'process.env.NODE_ENV': '"production"',
      'import.meta.env': JSON.stringify({ MODE: 'production', PROD: true, DEV: false, VITE_REVERB_APP_KEY: key }),
    },
    logLevel: 'error',
  });
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP *.localhost 127.0.0.1'],
  });
  [alice, bob] = await Promise.all([person('alice@example.com'), person('bob@example.com')]);
  [alice.tab, bob.tab] = await Promise.all([open(alice.context), open(bob.context)]);
});
after(async () => { if (browser) await browser.close(); });

// person logs email in through the app's login form in a browser context
// of its own: {context}.
async function person(email) {
  const context = await browser.newContext({ baseURL: site, viewport: { width: 900, height: 900 } });
  const page = await context.newPage();
  // Closed only once home has loaded: once, after a tab was closed while
  // its navigation was still loading, Chromium never opened the context's
  // next tab (Target.createTarget did not answer).
  await logIn(page, email);
  await page.close();
  return { context };
}

// open opens the page in a new tab of context and waits until its Echo is
// connected, its three hooks are subscribed, the flow is loaded and the kit
// is in the record's presence channel. sockets are the websockets the tab
// opened; requests its same-origin requests.
async function open(context, query = '') {
  let timer;
  const page = await Promise.race([context.newPage(), new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('Chromium did not open a tab within 30 s')), 30000);
  })]).finally(() => clearTimeout(timer));
  const tab = { page, sockets: [], closed: [], requests: [], problems: [] };
  page.on('websocket', (ws) => {
    tab.sockets.push(ws.url());
    ws.on('close', () => tab.closed.push(ws.url()));
  });
  page.on('request', (r) => { if (r.url().startsWith(site)) tab.requests.push(r); });
  page.on('pageerror', (e) => tab.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') tab.problems.push(`${m.type()}: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400) tab.problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`); });
  await page.goto(`/spa/echo-react${query}`);
  await page.waitForFunction((flow) => {
    const c = window.RecordSync && window.RecordSync.connection();
    const text = (id) => (document.getElementById(id) || {}).textContent;
    return text('socket-id') && text('ready') === 'record model presence' && text('version') &&
      c && c.subscribed.includes(`presence-record.flow.${flow}`);
  }, FLOW, { timeout: 15000 });
  return tab;
}

const text = (page, sel) => page.locator(sel).textContent();
const items = (page, sel) => page.locator(`${sel} li`).allTextContents();

// save saves the flow's name through the page's form (axios PUT) and
// returns the PUT as the browser sent it and the version it saved.
async function save(tab, name) {
  const prev = await text(tab.page, '#saved');
  await tab.page.fill('#name', name);
  const [put] = await Promise.all([
    tab.page.waitForRequest((r) => r.method() === 'PUT' && new URL(r.url()).pathname === `/api/v1/flows/${FLOW}`),
    tab.page.click('#save'),
  ]);
  await tab.page.waitForFunction((b) => document.getElementById('saved').textContent !== b, prev, { timeout: 5000 });
  assert.equal(await text(tab.page, '#error'), '', 'the save failed');
  const version = await text(tab.page, '#saved');
  saves.push(version);
  return { put, version };
}

test('one socket per tab: the kit uses the page\'s Echo, and X-Socket-ID on fetch, XHR and axios is echo().socketId()', async () => {
  for (const tab of [alice.tab, bob.tab]) {
    const sid = await text(tab.page, '#socket-id'); // useSocketId(): echo().socketId()
    assert.match(sid, /^\d+\.\d+$/);
    assert.equal(tab.sockets.length, 1, `websockets: ${tab.sockets.join(', ')}`);
    assert.match(tab.sockets[0], new RegExp(`/ws/app/${key}\\?`));
    assert.equal(await tab.page.evaluate(() => RecordSync.connection().transport), 'echo');
    assert.equal(await tab.page.evaluate(() => RecordSync.socketId()), sid);

    const n = tab.requests.length;
    await tab.page.evaluate(() => fetch('/api/v1/me?via=fetch', { headers: { Accept: 'application/json' } }).then((r) => r.status));
    await tab.page.evaluate(() => new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open('GET', '/api/v1/me?via=xhr');
      x.setRequestHeader('Accept', 'application/json');
      x.onload = () => resolve(x.status);
      x.onerror = reject;
      x.send();
    }));
    await Promise.all([
      tab.page.waitForRequest((r) => r.method() === 'GET' && new URL(r.url()).pathname === `/api/v1/flows/${FLOW}`),
      tab.page.click('#reload'), // axios.get
    ]);
    const sent = tab.requests.slice(n);
    const find = (what, pred) => {
      const r = sent.find(pred);
      assert.ok(r, `no ${what} request`);
      return r;
    };
    const viaFetch = find('fetch', (r) => r.url().endsWith('/api/v1/me?via=fetch'));
    const viaXHR = find('XHR', (r) => r.url().endsWith('/api/v1/me?via=xhr'));
    const viaAxios = find('axios', (r) => new URL(r.url()).pathname === `/api/v1/flows/${FLOW}`);
    assert.equal(viaFetch.resourceType(), 'fetch');
    assert.equal(viaXHR.resourceType(), 'xhr');
    for (const [what, r] of [['fetch', viaFetch], ['XHR', viaXHR], ['axios', viaAxios]]) {
      assert.equal(r.headers()['x-socket-id'], sid, `${what}: X-Socket-ID`);
    }
    // No request of the tab ever named another socket.
    for (const r of tab.requests) {
      const h = r.headers()['x-socket-id'];
      if (h !== undefined) assert.equal(h, sid, `${r.method()} ${r.url()}`);
    }
  }
  assert.notEqual(await text(alice.tab.page, '#socket-id'), await text(bob.tab.page, '#socket-id'));

  // The kit asked to join before the page hands it its Echo (400 ms later,
  // as the accessor): with the shell's data-transport="echo" it waits
  // instead of opening a socket of its own; with transport 'auto' (the kit's
  // default, set here before the page's script runs) it opens one and closes
  // it at the hand-over. Either way it then joins through the page's Echo,
  // whose hooks subscribed first. Both tabs are Bob's, opened side by side.
  const auto = await browser.newContext({ baseURL: site, storageState: await bob.context.storageState() });
  await auto.addInitScript(() => {
    Object.defineProperty(window, 'RecordSync', {
      configurable: true,
      get() { return undefined; },
      set(v) {
        Object.defineProperty(window, 'RecordSync', { value: v, writable: true, configurable: true, enumerable: true });
        v.configure({ transport: 'auto' });
      },
    });
  });
  try {
    const [waits, closes] = await Promise.all([open(bob.context, '?late=400'), open(auto, '?late=400')]);
    for (const tab of [waits, closes]) {
      await tab.page.waitForFunction(() => RecordSync.connection().transport === 'echo', null, { timeout: 5000 });
      await tab.page.locator('#kit-members li', { hasText: 'Alice' }).waitFor({ timeout: 5000 });
      assert.equal(await tab.page.evaluate(() => RecordSync.socketId()), await text(tab.page, '#socket-id'));
    }
    assert.equal(waits.sockets.length, 1, `websockets: ${waits.sockets.join(', ')}`);
    const own = closes.sockets.filter((u) => u.includes('client=recordsync-js'));
    assert.equal(own.length, 1, `websockets: ${closes.sockets.join(', ')}`);
    assert.equal(closes.sockets.length, 2);
    for (let t = Date.now(); !closes.closed.length && Date.now() - t < 3000;) await sleep(50);
    assert.deepEqual(closes.closed, own, 'the kit closed its own socket');
    assert.deepEqual(waits.problems, []);
    assert.deepEqual(closes.problems, []);
    await waits.page.close();
  } finally { await auto.close(); }
  assert.deepEqual(await items(bob.tab.page, '#kit-members'), ['Alice']);
});

test('useEcho on the private channel: the others hear a save as record.updated, the writer\'s tab does not', async () => {
  const { put, version } = await save(alice.tab, `Saved by Alice ${Date.now() % 100000}`);
  assert.equal(put.headers()['x-socket-id'], await text(alice.tab.page, '#socket-id'));
  const heard = bob.tab.page.locator(`#heard-record li[data-version="${version}"]`);
  await heard.waitFor({ timeout: 5000 });
  assert.equal(await heard.getAttribute('data-by'), 'Alice');
  const all = bob.tab.page.locator('#heard-record li');
  assert.deepEqual(await all.evaluateAll((ls) => ls.map((l) => l.dataset.version)), saves, 'once per save');
  await sleep(1500);
  assert.deepEqual(await items(alice.tab.page, '#heard-record'), []);
});

test('useEchoModel: the others hear FlowUpdated with the model\'s id and new updated_at, the writer\'s tab does not', async () => {
  const { version } = await save(alice.tab, `Saved again by Alice ${Date.now() % 100000}`);
  const heard = bob.tab.page.locator(`#heard-model li[data-updated-at="${version}"]`);
  await heard.waitFor({ timeout: 5000 });
  assert.equal(await heard.getAttribute('data-id'), String(FLOW));
  const all = bob.tab.page.locator('#heard-model li');
  assert.deepEqual(await all.evaluateAll((ls) => ls.map((l) => l.dataset.updatedAt)), saves, 'once per save');
  await sleep(1500);
  assert.deepEqual(await items(alice.tab.page, '#heard-model'), []);
  assert.deepEqual(await items(alice.tab.page, '#heard-record'), []);
});

test('useEchoPresence: each tab sees the other as a member, and sees them leave', async () => {
  await alice.tab.page.locator('#members li', { hasText: 'Bob' }).waitFor({ timeout: 5000 });
  await bob.tab.page.locator('#members li', { hasText: 'Alice' }).waitFor({ timeout: 5000 });
  assert.deepEqual(await items(alice.tab.page, '#members'), ['Bob']);
  assert.deepEqual(await items(bob.tab.page, '#members'), ['Alice']);
  assert.deepEqual(await items(alice.tab.page, '#kit-members'), ['Bob']);
  await bob.tab.page.screenshot({ path: path.join(outDir, 'hooks.png'), fullPage: true });

  await alice.tab.page.close(); // her only tab: her socket closes
  await bob.tab.page.locator('#left', { hasText: 'Alice' }).waitFor({ timeout: 10000 });
  assert.deepEqual(await items(bob.tab.page, '#members'), []);
  await bob.tab.page.waitForFunction(() => document.querySelectorAll('#kit-members li').length === 0, null, { timeout: 5000 });
  assert.deepEqual(alice.tab.problems, []);
  assert.deepEqual(bob.tab.problems, []);
});
