// Shared helpers for the end-to-end client tests. The Go tests start Caddy
// (and whatever upstream the scenario needs) and pass its addresses in the
// environment; these scripts drive the real npm clients against it.
import Pusher from 'pusher-js';
import Echo from 'laravel-echo';

export const env = (name, fallback) => {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    throw new Error(`missing environment variable ${name}`);
  }
  return v;
};

// makeEcho connects Laravel Echo the way a Laravel frontend does with
// recordsync: broadcaster 'reverb', wsPath '/ws', the site as wsHost.
export function makeEcho({ host = env('RS_HOST'), port = Number(env('RS_PORT')), key = env('RS_APP_KEY'), headers = {}, authorizer } = {}) {
  const options = {
    broadcaster: 'reverb',
    key,
    wsHost: host,
    wsPort: port,
    wssPort: port,
    wsPath: '/ws',
    forceTLS: false,
    enabledTransports: ['ws'],
    authEndpoint: `http://${host}:${port}/broadcasting/auth`,
    auth: { headers },
    Pusher,
  };
  if (authorizer) options.authorizer = authorizer;
  return new Echo(options);
}

// connected resolves with the socket id once Echo's connection is up.
export function connected(echo, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const conn = echo.connector.pusher.connection;
    if (conn.state === 'connected') return resolve(echo.socketId());
    const t = setTimeout(() => reject(new Error(`not connected after ${timeoutMs} ms (state ${conn.state})`)), timeoutMs);
    conn.bind('connected', () => { clearTimeout(t); resolve(echo.socketId()); });
  });
}

// subscribed resolves when the channel's subscription succeeded and rejects on
// its error (Echo's .error()).
export function subscribed(channel, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not subscribed after ${timeoutMs} ms`)), timeoutMs);
    channel.subscribed(() => { clearTimeout(t); resolve(); });
    channel.error((err) => { clearTimeout(t); reject(Object.assign(new Error('subscription error'), { detail: err })); });
  });
}

// collector gathers the events a listener receives.
export function collector() {
  const events = [];
  const waiters = [];
  return {
    events,
    push(e) {
      events.push(e);
      for (const w of waiters.splice(0)) w();
    },
    async waitFor(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`got ${events.length} events, want ${n}`);
        await new Promise((r) => { const t = setTimeout(r, left); waiters.push(() => { clearTimeout(t); r(); }); });
      }
      return events;
    },
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// logIn logs email in through the example app's login form in a Playwright
// page, and waits until the app's redirect home has loaded (its session
// cookie set). The form is asked for again, at most three times, when an
// answer has none; what came instead (status, address, the start of the
// page) is named in the error.
export async function logIn(page, email) {
  for (let attempt = 1; ; attempt++) {
    const res = await page.goto('/login');
    try {
      await page.waitForSelector('#email', { timeout: 15000 });
      break;
    } catch (err) {
      const body = (await page.content().catch(() => '')).replace(/\s+/g, ' ').slice(0, 600);
      const what = `GET /login for ${email}: status ${res ? res.status() : 'none'} at ${page.url()}: ${body}`;
      if (attempt === 3) throw new Error(`no login form after ${attempt} tries; last ${what}`);
      console.error(`no login form (try ${attempt}): ${what}`);
    }
  }
  await page.fill('#email', email);
  await page.fill('#password', 'secret');
  await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.click('form[action="/login"] button[type=submit]')]);
}
