// The browser kit's acceptance tests (kit/README.md) in Debian's Chromium
// (playwright-core), against the REAL example Laravel app behind Caddy with
// recordsync, which serves the browser kit at /ws/recordsync.js. Started by
// TestBrowserKit in e2e/browser_test.go with RS_PORT, RS_APP_KEY, RS_OUT and
// RS_CHROMIUM.
//
// Users log in through the app's own login form, each in its own browser
// context (its own cookies: two people). Tenants are host names:
// http://a.localhost:PORT and http://b.localhost:PORT. Tests run one after
// the other; each opens fresh pages and closes its contexts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { env, sleep, logIn } from './lib.mjs';

const port = Number(env('RS_PORT'));
const outDir = env('RS_OUT');
const executablePath = env('RS_CHROMIUM', '/usr/bin/chromium');
const site = (tenant) => `http://${tenant}.localhost:${port}`;

let browser;
const contexts = [];

before(async () => {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP *.localhost 127.0.0.1'],
  });
});
after(async () => { if (browser) await browser.close(); });

// closeAll closes the contexts a test opened (its sockets leave with them).
async function closeAll() {
  for (const c of contexts.splice(0)) await c.close().catch(() => {});
}

// sessions holds each person's logged-in cookies (Playwright's
// storageState): a person logs in through the app's form once, and later
// contexts start with that session (one Laravel session per person, as one
// person's several browser windows share).
const sessions = new Map();

// person returns a fresh browser context (its own sessionStorage, sockets,
// pages) of email logged in on tenant, {context, page, problems}: its page
// is blank (on the home page after a first login), for the test to open
// what it needs; problems collects page errors and the kit's warnings.
// fresh: log in anew, with a session of its own (a test that logs out).
async function person(tenant, email, { pollInterval, blockWebSocket, fresh } = {}) {
  const key = `${tenant}|${email}`;
  const storageState = fresh ? undefined : sessions.get(key);
  const context = await browser.newContext({ baseURL: site(tenant), viewport: { width: 960, height: 640 }, storageState });
  contexts.push(context);
  if (blockWebSocket) {
    // The websocket upgrade fails: closed before it is established.
    await context.routeWebSocket(/\/ws\/app\//, (ws) => ws.close());
  }
  if (pollInterval) {
    // Configure the kit the moment it defines window.RecordSync, before the
    // page's own script watches anything.
    await context.addInitScript((ms) => {
      Object.defineProperty(window, 'RecordSync', {
        configurable: true,
        get() { return undefined; },
        set(v) {
          Object.defineProperty(window, 'RecordSync', { value: v, writable: true, configurable: true, enumerable: true });
          v.configure({ pollInterval: ms });
        },
      });
    }, pollInterval);
  }
  const problems = [];
  const page = await context.newPage();
  watchProblems(page, problems);
  if (storageState) return { context, page, problems, tenant };
  await logIn(page, email);
  if (!fresh) sessions.set(key, await context.storageState());
  return { context, page, problems, tenant };
}

function watchProblems(page, problems) {
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (/^Failed to load resource/.test(m.text())) return; // reported with its URL below
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`); });
}

// openFlow opens the flow editor and waits until the kit is subscribed to
// the record's channel (and to its presence channel).
async function openFlow(page, id) {
  await page.goto(`/flows/${id}`);
  await page.waitForFunction((id) => {
    const c = window.RecordSync && window.RecordSync.connection();
    return c && c.state === 'connected' && c.subscribed.includes(`private-record.flow.${id}`) &&
      c.subscribed.includes(`presence-record.flow.${id}`);
  }, id, { timeout: 10000 });
}

async function openProject(page, id) {
  await page.goto(`/projects/${id}`);
  await page.waitForFunction((id) => {
    const c = window.RecordSync && window.RecordSync.connection();
    return c && c.state === 'connected' && c.subscribed.includes(`private-project.${id}`);
  }, id, { timeout: 10000 });
}

// saveFlow saves the flow form through its Save button and waits for "Saved.".
async function saveFlow(page, name) {
  await page.fill('#name', name);
  await page.click('#flow-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('save-status').textContent === 'Saved.', null, { timeout: 10000 });
  return page.inputValue('input[name=client_version]');
}

// dirty types into the description, as a person editing would.
async function dirty(page, text = ' (my unsaved edit)') {
  await page.click('#description');
  await page.keyboard.press('End');
  await page.keyboard.type(text);
}

const banner = (page) => page.locator('.recordsync-banner');
const prompt = (page) => page.locator('.recordsync-prompt');
const merge = (page) => page.locator('.recordsync-merge');
// said is an element's text on one line.
const said = async (locator) => (await locator.innerText()).replace(/\s+/g, ' ').trim();
// A time as the kit writes it (RecordSync.formatTime) for today, in Chromium's en-US.
const TIME = '\\d{1,2}:\\d\\d:\\d\\d(?:\\s?[AP]M)?';
// mergeTitle is the merge view's accessible name (its aria-labelledby).
const mergeTitle = (page) => merge(page).evaluate((e) => document.getElementById(e.getAttribute('aria-labelledby')).textContent);
const focused = (page) => page.evaluate(() => document.activeElement && (document.activeElement.id || document.activeElement.className));

// getFlow reads a flow through the API, as the app has it now.
async function getFlow(page, id) {
  return page.evaluate(async (id) => (await (await fetch(`/api/v1/flows/${id}`, { headers: { Accept: 'application/json' } })).json()).data, id);
}

// importSave saves a flow as an import (X-Import): recordsync learns the
// version but broadcasts nothing, so an editor of the flow hears nothing of
// it — a save racing the editor's own.
async function importSave(page, id, changes) {
  return page.evaluate(async ({ id, changes }) => {
    const cur = await (await fetch(`/api/v1/flows/${id}`, { headers: { Accept: 'application/json' } })).json();
    const res = await fetch(`/api/v1/flows/${id}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-Import': '1' },
      body: JSON.stringify({ ...changes, client_version: cur.data.updated_at }),
    });
    return { status: res.status, version: (await res.json()).data.updated_at };
  }, { id, changes });
}

// drafts lists the kit's drafts in the page's sessionStorage.
const drafts = (page) => page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('recordsync.draft|')));

// noBannerFor waits ms and fails if a banner shows meanwhile.
async function noBannerFor(page, ms) {
  const shown = await page.locator('.recordsync-banner:visible').waitFor({ timeout: ms }).then(() => true, () => false);
  assert.equal(shown, false, 'a banner appeared');
}

// putTask saves a task from the page (same origin: the kit adds X-Tab-ID and
// X-Socket-ID), with the version the page reads first (from the task's own
// route, through which recordsync learns its fields: the events then name
// what changed).
async function putTasks(page, project, changes) {
  return page.evaluate(async ({ project, changes }) => {
    const tasks = [];
    for (const [id] of changes) {
      tasks.push((await (await fetch(`/api/v1/projects/${project}/tasks/${id}`, { headers: { Accept: 'application/json' } })).json()).data);
    }
    const out = [];
    for (const [id, title] of changes) {
      const t = tasks.find((x) => x.id === id);
      const res = await fetch(`/api/v1/projects/${project}/tasks/${id}`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ title, client_version: t.updated_at }),
      });
      out.push({ status: res.status, at: Date.now() });
    }
    return out;
  }, { project, changes });
}

// listLoads counts the page's GETs of the project's task list.
function listLoads(page, project) {
  const loads = [];
  page.on('request', (r) => {
    if (r.method() === 'GET' && new URL(r.url()).pathname === `/api/v1/projects/${project}/tasks`) loads.push(Date.now());
  });
  return loads;
}

const rowTitle = (page, id) => page.locator(`#tasks tr[data-task-id="${id}"] td:nth-child(2)`);

function noProblems(...people) {
  for (const p of people) assert.deepEqual(p.problems, [], `${p.tenant}: page errors or kit warnings`);
}

// ---------------------------------------------------------------------------

test('kit: served by recordsync, tab identity on same-origin requests only, nothing global but RecordSync', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const { page } = alice;
    await page.goto('/');
    const served = await page.evaluate(async () => {
      const res = await fetch('/ws/recordsync.js', { cache: 'no-store' });
      const again = await fetch('/ws/recordsync.js', { cache: 'no-store', headers: { 'If-None-Match': res.headers.get('ETag') } });
      return { status: res.status, type: res.headers.get('Content-Type'), cache: res.headers.get('Cache-Control'), body: await res.text(), again: again.status };
    });
    assert.equal(served.status, 200);
    assert.equal(served.type, 'text/javascript; charset=utf-8');
    assert.equal(served.cache, 'no-cache');
    const conf = JSON.parse(/\/\*recordsync:config\*\/(.*?)\/\*recordsync:end\*\//.exec(served.body)[1]);
    assert.equal(conf.key, 'e2e-key');
    assert.equal(conf.wsPath, '/ws');
    // The record routes recordsync knows: the kit loads the latest record from them.
    assert.equal(conf.records.flow, '/api/v1/flows/{id}');
    assert.equal(served.again, 304);

    await openFlow(page, 3);
    const tab = await page.evaluate(() => RecordSync.tabId());
    assert.match(tab, /^tab_[0-9a-f]{24}$/);
    const socket = await page.evaluate(() => RecordSync.socketId());
    assert.match(socket, /^\d+\.\d+$/);

    // fetch and XMLHttpRequest to the site carry X-Tab-ID and X-Socket-ID;
    // a request elsewhere carries neither.
    const seen = [];
    page.on('request', (r) => seen.push({ url: r.url(), headers: r.headers() }));
    await page.route('http://elsewhere.test/**', (route) => route.fulfill({ status: 200, body: '{}' }));
    await page.evaluate(async () => {
      await fetch('/api/v1/me', { headers: { Accept: 'application/json' } });
      await new Promise((done) => {
        const x = new XMLHttpRequest();
        x.open('GET', '/api/v1/flows');
        x.setRequestHeader('Accept', 'application/json');
        x.onloadend = done;
        x.send();
      });
      await fetch('http://elsewhere.test/x').catch(() => {});
    });
    const me = seen.find((s) => s.url.endsWith('/api/v1/me'));
    const flows = seen.find((s) => s.url.endsWith('/api/v1/flows'));
    const other = seen.find((s) => s.url.startsWith('http://elsewhere.test/'));
    for (const s of [me, flows]) {
      assert.equal(s.headers['x-tab-id'], tab, s.url);
      assert.equal(s.headers['x-socket-id'], socket, s.url);
    }
    assert.equal(other.headers['x-tab-id'], undefined);
    assert.equal(other.headers['x-socket-id'], undefined);

    // One id per tab: kept across a reload, another in another tab.
    await page.reload();
    assert.equal(await page.evaluate(() => RecordSync.tabId()), tab);
    const page2 = await alice.context.newPage();
    await page2.goto('/flows/3');
    assert.notEqual(await page2.evaluate(() => RecordSync.tabId()), tab);

    // The ES module form is the same kit.
    assert.equal(await page.evaluate(async () => (await import('/ws/recordsync.mjs')).default === window.RecordSync), true);
    assert.equal(await page.evaluate(async () => typeof (await import('/ws/recordsync.mjs')).watchRecord), 'function');

    // Globals: the login page with the kit vs. without it.
    const globals = async (withKit) => {
      const p = await browser.newPage({ baseURL: site('a') });
      if (!withKit) await p.route('**/ws/recordsync.js', (r) => r.abort());
      await p.goto('/login');
      await p.waitForLoadState('load');
      const keys = await p.evaluate(() => Object.keys(window));
      await p.close();
      return keys;
    };
    const without = new Set(await globals(false));
    const added = (await globals(true)).filter((k) => !without.has(k));
    assert.deepEqual(added, ['RecordSync']);
    assert.equal(await page.evaluate(() => RecordSync.config().pollInterval), 30000);
    noProblems(alice);
  } finally { await closeAll(); }
});

test('1. dirty editor + other user saves → banner with the other user\'s name, the fields and the time', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com');
    await openFlow(alice.page, 1);
    await openFlow(bob.page, 1);
    await dirty(bob.page);
    const version = await saveFlow(alice.page, 'Onboarding, revised by Alice');

    const b = banner(bob.page);
    await b.waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await b.getAttribute('role'), 'alert');
    // The fields come with the event (changed_fields), named by the form's labels.
    await b.locator('.recordsync-field').first().waitFor({ timeout: 5000 });
    assert.match(await said(b.locator('p')), new RegExp(`^Alice changed Name while you have unsaved changes\\. Saved at ${TIME}\\.$`));
    assert.equal(await b.locator('strong.recordsync-who').innerText(), 'Alice');
    assert.equal(await b.locator('strong.recordsync-field').innerText(), 'Name');
    assert.equal(await b.locator('time').getAttribute('datetime'), version);
    // Bob was typing: the alert does not take his focus (WAI-ARIA APG, Alert pattern).
    assert.equal(await focused(bob.page), 'description');
    // The page writes times as the kit does, never as a raw version.
    assert.match(await alice.page.locator('#updated-at').innerText(), new RegExp(`^${TIME}$`));
    // Both buttons are real buttons a keyboard reaches.
    for (const name of ['Reload Latest', 'Dismiss']) {
      const btn = b.getByRole('button', { name });
      assert.equal(await btn.isVisible(), true, name);
      await btn.focus();
      assert.equal(await btn.evaluate((e) => e === document.activeElement), true, `${name} takes the focus`);
    }
    // Exactly one banner and one stylesheet, however many events.
    assert.equal(await bob.page.locator('.recordsync-banner').count(), 1);
    assert.equal(await bob.page.locator('style#recordsync-style').count(), 1);
    await bob.page.locator('#description').focus();
    await bob.page.screenshot({ path: path.join(outDir, 'banner.png') });
    noProblems(alice, bob);
  } finally { await closeAll(); }
});

test('2. clean editor + other user saves → no banner (the form refreshes itself)', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com');
    await openFlow(alice.page, 1);
    await openFlow(bob.page, 1);
    const version = await saveFlow(alice.page, 'Saved while Bob only looks');
    await bob.page.waitForFunction((v) => document.querySelector('input[name=client_version]').value === v, version, { timeout: 5000 });
    assert.equal(await bob.page.inputValue('#name'), 'Saved while Bob only looks');
    await noBannerFor(bob.page, 1000);
    assert.equal(await bob.page.locator('.recordsync-banner').count(), 0, 'no banner was ever made');
    noProblems(alice, bob);
  } finally { await closeAll(); }
});

test('3. Reload Latest keeps the draft: different fields → Bob\'s change comes in, Alice\'s edit stays; her save holds both', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com');
    await openFlow(alice.page, 1);
    await openFlow(bob.page, 1);
    const stamp = Date.now() % 100000;
    await dirty(alice.page, ` — Alice ${stamp}`);
    const mine = await alice.page.inputValue('#description');
    const theirs = `Renamed by Bob ${stamp}`;
    const version = await saveFlow(bob.page, theirs);

    const b = banner(alice.page);
    await b.locator('.recordsync-field').first().waitFor({ timeout: 5000 });
    assert.match(await said(b.locator('p')), /^Bob changed Name while you have unsaved changes\./);
    await b.getByRole('button', { name: 'Reload Latest' }).click();
    const m = merge(alice.page);
    await m.waitFor({ state: 'visible', timeout: 5000 });
    await b.waitFor({ state: 'hidden', timeout: 2000 });
    // A labelled region that takes the focus (and gives it back below).
    assert.equal(await m.getAttribute('role'), 'region');
    assert.equal(await m.evaluate((e) => e === document.activeElement), true, 'the merge view has the focus');
    assert.match(await mergeTitle(alice.page), new RegExp(`^The latest version is loaded, saved by Bob at ${TIME}\\.$`));
    const text = await said(m);
    assert.match(text, /Name now shows Bob's version\./);
    assert.match(text, /Your changes to Description are kept\./);
    assert.equal(await alice.page.inputValue('#name'), theirs);
    assert.equal(await alice.page.inputValue('#description'), mine);
    assert.equal(await alice.page.inputValue('input[name=client_version]'), version, 'the next save is made on the latest version');
    assert.deepEqual(await alice.page.evaluate(() => window.flowWatch.dirtyFields()), ['description']);
    assert.equal(await alice.page.evaluate(() => window.flowWatch.isDirty()), true);
    // Escape closes it; the focus is back where Alice was typing.
    await alice.page.keyboard.press('Escape');
    await m.waitFor({ state: 'hidden', timeout: 2000 });
    assert.equal(await focused(alice.page), 'description');

    await alice.page.click('#flow-form button[type=submit]');
    await alice.page.locator('#save-status').filter({ hasText: 'Saved.' }).waitFor({ timeout: 5000 });
    const saved = await getFlow(alice.page, 1);
    assert.equal(saved.name, theirs);
    assert.equal(saved.description, mine);
    assert.equal(await alice.page.evaluate(() => window.flowWatch.isDirty()), false);
    assert.deepEqual(await drafts(alice.page), [], 'saved: no draft left');

    // Without a form, merge hands the page what the kit knows: onReload(info).
    const info = await alice.page.evaluate(async () => {
      let got = null;
      const w = RecordSync.watchRecord({
        type: 'flow', id: 1, loadedVersion: '2020-01-01T00:00:00.000000Z', merge: true, banner: false,
        dirtyFields: () => ['description'], onReload: (i) => { got = i; },
      });
      await w.reloadLatest();
      w.stop();
      return { source: got.source, name: got.latest.name, version: got.version, dirtyFields: got.dirtyFields, changedFields: got.changedFields };
    });
    assert.deepEqual(info, { source: 'reload', name: theirs, version: saved.updated_at, dirtyFields: ['description'], changedFields: null });
    noProblems(alice, bob);
  } finally { await closeAll(); }
});

test('same field changed by both → both values side by side, a choice per field; the save holds the choices', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com');
    await openFlow(alice.page, 1);
    await openFlow(bob.page, 1);
    const stamp = Date.now() % 100000;
    await alice.page.fill('#name', `Alice's name ${stamp}`);
    await alice.page.fill('#description', `Alice's description ${stamp}`);
    await bob.page.fill('#description', `Bob's description ${stamp}`);
    await saveFlow(bob.page, `Bob's name ${stamp}`);

    const b = banner(alice.page);
    await b.locator('.recordsync-field').first().waitFor({ timeout: 5000 });
    assert.match(await said(b.locator('p')), /^Bob changed Name and Description while you have unsaved changes\./);
    await b.getByRole('button', { name: 'Reload Latest' }).click();
    const m = merge(alice.page);
    await m.waitFor({ state: 'visible', timeout: 5000 });
    assert.match(await said(m), /You both changed Name and Description\. Choose which to keep:/);
    const nameRow = m.getByRole('group', { name: 'Name', exact: true });
    const descRow = m.getByRole('group', { name: 'Description', exact: true });
    assert.equal(await nameRow.locator('.recordsync-mine .recordsync-merge-value').innerText(), `Alice's name ${stamp}`);
    assert.equal(await nameRow.locator('.recordsync-theirs .recordsync-merge-whose').innerText(), "Bob's");
    assert.equal(await nameRow.locator('.recordsync-theirs .recordsync-merge-value').innerText(), `Bob's name ${stamp}`);
    assert.equal(await descRow.locator('.recordsync-theirs .recordsync-merge-value').innerText(), `Bob's description ${stamp}`);
    // Until she chooses, the form holds hers.
    assert.equal(await alice.page.inputValue('#name'), `Alice's name ${stamp}`);
    await alice.page.screenshot({ path: path.join(outDir, 'merge.png') });

    const useTheirs = nameRow.getByRole('button', { name: 'Use theirs' });
    await useTheirs.click();
    assert.equal(await useTheirs.getAttribute('aria-pressed'), 'true');
    assert.equal(await nameRow.getByRole('button', { name: 'Keep mine' }).getAttribute('aria-pressed'), 'false');
    await descRow.getByRole('button', { name: 'Keep mine' }).click();
    assert.equal(await alice.page.inputValue('#name'), `Bob's name ${stamp}`);
    assert.equal(await alice.page.inputValue('#description'), `Alice's description ${stamp}`);
    await m.getByRole('button', { name: 'Done' }).click();
    await m.waitFor({ state: 'hidden', timeout: 2000 });

    await alice.page.click('#flow-form button[type=submit]');
    await alice.page.locator('#save-status').filter({ hasText: 'Saved.' }).waitFor({ timeout: 5000 });
    const saved = await getFlow(alice.page, 1);
    assert.equal(saved.name, `Bob's name ${stamp}`);
    assert.equal(saved.description, `Alice's description ${stamp}`);
    noProblems(alice, bob);
  } finally { await closeAll(); }
});

test('4. Dismiss → banner gone, edits kept', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com');
    await openFlow(alice.page, 1);
    await openFlow(bob.page, 1);
    const before = await bob.page.inputValue('input[name=client_version]');
    await dirty(bob.page, ' — Bob keeps this');
    const mine = await bob.page.inputValue('#description');
    await saveFlow(alice.page, 'Dismiss me');
    const b = banner(bob.page);
    await b.waitFor({ state: 'visible', timeout: 5000 });
    await b.getByRole('button', { name: 'Dismiss' }).click();
    await b.waitFor({ state: 'hidden', timeout: 2000 });
    assert.equal(await bob.page.inputValue('#description'), mine);
    assert.notEqual(await bob.page.inputValue('#name'), 'Dismiss me');
    assert.equal(await bob.page.inputValue('input[name=client_version]'), before, 'still the version Bob loaded');
    assert.equal(await bob.page.evaluate(() => window.flowWatch.isDirty()), true);
    // Escape dismisses too, and a newer save shows the banner again.
    await saveFlow(alice.page, 'Dismiss me again');
    await b.waitFor({ state: 'visible', timeout: 5000 });
    await b.getByRole('button', { name: 'Dismiss' }).focus();
    await bob.page.keyboard.press('Escape');
    await b.waitFor({ state: 'hidden', timeout: 2000 });
    noProblems(alice, bob);
  } finally { await closeAll(); }
});

test('5. the same tab\'s own save → no banner (another tab of the same user gets one)', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com');
    const bob2 = { page: await bob.context.newPage(), problems: [], tenant: 'a' };
    watchProblems(bob2.page, bob2.problems);
    await openFlow(bob.page, 2);
    await openFlow(bob2.page, 2);
    await dirty(bob.page);
    await dirty(bob2.page);
    // Bob's first tab saves from its own script while its form stays dirty:
    // once as the kit sends it (X-Tab-ID and X-Socket-ID), once without its
    // socket id, so that the event reaches this tab and only the tab id tells.
    const saves = await bob.page.evaluate(async () => {
      const form = document.getElementById('flow-form');
      const out = [];
      for (const headers of [{}, { 'X-Socket-ID': '' }]) {
        const cur = await (await fetch(`/api/v1/flows/2`, { headers: { Accept: 'application/json' } })).json();
        const res = await fetch('/api/v1/flows/2', {
          method: 'PUT',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
          body: JSON.stringify({ name: form.name.value + ' (saved by script)', client_version: cur.data.updated_at }),
        });
        out.push(res.status);
      }
      return out;
    });
    assert.deepEqual(saves, [200, 200]);
    await banner(bob2.page).waitFor({ state: 'visible', timeout: 5000 });
    assert.match(await banner(bob2.page).innerText(), /^Bob (changed|saved)/);
    await noBannerFor(bob.page, 1500);
    noProblems(bob, bob2);
    void alice;
  } finally { await closeAll(); }
});

test('6. a racing save → 409 → the same view instead of an error; a reload in the middle → the draft is back', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com');
    await openFlow(alice.page, 2);
    const stamp = Date.now() % 100000;
    await dirty(alice.page, ` — racing ${stamp}`);
    const mine = await alice.page.inputValue('#description');
    const theirs = `Raced by Bob ${stamp}`;
    await bob.page.goto('/');
    const race = await importSave(bob.page, 2, { name: theirs });
    assert.equal(race.status, 200);

    const [res] = await Promise.all([
      alice.page.waitForResponse((r) => r.request().method() === 'PUT' && new URL(r.url()).pathname === '/api/v1/flows/2'),
      alice.page.click('#flow-form button[type=submit]'),
    ]);
    assert.equal(res.status(), 409);
    assert.equal(res.headers()['x-recordsync-cache'], 'hit', 'answered by recordsync, not by the app');
    const body = await res.json();
    assert.equal(body.data.updated_at, race.version);
    assert.deepEqual(body.data.changed_fields, ['name']);
    assert.deepEqual(body.data.your_fields, ['description']);
    assert.deepEqual(body.data.overlapping_fields, []);

    const m = merge(alice.page);
    await m.waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await m.evaluate((e) => e === document.activeElement), true, 'the merge view has the focus');
    assert.match(await mergeTitle(alice.page), new RegExp(`^Your changes were not saved: Bob changed Name at ${TIME}\\.$`));
    const text = await said(m);
    assert.match(text, /Name now shows Bob's version\./);
    assert.match(text, /Your changes to Description are kept\./);
    assert.match(text, /Save again to keep your changes\./);
    assert.equal(await alice.page.inputValue('#name'), theirs);
    assert.equal(await alice.page.inputValue('#description'), mine);
    assert.equal(await alice.page.inputValue('input[name=client_version]'), race.version);
    // The page's own message: the kit's time, not a raw version.
    const status = await said(alice.page.locator('#save-status'));
    assert.match(status, new RegExp(`^Not saved: Bob saved this flow at ${TIME}\\. Your edits are still in the form: check them and save again\\.$`));

    // A reload in the middle: the draft comes back, told, on the version it was merged onto.
    await alice.page.reload();
    await m.waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await mergeTitle(alice.page), 'Your unsaved changes to Description were restored.');
    assert.equal(await m.evaluate((e) => e === document.activeElement), true, 'the merge view has the focus');
    assert.equal(await m.getByRole('button', { name: 'Discard my changes' }).isVisible(), true);
    assert.equal(await alice.page.inputValue('#description'), mine);
    assert.equal(await alice.page.inputValue('#name'), theirs);
    assert.equal(await alice.page.inputValue('input[name=client_version]'), race.version);
    await m.getByRole('button', { name: 'Done' }).click();
    await m.waitFor({ state: 'hidden', timeout: 2000 });
    assert.equal(await focused(alice.page), 'description', 'the focus goes to the restored field');

    await alice.page.click('#flow-form button[type=submit]');
    await alice.page.locator('#save-status').filter({ hasText: 'Saved.' }).waitFor({ timeout: 5000 });
    const saved = await getFlow(alice.page, 2);
    assert.equal(saved.name, theirs);
    assert.equal(saved.description, mine);
    assert.deepEqual(await drafts(alice.page), []);

    // The app's own 409 says only who saved and when: the kit finds what changed by itself.
    await dirty(alice.page, ' (again)');
    const again = await importSave(bob.page, 2, { name: `${theirs} (again)` });
    await alice.page.evaluate((d) => window.flowWatch.handleConflict({ success: false, message: 'This record was changed by someone else.',
      data: { updated_at: d.version, updated_by_id: 2, updated_by_name: 'Bob' } }), again);
    await m.waitFor({ state: 'visible', timeout: 5000 });
    assert.match(await mergeTitle(alice.page), new RegExp(`^Your changes were not saved: Bob saved this record at ${TIME}\\.$`));
    assert.match(await said(m), /Name now shows Bob's version\. Your changes to Description are kept\./);
    assert.equal(await alice.page.inputValue('#name'), `${theirs} (again)`);
    assert.equal(await alice.page.inputValue('#description'), `${mine} (again)`);
    assert.equal(await alice.page.inputValue('input[name=client_version]'), again.version);
    alice.problems.splice(0, alice.problems.length, ...alice.problems.filter((p) => p !== `HTTP 409 PUT ${site('a')}/api/v1/flows/2`));
    noProblems(alice, bob);
  } finally { await closeAll(); }
});

test('drafts: Discard forgets one; whoever logs in next in the tab never sees the last person\'s', async () => {
  try {
    const alice = await person('a', 'alice@example.com', { fresh: true }); // she logs out below
    const { page } = alice;
    await openFlow(page, 3);
    const original = await page.inputValue('#description');
    await dirty(page, ' — to be discarded');
    const m = merge(page);
    await page.reload();
    await m.waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await page.inputValue('#description'), `${original} — to be discarded`);
    await m.getByRole('button', { name: 'Discard my changes' }).click();
    await m.waitFor({ state: 'hidden', timeout: 2000 });
    assert.equal(await page.inputValue('#description'), original);
    assert.equal(await page.evaluate(() => window.flowWatch.isDirty()), false);
    assert.deepEqual(await drafts(page), []);
    await page.reload();
    await page.waitForFunction(() => window.flowWatch);
    assert.equal(await m.count(), 0, 'nothing to restore');

    // A draft is left behind and the session ends without the logout form
    // (which forgets the tab's drafts): Bob logs in in the same tab.
    await dirty(page, ' — Alice left this');
    assert.equal((await drafts(page)).length, 1);
    await page.evaluate(() => fetch('/logout', { method: 'POST', headers: { 'X-CSRF-TOKEN': document.querySelector('meta[name=csrf-token]').content } }));
    await logIn(page, 'bob@example.com');
    assert.deepEqual(await drafts(page), [], 'the kit forgot the drafts of another user');
    await openFlow(page, 3);
    assert.equal(await page.inputValue('#description'), original);
    assert.equal(await m.count(), 0);
    noProblems(alice);
  } finally { await closeAll(); }
});

test('who is editing: "Bob — editing" within 1 s of his first keystroke, late joiners too; gone when he saves or leaves', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com');
    await openFlow(alice.page, 3);
    await openFlow(bob.page, 3);
    const viewers = (page) => page.evaluate(() => document.getElementById('viewers').textContent);
    await alice.page.locator('#viewers').filter({ hasText: 'Also viewing: Bob' }).waitFor({ timeout: 5000 });
    assert.equal(await viewers(alice.page), 'Also viewing: Bob');

    await bob.page.click('#description');
    const t0 = Date.now();
    await bob.page.keyboard.type('x');
    await alice.page.waitForFunction(() => document.getElementById('viewers').textContent === 'Also viewing: Bob \u2014 editing', null, { timeout: 1000 });
    const took = Date.now() - t0;
    assert.ok(took < 1000, `shown ${took} ms after the keystroke`);

    // Someone who opens the flow later hears it too (Bob says it again when a member joins).
    const carol = await person('a', 'carol@example.com');
    await openFlow(carol.page, 3);
    await carol.page.waitForFunction(() => /Bob \u2014 editing/.test(document.getElementById('viewers').textContent), null, { timeout: 2000 });
    assert.match(await viewers(carol.page), /^Also viewing: (Alice, Bob \u2014 editing|Bob \u2014 editing, Alice)$/);

    // Bob saves: no longer editing.
    await bob.page.click('#flow-form button[type=submit]');
    await bob.page.locator('#save-status').filter({ hasText: 'Saved.' }).waitFor({ timeout: 5000 });
    await alice.page.waitForFunction(() => /Bob/.test(document.getElementById('viewers').textContent) &&
      !/editing/.test(document.getElementById('viewers').textContent), null, { timeout: 1000 });

    // Editing again, then he leaves: the flag goes with him.
    await bob.page.click('#description');
    await bob.page.keyboard.type('y');
    await alice.page.waitForFunction(() => /Bob \u2014 editing/.test(document.getElementById('viewers').textContent), null, { timeout: 1000 });
    await bob.page.close();
    await alice.page.waitForFunction(() => document.getElementById('viewers').textContent === 'Also viewing: Carol', null, { timeout: 5000 });
    noProblems(alice, carol);
  } finally { await closeAll(); }
});

test('7. table: three updates in 1 s → one refresh after the throttle', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com');
    await openProject(alice.page, 1);
    await openProject(bob.page, 1);
    const loads = listLoads(bob.page, 1);
    const stamp = Date.now() % 100000;
    const saves = await putTasks(alice.page, 1, [[1, `T1 ${stamp}`], [2, `T2 ${stamp}`], [3, `T3 ${stamp}`]]);
    assert.deepEqual(saves.map((s) => s.status), [200, 200, 200]);
    assert.ok(saves[2].at - saves[0].at < 1000, `three saves in ${saves[2].at - saves[0].at} ms`);
    await rowTitle(bob.page, 3).filter({ hasText: `T3 ${stamp}` }).waitFor({ timeout: 8000 });
    await sleep(2500); // anything else would have come by now
    assert.equal(loads.length, 1, `list loads: ${loads.length}`);
    const after = loads[0] - saves[0].at;
    // The throttle starts when the first event arrives, a little after the first save's answer.
    assert.ok(after >= 2800 && after < 6000, `refreshed ${after} ms after the first save (throttle 3 s)`);
    for (const id of [1, 2, 3]) assert.equal(await rowTitle(bob.page, id).innerText(), `T${id} ${stamp}`);
    assert.equal(await prompt(bob.page).count(), 0, 'no prompt when not editing');
    noProblems(alice, bob);
  } finally { await closeAll(); }
});

test('8. table while inline-editing → prompt; Keep Editing keeps it, Reload Now refreshes', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com');
    await openProject(alice.page, 1);
    await openProject(bob.page, 1);
    const loads = listLoads(bob.page, 1);
    await rowTitle(bob.page, 4).click();
    const input = bob.page.locator('#tasks tr[data-task-id="4"] input[type=text]');
    await input.waitFor();
    await bob.page.keyboard.press('End');
    await bob.page.keyboard.type(' (Bob is editing)');
    const typed = await input.inputValue();

    const stamp = Date.now() % 100000;
    await putTasks(alice.page, 1, [[1, `P1 ${stamp}`], [2, `P2 ${stamp}`]]);
    const p = prompt(bob.page);
    await p.waitFor({ state: 'visible', timeout: 6000 });
    assert.equal(await p.getAttribute('role'), 'alert');
    assert.equal(await p.locator('p').innerText(), '2 records were updated while you\'re editing (Title changed).');
    assert.equal(loads.length, 0, 'no refresh while editing');
    assert.notEqual(await rowTitle(bob.page, 1).innerText(), `P1 ${stamp}`);
    await bob.page.screenshot({ path: path.join(outDir, 'table-prompt.png') });

    // Keep Editing: the edit stays (focus back in it), the prompt stays and keeps counting.
    await p.getByRole('button', { name: 'Keep Editing' }).click();
    assert.equal(await input.inputValue(), typed);
    assert.equal(await input.evaluate((e) => e === document.activeElement), true, 'focus back in the edit');
    await putTasks(alice.page, 1, [[3, `P3 ${stamp}`]]);
    await p.locator('p').filter({ hasText: '3 records were updated while you\'re editing (Title changed).' }).waitFor({ timeout: 5000 });
    await sleep(3500); // past another throttle: still no refresh, still editing
    assert.equal(loads.length, 0, 'no refresh while editing, after Keep Editing');
    assert.equal(await p.isVisible(), true);
    assert.equal(await input.inputValue(), typed);

    // Reload Now: the table shows everyone's saves, the prompt goes.
    await p.getByRole('button', { name: 'Reload Now' }).click();
    await rowTitle(bob.page, 3).filter({ hasText: `P3 ${stamp}` }).waitFor({ timeout: 5000 });
    assert.equal(loads.length, 1);
    for (const id of [1, 2, 3]) assert.equal(await rowTitle(bob.page, id).innerText(), `P${id} ${stamp}`);
    assert.equal(await p.isVisible(), false);
    noProblems(alice, bob);
  } finally { await closeAll(); }
});

test('table: Enter saves the inline title, and the table is not left editing', async () => {
  try {
    const bob = await person('a', 'bob@example.com');
    await openProject(bob.page, 1);
    const cell = rowTitle(bob.page, 4);
    await cell.click();
    const input = bob.page.locator('#tasks tr[data-task-id="4"] input[type=text]');
    await input.waitFor();
    const title = `Saved with Enter ${Date.now() % 100000}`;
    await input.fill(title);
    await bob.page.keyboard.press('Enter');
    await cell.filter({ hasText: title }).waitFor({ timeout: 5000 });
    assert.equal(await bob.page.locator('#tasks input[type=text]').count(), 0, 'no inline input left');
    assert.equal(await bob.page.evaluate(() => window.projectTable.isEditing()), false);
    assert.equal(await cell.evaluate((e) => e === document.activeElement), true, 'the keyboard is back on the title');
    const saved = await bob.page.evaluate(async () => (await (await fetch('/api/v1/projects/1/tasks/4', { headers: { Accept: 'application/json' } })).json()).data);
    assert.equal(saved.title, title);
    // Times are in the kit's words.
    assert.match(await bob.page.locator('#tasks tr[data-task-id="4"] td:nth-child(4)').innerText(), new RegExp(`^${TIME}$`));
    // Enter on the cell edits again; Escape ends it.
    await bob.page.keyboard.press('Enter');
    await input.waitFor();
    await bob.page.keyboard.press('Escape');
    await input.waitFor({ state: 'detached', timeout: 2000 });
    assert.equal(await bob.page.evaluate(() => window.projectTable.isEditing()), false);
    noProblems(bob);
  } finally { await closeAll(); }
});

test('9. websocket blocked → the banner still appears via polling within one poll interval', async () => {
  try {
    const pollInterval = 3000;
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com', { blockWebSocket: true, pollInterval });
    await openFlow(alice.page, 3);
    await bob.page.goto('/flows/3');
    await bob.page.waitForFunction(() => RecordSync.connection().polling === true, null, { timeout: 5000 });
    assert.equal(await bob.page.evaluate(() => RecordSync.config().pollInterval), pollInterval);
    await dirty(bob.page);
    await sleep(200);
    const t0 = Date.now();
    await saveFlow(alice.page, `Seen by polling ${t0 % 100000}`);
    await banner(bob.page).waitFor({ state: 'visible', timeout: pollInterval + 3000 });
    const took = Date.now() - t0;
    // One interval, plus the save's and the poll's own round trips.
    assert.ok(took <= pollInterval + 1500, `banner after ${took} ms (poll interval ${pollInterval} ms)`);
    assert.match(await banner(bob.page).innerText(), /^Alice (changed Name|saved this record) while you have unsaved changes/);
    const conn = await bob.page.evaluate(() => RecordSync.connection());
    assert.notEqual(conn.state, 'connected');
    assert.equal(conn.polling, true);
    // The kit says once that the websocket is down; nothing else went wrong.
    bob.problems.splice(0, bob.problems.length, ...bob.problems.filter((p) => !/WebSocket/i.test(p)));
    noProblems(alice, bob);
  } finally { await closeAll(); }
});

test('10. a user of another tenant never sees any of it', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bobA = await person('a', 'bob@example.com');
    const bobB = await person('b', 'bob@example.com');
    const tableB = await bobB.context.newPage();
    watchProblems(tableB, bobB.problems);
    await openFlow(alice.page, 1);
    await openFlow(bobA.page, 1);
    await openFlow(bobB.page, 1);       // flow 1 of tenant b: same id, another record
    await openProject(tableB, 1);
    const loadsB = listLoads(tableB, 1);
    await dirty(bobA.page);
    await dirty(bobB.page);
    const nameB = await bobB.page.inputValue('#name');

    await saveFlow(alice.page, 'Only tenant a sees this');
    await putTasks(alice.page, 1, [[1, 'Only tenant a']]);
    await banner(bobA.page).waitFor({ state: 'visible', timeout: 5000 }); // it was broadcast
    await noBannerFor(bobB.page, 4500); // past the table's throttle too
    assert.equal(loadsB.length, 0, 'tenant b\'s table did not refresh');
    assert.equal(await bobB.page.inputValue('#name'), nameB);
    assert.equal(await bobB.page.evaluate(() => RecordSync.connection().state), 'connected');
    // Nor does anyone of tenant a show in b's presence line.
    assert.equal(await bobB.page.locator('#viewers').isVisible(), false);
    noProblems(alice, bobA, bobB);
  } finally { await closeAll(); }
});

test('11. presence: the editor shows who else is viewing the record', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com');
    await openFlow(alice.page, 3);
    const viewers = alice.page.locator('#viewers');
    assert.equal(await viewers.isVisible(), false, 'nobody else yet');
    await openFlow(bob.page, 3);
    await viewers.filter({ hasText: 'Also viewing: Bob' }).waitFor({ timeout: 5000 });
    assert.equal(await bob.page.locator('#viewers').innerText(), 'Also viewing: Alice');
    // A second tab of Bob's is still one Bob; closing both makes him leave.
    const bob2 = await bob.context.newPage();
    await openFlow(bob2, 3);
    await sleep(300);
    assert.equal(await viewers.innerText(), 'Also viewing: Bob');
    await bob.page.close();
    await sleep(500);
    assert.equal(await viewers.innerText(), 'Also viewing: Bob');
    await bob2.close();
    await viewers.waitFor({ state: 'hidden', timeout: 5000 });
    noProblems(alice, bob);
  } finally { await closeAll(); }
});

// ---------------------------------------------------------------------------
// Beyond the eleven criteria: the kit's reconnect catch-up and its Echo mode.

test('reconnect: a save made while the socket was down shows once it is back (since + one poll)', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com', { pollInterval: 60000 });
    let down = false;
    const open = [];
    await bob.context.routeWebSocket(/\/ws\/app\//, (ws) => {
      if (down) { ws.close(); return; }
      ws.connectToServer();
      open.push(ws);
    });
    await openFlow(alice.page, 2);
    await openFlow(bob.page, 2);
    await dirty(bob.page);
    const polls = [];
    bob.page.on('request', (r) => { if (new URL(r.url()).pathname === '/api/v1/records/flow/2/version') polls.push(Date.now()); });

    down = true;
    for (const ws of open.splice(0)) await ws.close();
    await bob.page.waitForFunction(() => RecordSync.connection().polling === true, null, { timeout: 10000 });
    await sleep(300); // its first poll is answered (nothing new yet)
    await saveFlow(alice.page, `Saved during the gap ${Date.now() % 100000}`);
    await noBannerFor(bob.page, 1000); // polling every 60 s: not seen yet
    const pollsBefore = polls.length;

    down = false;
    const back = Date.now();
    await bob.page.waitForFunction(() => RecordSync.connection().state === 'connected', null, { timeout: 20000 });
    await banner(bob.page).waitFor({ state: 'visible', timeout: 3000 });
    assert.match(await banner(bob.page).innerText(), /^Alice (changed|saved)/);
    assert.equal(await bob.page.evaluate(() => RecordSync.connection().polling), false);
    await sleep(1000);
    assert.equal(polls.length - pollsBefore, 1, 'one catch-up poll after the reconnect');
    assert.equal(await bob.page.locator('.recordsync-banner').count(), 1);
    void back;
    noProblems(alice);
  } finally { await closeAll(); }
});

test('Echo: with window.Echo (laravel-echo + pusher-js) the kit uses it', async () => {
  try {
    const alice = await person('a', 'alice@example.com');
    const bob = await person('a', 'bob@example.com');
    const dir = path.dirname(new URL(import.meta.url).pathname);
    // One init script (Playwright may wrap each in a function, so the IIFE's
    // top-level `var Echo` is local to it): pusher-js, laravel-echo, and the
    // app's usual `window.Echo = new Echo({...})`.
    const read = (f) => fs.readFileSync(path.join(dir, 'node_modules', f), 'utf8');
    await bob.context.addInitScript({
      content: `${read('pusher-js/dist/web/pusher.min.js')}\n;${read('laravel-echo/dist/echo.iife.js')}\n;` +
        `window.Echo = new Echo.default({ broadcaster: 'reverb', key: ${JSON.stringify(env('RS_APP_KEY'))}, ` +
        `wsHost: location.hostname, wsPort: Number(location.port), wssPort: Number(location.port), ` +
        `wsPath: '/ws', forceTLS: false, enabledTransports: ['ws'] });`,
    });
    await openFlow(alice.page, 3);
    await openFlow(bob.page, 3);
    const conn = await bob.page.evaluate(() => RecordSync.connection());
    assert.equal(conn.transport, 'echo');
    assert.equal(await bob.page.evaluate(() => RecordSync.socketId() === window.Echo.socketId()), true);
    await alice.page.locator('#viewers').filter({ hasText: 'Also viewing: Bob' }).waitFor({ timeout: 5000 });
    await bob.page.locator('#viewers').filter({ hasText: 'Also viewing: Alice' }).waitFor({ timeout: 5000 });
    // Who is editing, both ways: Echo's whisper out, Echo's listenForWhisper in.
    await dirty(alice.page, ' (Alice types)');
    await bob.page.locator('#viewers').filter({ hasText: 'Also viewing: Alice \u2014 editing' }).waitFor({ timeout: 2000 });
    await dirty(bob.page);
    await alice.page.locator('#viewers').filter({ hasText: 'Also viewing: Bob \u2014 editing' }).waitFor({ timeout: 2000 });
    await saveFlow(alice.page, `Seen through Echo ${Date.now() % 100000}`);
    await banner(bob.page).waitFor({ state: 'visible', timeout: 5000 });
    assert.match(await banner(bob.page).innerText(), /^Alice (changed|saved)/);
    // Bob's own save (X-Socket-ID is Echo's socket): no banner for Alice's clean editor either way, none for Bob.
    await banner(bob.page).getByRole('button', { name: 'Reload Latest' }).click();
    await dirty(bob.page);
    const [put] = await Promise.all([
      bob.page.waitForRequest((r) => r.method() === 'PUT'),
      bob.page.click('#flow-form button[type=submit]'),
    ]);
    assert.equal(put.headers()['x-socket-id'], await bob.page.evaluate(() => window.Echo.socketId()));
    await bob.page.locator('#save-status').filter({ hasText: 'Saved.' }).waitFor({ timeout: 5000 });
    await noBannerFor(bob.page, 1500);
    noProblems(alice, bob);
  } finally { await closeAll(); }
});
