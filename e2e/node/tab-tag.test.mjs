// The browser kit's tab tag in Debian's Chromium (playwright-core), against
// the REAL example Laravel app behind Caddy with recordsync, on a plain-http
// origin that is not localhost (no secure context, so no crypto.subtle):
// recordsync's events carry, as tab_id, the first 32 hex digits of the
// SHA-256 of the saving tab's X-Tab-ID, and the kit ignores only the events
// that carry its own tab's tag. A subscriber who saves with the tab_id it
// saw as its X-Tab-ID does not make that tab ignore the save. Started by
// TestBrowserTabTag in e2e/security_events_test.go with RS_PORT and
// RS_CHROMIUM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chromium } from 'playwright-core';
import { env, logIn } from './lib.mjs';

const port = Number(env('RS_PORT'));
const executablePath = env('RS_CHROMIUM', '/usr/bin/chromium');
// Tenant "a" of the example app (the host's first label), on a name that
// is not localhost: a plain-http page there is not a secure context.
const site = `http://a.rs-tabs.test:${port}`;
const tag = (id) => createHash('sha256').update(id).digest('hex').slice(0, 32);

let browser;
const contexts = [];

before(async () => {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP *.rs-tabs.test 127.0.0.1'],
  });
});
after(async () => {
  for (const c of contexts.splice(0)) await c.close().catch(() => {});
  if (browser) await browser.close();
});

// person logs in as email in a browser context of its own (its own
// cookies: one person) and returns {page, problems}.
async function person(email) {
  const context = await browser.newContext({ baseURL: site });
  contexts.push(context);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (/^Failed to load resource/.test(m.text())) return;
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`); });
  await logIn(page, email);
  return { page, problems };
}

// openFlow opens the flow editor and waits until the kit is subscribed.
async function openFlow(page, id) {
  await page.goto(`/flows/${id}`);
  await page.waitForFunction((id) => {
    const c = window.RecordSync && window.RecordSync.connection();
    return c && c.state === 'connected' && c.subscribed.includes(`private-record.flow.${id}`);
  }, id, { timeout: 10000 });
}

// putFlow saves flow 1 from page's script with tab as its X-Tab-ID (the
// kit adds X-Socket-ID: the page's own socket gets no copy).
async function putFlow(page, tab, name) {
  return page.evaluate(async ({ tab, name }) => {
    const cur = await (await fetch('/api/v1/flows/1', { headers: { Accept: 'application/json' } })).json();
    const res = await fetch('/api/v1/flows/1', {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-Tab-ID': tab },
      body: JSON.stringify({ name, client_version: cur.data.updated_at }),
    });
    return res.status;
  }, { tab, name });
}

const banner = (page) => page.locator('.recordsync-banner');

test("a subscriber who saves with another tab's tab_id as X-Tab-ID does not make that tab ignore the save", async () => {
  const alice = await person('alice@example.com');
  const bob = await person('bob@example.com');
  await openFlow(alice.page, 1);
  await openFlow(bob.page, 1);

  // No secure context: the kit's own SHA-256 makes the tag.
  const a = await alice.page.evaluate(() => ({
    secure: window.isSecureContext, subtle: !!(window.crypto && window.crypto.subtle),
    id: RecordSync.tabId(), tag: RecordSync.tabTag(),
  }));
  assert.equal(a.secure, false);
  assert.equal(a.subtle, false);
  assert.match(a.id, /^tab_[0-9a-f]{24}$/);
  assert.equal(a.tag, tag(a.id));

  // Bob records every record.updated of flow 1 his page's socket receives.
  await bob.page.evaluate(() => {
    window.seenEvents = [];
    RecordSync.watchRecord({ type: 'flow', id: 1, loadedVersion: '', isDirty: () => false, banner: false,
      onUpdate: (ev, info) => { if (info.source === 'socket') window.seenEvents.push(ev); } });
  });
  const seen = () => bob.page.evaluate(() => window.seenEvents);

  // Alice saves: Bob sees her tab's tag, never her tab's id.
  await alice.page.fill('#name', 'Saved by Alice');
  await alice.page.click('#flow-form button[type=submit]');
  await alice.page.waitForFunction(() => document.getElementById('save-status').textContent === 'Saved.', null, { timeout: 10000 });
  await bob.page.waitForFunction(() => window.seenEvents.length >= 1, null, { timeout: 5000 });
  const [fromAlice] = await seen();
  assert.equal(fromAlice.updated_by_name, 'Alice');
  assert.equal(fromAlice.tab_id, a.tag);
  assert.ok(!JSON.stringify(fromAlice).includes(a.id), "Alice's tab id reached Bob");

  // Alice has unsaved edits.
  await alice.page.click('#description');
  await alice.page.keyboard.press('End');
  await alice.page.keyboard.type(' (Alice is still editing)');

  // Control: a save carrying Alice's tab id itself (which only her tab and
  // the server ever see; the test hands it over) is taken by her tab for
  // its own: the kit's tag and recordsync's agree.
  assert.equal(await putFlow(bob.page, a.id, 'Saved with the id itself'), 200);
  const shownEarly = await alice.page.locator('.recordsync-banner:visible').waitFor({ timeout: 1500 }).then(() => true, () => false);
  assert.equal(shownEarly, false, 'a save carrying the tab id itself showed a banner in that tab');

  // Bob saves with the tab_id he saw as his X-Tab-ID: Alice is told.
  assert.equal(await putFlow(bob.page, fromAlice.tab_id, 'Saved by Bob posing as Alice'), 200);
  const b = banner(alice.page);
  await b.waitFor({ state: 'visible', timeout: 5000 });
  assert.match(await b.innerText(), /^Bob (changed Name|saved this record) while you have unsaved changes/);
  assert.equal(await alice.page.evaluate(() => window.flowWatch.isDirty()), true);

  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
});
