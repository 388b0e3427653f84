// Inertia pages in Debian's Chromium (playwright-core): the real Inertia
// clients, @inertiajs/react 3.x and 2.x, on the example Laravel app's
// Inertia pages (GET/PUT /inertia/flows/{id}, an emulation of
// inertia-laravel 3 and 2) behind Caddy with recordsync, which reads the
// flows from the pages (`inertia flow /inertia/flows/{id}`) and serves the
// browser kit. Started by TestInertiaBrowser in e2e/inertia_test.go with
// RS_PORT, RS_OUT, RS_BUILD (the folder the site serves at /build/),
// RS_CHROMIUM and RS_ASSET_VERSION (the app's INERTIA_ASSET_VERSION).
//
// Before the tests, esbuild bundles e2e/node/pages/inertia-3.jsx and
// inertia-2.jsx into RS_BUILD, as Vite builds an app's pages into
// public/build/. Inertia 3 runs on tenant a, Inertia 2 on tenant b with the
// cookie inertia_major=2 (the app's switch to inertia-laravel 2's answers):
// each tenant's flows are unknown to recordsync until its pages show them.
// People log in through the app's form, each in a browser context of their
// own. The two clients run side by side; a client's tests run in order and
// share the story of flow 1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { env, sleep, logIn } from './lib.mjs';

const port = Number(env('RS_PORT'));
const outDir = env('RS_OUT');
const buildDir = env('RS_BUILD');
const assetVersion = env('RS_ASSET_VERSION');
const executablePath = env('RS_CHROMIUM', '/usr/bin/chromium');
const site = (tenant) => `http://${tenant}.localhost:${port}`;

let browser;

before(async () => {
  const pages = path.join(import.meta.dirname, 'pages');
  await Promise.all([3, 2].map((major) => esbuild.build({
    entryPoints: [path.join(pages, `inertia-${major}.jsx`)],
    outfile: path.join(buildDir, `inertia-${major}.js`),
    bundle: true,
    format: 'esm',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
  })));
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP *.localhost 127.0.0.1'],
  });
});
after(async () => { if (browser) await browser.close(); });

// A time as the kit writes it (RecordSync.formatTime) for today, in Chromium's en-US.
const TIME = '\\d{1,2}:\\d\\d:\\d\\d(?:\\s?[AP]M)?';
const said = async (locator) => (await locator.innerText()).replace(/\s+/g, ' ').trim();
const pathOf = (u) => new URL(u).pathname;
// What Inertia's router sends as Accept (so Laravel answers its errors with redirects, not JSON).
const INERTIA_ACCEPT = 'text/html, application/xhtml+xml';

// The client and its tenant: Inertia 3 on a, Inertia 2 on b.
const CLIENTS = [{ major: 3, tenant: 'a' }, { major: 2, tenant: 'b' }];

// The two clients side by side (each on its own tenant); a client's tests in order.
describe('Inertia clients', { concurrency: CLIENTS.length }, () => {
for (const { major, tenant } of CLIENTS) {
  describe(`Inertia ${major} (tenant ${tenant})`, { concurrency: 1 }, () => {
    const contexts = [];
    const sessions = new Map();
    after(async () => { for (const c of contexts.splice(0)) await c.close().catch(() => {}); });

    // person is email logged in on the tenant, in a browser context of its
    // own (made once, then the same for every test of this client), with a
    // page: {context, page, problems}. kit: false is another browser, with a
    // session of its own, whose pages refuse the browser kit's script.
    const people = new Map();
    async function person(email, { kit = true } = {}) {
      const key = `${email}|${kit}`;
      if (people.has(key)) return people.get(key);
      const context = await browser.newContext({ baseURL: site(tenant), viewport: { width: 960, height: 720 }, storageState: kit ? sessions.get(email) : undefined });
      contexts.push(context);
      if (major === 2) await context.addCookies([{ name: 'inertia_major', value: '2', domain: `${tenant}.localhost`, path: '/' }]);
      if (!kit) await context.route('**/ws/recordsync.js', (r) => r.abort());
      const page = await context.newPage();
      const problems = [];
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (/^Failed to load resource/.test(m.text())) return; // reported with its URL below
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.request().method()} ${pathOf(r.url())}`); });
      if (!kit || !sessions.has(email)) {
        await logIn(page, email);
        if (kit) sessions.set(email, await context.storageState());
      }
      const p = { context, page, problems };
      people.set(key, p);
      return p;
    }

    // ready waits until the page shows flow id and listens: Echo subscribed
    // to its channel, the kit connected through it (X-Socket-ID on requests).
    async function ready(page, id, { kit = true } = {}) {
      await page.locator('h1').filter({ hasText: `Flow ${id} ` }).waitFor({ timeout: 10000 });
      if (!kit) return;
      await page.waitForFunction((id) => window.flowPage.subscribed.includes(`record.flow.${id}`) &&
        window.RecordSync.socketId() != null, id, { timeout: 10000 });
    }
    const shownVersion = (page) => page.locator('#updated-at').getAttribute('datetime');
    const heardOf = (page, id) => page.evaluate((id) => window.flowPage.heard.filter((e) => String(e.record_id) === String(id)), id);
    // poll asks the version endpoint from the page, as the kit does.
    const poll = (page, id) => page.evaluate(async (id) => {
      const res = await fetch(`/api/v1/records/flow/${id}/version`, { headers: { Accept: 'application/json' }, cache: 'no-store' });
      return { status: res.status, cache: res.headers.get('X-Recordsync-Cache'), body: await res.json() };
    }, id);
    const noDialog = async (page) => {
      // Inertia 3 shows its modal as <dialog id="inertia-error-dialog"> with an
      // iframe, Inertia 2 as a fixed <div> with an iframe.
      assert.equal(await page.locator('dialog').count(), 0, 'an Inertia error dialog');
      assert.equal(await page.locator('iframe').count(), 0, 'an Inertia error modal (iframe)');
    };
    // noProblems: no page errors, kit warnings or failed requests (but the allowed ones) since the last look.
    const noProblems = (p, allowed = []) => assert.deepEqual(p.problems.splice(0).filter((x) => !allowed.includes(x)), []);
    // api calls the record API from the page (as the page's own scripts would).
    const api = (page, method, url, data) => page.evaluate(async ({ method, url, data }) => {
      const res = await fetch(url, {
        method, headers: { Accept: 'application/json', 'Content-Type': 'application/json' }, body: data ? JSON.stringify(data) : undefined,
      });
      return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
    }, { method, url, data });
    const getFlow = async (page, id) => JSON.parse((await api(page, 'GET', `/api/v1/flows/${id}`)).body).data;
    // raw sends a request with a person's cookies from outside the browser
    // (no kit, no redirect followed), to the site by its host name.
    async function raw(context, method, url, headers = {}, data = undefined) {
      const cookie = (await context.cookies(site(tenant))).map((c) => `${c.name}=${c.value}`).join('; ');
      const body = data === undefined ? undefined : JSON.stringify(data);
      return new Promise((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1', port, method, path: url,
          headers: { Host: `${tenant}.localhost:${port}`, Cookie: cookie, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
        }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => { text += c; });
          res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    }

    // The story of flow 1, told across the tests below.
    const story = {};

    test('a first load and an Inertia visit show the flow; recordsync learned each version from the page', async () => {
      const alice = await person('alice@example.com');
      const { page } = alice;
      const polls = [];
      page.on('response', (r) => {
        const m = /^\/api\/v1\/records\/flow\/(\d+)\/version$/.exec(pathOf(r.url()));
        if (m) polls.push({ id: Number(m[1]), cache: r.headers()['x-recordsync-cache'], status: r.status() });
      });
      const visits = [];
      page.on('request', (r) => { if (pathOf(r.url()).startsWith('/inertia/')) visits.push({ path: pathOf(r.url()), inertia: r.headers()['x-inertia'] }); });

      // A first load: the page object in the HTML, as this adapter renders it.
      await page.goto('/inertia/flows/2');
      await ready(page, 2);
      const root = await page.evaluate(() => ({
        script: !!document.querySelector('script[data-page="app"][type="application/json"]'),
        attr: !!(document.getElementById('app') && document.getElementById('app').hasAttribute('data-page')),
      }));
      assert.deepEqual(root, major === 3 ? { script: true, attr: false } : { script: false, attr: true });
      const v2 = await shownVersion(page);
      assert.match(v2, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      // Nothing but the page showed flow 2 to recordsync, and the version
      // poll (the kit's first look, then this one) is answered from the cache.
      const p2 = await poll(page, 2);
      assert.equal(p2.status, 200);
      assert.equal(p2.cache, 'hit', 'the version learned from the first load');
      assert.equal(p2.body.data.updated_at, v2);
      assert.equal(p2.body.data.updated_by_name, 'Alice');

      // An Inertia visit: the router asks for the page object as JSON.
      await page.evaluate(() => { window.stillThisDocument = true; });
      await page.click('#link-3');
      await ready(page, 3);
      assert.equal(await page.evaluate(() => window.stillThisDocument), true, 'a visit, not a page load');
      assert.deepEqual(visits.filter((v) => v.path === '/inertia/flows/3'), [{ path: '/inertia/flows/3', inertia: 'true' }]);
      const v3 = await shownVersion(page);
      const p3 = await poll(page, 3);
      assert.equal(p3.cache, 'hit', 'the version learned from the X-Inertia answer');
      assert.equal(p3.body.data.updated_at, v3);
      const seen = polls.filter((p) => p.id === 2 || p.id === 3);
      assert.ok(seen.length >= 2, JSON.stringify(polls));
      assert.deepEqual(seen.filter((p) => p.cache !== 'hit'), [], 'every poll of these flows answered from the cache');

      // The adapter's escaping: a name that would end the script element or
      // the attribute, shown as it is after a first load.
      const tricky = `Tricky </script><b class="x">"quoted" & 'single'</b> ü ${major}`;
      const put = await api(page, 'PUT', '/api/v1/flows/3', { name: tricky, client_version: v3 });
      assert.equal(put.status, 200, put.body);
      await page.goto('/inertia/flows/3');
      await ready(page, 3);
      assert.equal(await page.locator('#flow-name').innerText(), tricky);
      assert.equal(await page.inputValue('#name'), tricky);
      const html = (await raw(alice.context, 'GET', '/inertia/flows/3')).body;
      if (major === 3) assert.ok(html.includes('Tricky <\\/script><b class=\\"x\\">\\"quoted\\" & \'single\'<\\/b> \\u00fc'), html);
      else assert.ok(html.includes('Tricky &lt;\\/script&gt;&lt;b class=\\&quot;x\\&quot;&gt;\\&quot;quoted\\&quot; &amp; &#039;single&#039;'), html);
      noProblems(alice);
    });

    test('the adapter answers X-Inertia visits as inertia-laravel does', async () => {
      const { page, context } = await person('alice@example.com');
      const headers = { 'X-Inertia': 'true', 'X-Inertia-Version': assetVersion, 'X-Requested-With': 'XMLHttpRequest', Accept: INERTIA_ACCEPT };
      const res = await raw(context, 'GET', '/inertia/flows/1', headers);
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-inertia'], 'true');
      assert.equal(res.headers.vary, 'X-Inertia');
      assert.match(res.headers['content-type'], /^application\/json/);
      const record = await getFlow(page, 1);
      const want = { component: 'Flows/Edit', props: { errors: {}, auth: { user: { id: 1, name: 'Alice' } }, flow: record }, url: '/inertia/flows/1', version: assetVersion };
      if (major === 3) want.sharedProps = ['errors', 'auth'];
      else Object.assign(want, { clearHistory: false, encryptHistory: false });
      assert.deepEqual(JSON.parse(res.body), want);
      // A partial reload: the props asked for, and the errors (always).
      const partial = JSON.parse((await raw(context, 'GET', '/inertia/flows/1', {
        ...headers, 'X-Inertia-Partial-Component': 'Flows/Edit', 'X-Inertia-Partial-Data': 'flow',
      })).body);
      assert.deepEqual(Object.keys(partial.props), ['errors', 'flow']);
      // Another asset version: a full page load of the same URL.
      const stale = await raw(context, 'GET', '/inertia/flows/1?tab=2', { ...headers, 'X-Inertia-Version': 'old' });
      assert.equal(stale.status, 409);
      assert.equal(stale.headers['x-inertia-location'], `${site(tenant)}/inertia/flows/1?tab=2`);
    });

    test('Alice saves through the Inertia form: Bob hears record.updated with the changed field, Alice hears nothing', async () => {
      const alice = await person('alice@example.com');
      const bob = await person('bob@example.com');
      await alice.page.goto('/inertia/flows/1');
      await bob.page.goto('/inertia/flows/1');
      await ready(alice.page, 1);
      await ready(bob.page, 1);
      const loaded = await shownVersion(bob.page);
      assert.equal(await shownVersion(alice.page), loaded);
      const writes = [];
      alice.page.on('request', (r) => { if (r.method() === 'PUT') writes.push(r.headers()); });

      const name = `Renamed by Alice (Inertia ${major}) ${Date.now() % 100000}`;
      await alice.page.fill('#name', name);
      await alice.page.click('#flow-form button[type=submit]');
      await alice.page.locator('#save-status').filter({ hasText: 'Saved.' }).waitFor({ timeout: 10000 });
      // The page the 303 led to shows the save.
      const saved = await shownVersion(alice.page);
      assert.notEqual(saved, loaded);
      assert.equal(await alice.page.locator('#flow-name').innerText(), name);
      assert.equal(await alice.page.inputValue('input[name=client_version]'), saved);
      // The kit named the tab and the socket on the write.
      assert.equal(writes.length, 1);
      assert.equal(writes[0]['x-inertia'], 'true');
      assert.equal(writes[0]['x-tab-id'], await alice.page.evaluate(() => RecordSync.tabId()));
      assert.equal(writes[0]['x-socket-id'], await alice.page.evaluate(() => RecordSync.socketId()));

      await bob.page.waitForFunction(() => window.flowPage.heard.length > 0, null, { timeout: 5000 });
      const heard = await heardOf(bob.page, 1);
      assert.equal(heard.length, 1, JSON.stringify(heard));
      assert.equal(heard[0].record_type, 'flow');
      assert.equal(heard[0].updated_at_iso, saved);
      assert.equal(heard[0].updated_by_name, 'Alice');
      assert.deepEqual(heard[0].changed_fields, ['name']);
      await bob.page.locator('#heard li[data-by="Alice"][data-fields="name"]').waitFor({ timeout: 2000 });
      // Bob's page still shows the version he loaded.
      assert.equal(await shownVersion(bob.page), loaded);
      // The writer's socket gets no copy (Bob's came already).
      await sleep(500);
      assert.deepEqual(await heardOf(alice.page, 1), []);
      Object.assign(story, { loaded, saved, name });
      noProblems(alice);
      noProblems(bob);
    });

    test('Bob saves on the old version: recordsync answers 409 at the edge, the kit shows who changed what, no Inertia modal, his text stays; Reload, save', async () => {
      assert.ok(story.saved, 'needs the test before');
      // Bob's page of the test before, still on the version he loaded.
      const alice = await person('alice@example.com');
      const bob = await person('bob@example.com');
      await bob.page.click('#description');
      await bob.page.keyboard.press('End');
      await bob.page.keyboard.type(' — Bob was here');
      const typed = await bob.page.inputValue('#description');
      const [res] = await Promise.all([
        bob.page.waitForResponse((r) => r.request().method() === 'PUT' && pathOf(r.url()) === '/inertia/flows/1'),
        bob.page.click('#flow-form button[type=submit]'),
      ]);
      // recordsync's answer, not the app's (the app answers a stale save with a 303).
      assert.equal(res.status(), 409);
      assert.equal(res.headers()['x-inertia'], undefined);
      const body = await res.json();
      assert.equal(body.success, false);
      assert.equal(body.message, 'This record was changed by someone else.');
      assert.equal(body.data.updated_at, story.saved);
      assert.equal(body.data.updated_by_name, 'Alice');
      assert.deepEqual(body.data.changed_fields, ['name']);

      // The kit's view instead of Inertia's modal.
      const view = bob.page.locator('.recordsync-conflict');
      await view.waitFor({ state: 'visible', timeout: 5000 });
      assert.match(await said(view.locator('.recordsync-merge-title')), new RegExp(`^Your changes were not saved: Alice changed Name at ${TIME}\\.$`));
      assert.equal(await view.locator('strong.recordsync-who').innerText(), 'Alice');
      assert.equal(await view.locator('strong.recordsync-field').innerText(), 'Name');
      assert.equal(await view.locator('time').getAttribute('datetime'), story.saved);
      assert.equal(await view.evaluate((e) => e === document.activeElement), true, 'the view has the focus');
      await sleep(300);
      await noDialog(bob.page);
      // What Bob typed is still in the form; nothing of it was saved.
      assert.equal(await bob.page.inputValue('#description'), typed);
      assert.equal(await bob.page.inputValue('input[name=client_version]'), story.loaded);
      const now = await getFlow(bob.page, 1);
      assert.equal(now.updated_at, story.saved);
      assert.notEqual(now.description, typed);
      if (major === 3) await bob.page.screenshot({ path: path.join(outDir, 'inertia-conflict.png') });

      // Reload: a partial reload of the record's props; Alice's name comes
      // in, Bob's text stays, the next save is made on her version.
      const reloads = [];
      bob.page.on('request', (r) => { if (r.method() === 'GET' && pathOf(r.url()) === '/inertia/flows/1') reloads.push(r.headers()['x-inertia-partial-data']); });
      await view.getByRole('button', { name: 'Reload' }).click();
      await view.waitFor({ state: 'hidden', timeout: 5000 });
      assert.deepEqual(reloads, ['flow']);
      assert.equal(await shownVersion(bob.page), story.saved);
      assert.equal(await bob.page.inputValue('#name'), story.name);
      assert.equal(await bob.page.inputValue('#description'), typed);
      assert.equal(await bob.page.inputValue('input[name=client_version]'), story.saved);

      await bob.page.click('#flow-form button[type=submit]');
      await bob.page.locator('#save-status').filter({ hasText: 'Saved.' }).waitFor({ timeout: 10000 });
      const after = await getFlow(bob.page, 1);
      assert.equal(after.name, story.name);
      assert.equal(after.description, typed);
      await alice.page.waitForFunction((v) => window.flowPage.heard.some((e) => e.updated_at_iso === v), after.updated_at, { timeout: 5000 });
      const hers = (await heardOf(alice.page, 1)).filter((e) => e.updated_at_iso === after.updated_at);
      assert.equal(hers[0].updated_by_name, 'Bob');
      assert.deepEqual(hers[0].changed_fields, ['description']);
      noProblems(alice);
      noProblems(bob, ['HTTP 409 PUT /inertia/flows/1']);
      story.latest = after.updated_at;
    });

    test('without the kit, a stale write reaches the app, which answers as it always has: 303 back, errors.client_version', async () => {
      assert.ok(story.latest, 'needs the test before');
      // A request as Inertia sends it, without the kit's X-Tab-ID.
      const bob = await person('bob@example.com');
      const csrf = await bob.page.locator('meta[name="csrf-token"]').getAttribute('content');
      const res = await raw(bob.context, 'PUT', '/inertia/flows/1', {
        'X-Inertia': 'true', 'X-Inertia-Version': assetVersion, 'X-Requested-With': 'XMLHttpRequest', Accept: INERTIA_ACCEPT,
        'X-CSRF-TOKEN': csrf, Referer: `${site(tenant)}/inertia/flows/1`,
      }, { name: 'Never saved', description: 'Never saved', client_version: story.loaded });
      assert.equal(res.status, 303, res.body);
      assert.equal(res.headers.location, `${site(tenant)}/inertia/flows/1`);
      const back = JSON.parse((await raw(bob.context, 'GET', '/inertia/flows/1', { 'X-Inertia': 'true', 'X-Inertia-Version': assetVersion, Accept: INERTIA_ACCEPT })).body);
      assert.match(back.props.errors.client_version, /^This record was changed by someone else\. Bob saved it at /);
      assert.equal(back.props.flow.updated_at, story.latest);

      // A page without the kit: Inertia follows the app's 303 to the page,
      // which shows the error; no modal, Bob's text stays.
      const bare = await person('bob@example.com', { kit: false });
      const { page } = bare;
      await page.goto('/inertia/flows/1');
      await ready(page, 1, { kit: false });
      assert.equal(await page.evaluate(() => typeof window.RecordSync), 'undefined');
      const alice = await person('alice@example.com');
      const cur = await getFlow(alice.page, 1);
      const put = await api(alice.page, 'PUT', '/api/v1/flows/1', { name: `${cur.name}!`, client_version: cur.updated_at });
      assert.equal(put.status, 200, put.body);
      const theirs = JSON.parse(put.body).data.updated_at;
      const statuses = [];
      page.on('response', (r) => { if (r.request().method() === 'PUT') statuses.push(r.status()); });
      await page.click('#description');
      await page.keyboard.press('End');
      await page.keyboard.type(' — typed without the kit');
      const typed = await page.inputValue('#description');
      await page.click('#flow-form button[type=submit]');
      const error = page.locator('#error-client_version');
      await error.waitFor({ timeout: 10000 });
      assert.match(await error.innerText(), /^This record was changed by someone else\. Alice saved it at /);
      assert.deepEqual(statuses, [303]);
      await noDialog(page);
      assert.equal(await page.inputValue('#description'), typed);
      // The page the redirect led to shows the latest version.
      assert.equal(await shownVersion(page), theirs);
      noProblems(bare);
    });
  });
}
});
