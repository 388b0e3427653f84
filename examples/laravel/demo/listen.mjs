// Watch record events of the demo from a terminal, as a logged-in user, with
// the real Laravel Echo + pusher-js (from e2e/node/node_modules):
//
//   node examples/laravel/demo/listen.mjs --port 8080 --key <REVERB_APP_KEY> bob@example.com record.flow.1 [project.1 ...]
//
// It logs in through the app (session cookie + CSRF token), subscribes
// Echo.private(channel) for each channel (authorised by the app's
// /broadcasting/auth and routes/channels.php) and prints every record.updated
// and task.updated. --host picks the tenant (default a.localhost: tenant a;
// *.localhost is resolved to 127.0.0.1 here, as browsers do).
import dns from 'node:dns';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

// Resolve *.localhost to loopback as browsers do (glibc may not).
const systemLookup = dns.lookup;
dns.lookup = (hostname, options, callback) => {
  if (typeof options === 'function') [callback, options] = [options, {}];
  if (!/(^|\.)localhost$/i.test(hostname)) return systemLookup(hostname, options, callback);
  if (options?.all) return process.nextTick(callback, null, [{ address: '127.0.0.1', family: 4 }]);
  return process.nextTick(callback, null, '127.0.0.1', 4);
};

// The npm clients the end-to-end tests install (scripts/install-deps.sh).
const modules = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../e2e/node/node_modules');
let Pusher, Echo;
try {
  Pusher = (await import(pathToFileURL(path.join(modules, 'pusher-js/dist/node/pusher.js')))).default;
  Echo = (await import(pathToFileURL(path.join(modules, 'laravel-echo/dist/echo.js')))).default;
} catch (e) {
  console.error(`pusher-js / laravel-echo not found in ${modules} (${e.message}): run scripts/install-deps.sh`);
  process.exit(1);
}

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const [, v] = args.splice(i, 2);
  return v;
};
const host = opt('host', 'a.localhost');
const port = Number(opt('port', '8080'));
const key = opt('key', process.env.REVERB_APP_KEY);
const password = opt('password', 'secret');
const [email, ...channels] = args;
if (!email || channels.length === 0 || !key) {
  console.error('usage: node listen.mjs --port PORT --key APP_KEY [--host HOST] EMAIL CHANNEL...');
  process.exit(2);
}
const base = `http://${host}:${port}`;

// A browser sends the session cookie with pusher-js's auth request itself;
// pusher-js's Node XMLHttpRequest refuses a Cookie header unless told.
const createXHR = Pusher.Runtime.createXHR.bind(Pusher.Runtime);
Pusher.Runtime.createXHR = () => {
  const xhr = createXHR();
  xhr.setDisableHeaderCheck?.(true);
  return xhr;
};

const cookies = new Map();
async function request(p, init = {}) {
  const res = await fetch(base + p, {
    ...init,
    redirect: 'manual',
    headers: { Accept: 'application/json', Cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '), ...init.headers },
  });
  for (const sc of res.headers.getSetCookie()) {
    const [pair] = sc.split(';');
    const i = pair.indexOf('=');
    cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
  }
  return res;
}

await request('/login', { headers: { Accept: 'text/html' } });
const login = await request('/login', {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', 'X-XSRF-TOKEN': decodeURIComponent(cookies.get('XSRF-TOKEN') || '') },
  body: JSON.stringify({ email, password }),
});
if (login.status !== 200) {
  console.error(`login as ${email} failed: ${login.status} ${await login.text()}`);
  process.exit(1);
}
const csrf = (await login.json()).data.csrf_token;

const echo = new Echo({
  broadcaster: 'reverb',
  key,
  wsHost: host,
  wsPort: port,
  wssPort: port,
  wsPath: '/ws',
  forceTLS: false,
  enabledTransports: ['ws'],
  authEndpoint: `${base}/broadcasting/auth`,
  auth: { headers: { Cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '), 'X-CSRF-TOKEN': csrf } },
  Pusher,
});
echo.connector.pusher.connection.bind('connected', () => console.log(`connected as ${email}, socket ${echo.socketId()}`));
for (const ch of channels) {
  echo.private(ch)
    .subscribed(() => console.log(`subscribed private-${ch}`))
    .error((e) => console.log(`private-${ch} refused: ${JSON.stringify(e)}`))
    .listen('.record.updated', (e) => console.log(`record.updated on ${ch}: ${JSON.stringify(e)}`))
    .listen('.task.updated', (e) => console.log(`task.updated on ${ch}: ${JSON.stringify(e)}`));
}
process.on('SIGINT', () => { echo.disconnect(); process.exit(0); });
