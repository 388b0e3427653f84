// A page built the way Laravel 11–13's React starter kit builds it: React 19,
// Echo configured with configureEcho() from @laravel/echo-react and used
// through its hooks, axios for saves. It runs in the example app's shell
// (examples/laravel/resources/views/spa.blade.php, GET /spa/echo-react), with
// recordsync as its Echo server and recordsync's browser kit loaded by the
// shell. e2e/node/hooks.test.mjs bundles it with esbuild (as Vite would,
// import.meta.env.VITE_REVERB_APP_KEY filled in) and reads what it heard
// from the DOM.
//
// ?late=MS hands the page's Echo to the kit MS milliseconds late (as the
// accessor, RecordSync.useEcho(echo)), after the kit was asked to join a
// channel: the kit must wait for it (the shell's data-transport="echo")
// rather than open a socket of its own.
import { useEffect, useState, useSyncExternalStore } from 'react';
import { createRoot } from 'react-dom/client';
import axios from 'axios';
import {
  configureEcho, echo, useConnectionStatus, useEcho, useEchoModel, useEchoPresence, useSocketId,
} from '@laravel/echo-react';

const FLOW = 1;
const page = JSON.parse(document.getElementById('page-config').textContent);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const late = Number(new URLSearchParams(location.search).get('late')) || 0;

// As resources/js/app.tsx of the starter kit, against recordsync: its
// websocket under /ws on the page's own host and port. Echo sends the
// X-CSRF-TOKEN of <meta name="csrf-token"> to /broadcasting/auth itself.
configureEcho({
  broadcaster: 'reverb',
  key: import.meta.env.VITE_REVERB_APP_KEY,
  wsHost: location.hostname,
  wsPort: Number(location.port) || 80,
  wssPort: Number(location.port) || 443,
  wsPath: '/ws',
  forceTLS: false,
  enabledTransports: ['ws'],
  authEndpoint: '/broadcasting/auth',
});

// The one line (kit/README.md, "Echo from a starter kit"): the kit uses this
// page's Echo, its one socket, for everything.
if (!late) window.RecordSync?.useEcho(echo());

// The kit's own subscription, to show it goes through this page's Echo: who
// else is on the record, as the kit sees it.
const kit = { members: [] };
const kitListeners = new Set();
window.RecordSync.join(`record.flow.${FLOW}`, {
  onChange(members) {
    kit.members = members;
    for (const fn of kitListeners) fn();
  },
});
const useKitMembers = () => useSyncExternalStore((fn) => { kitListeners.add(fn); return () => kitListeners.delete(fn); }, () => kit.members);

// ?late: the same hand-over once the kit has waited a while, with the
// accessor itself (the kit calls it when it needs the Echo).
if (late) setTimeout(() => window.RecordSync?.useEcho(echo), late);

const api = axios.create({ headers: { Accept: 'application/json', 'X-CSRF-TOKEN': csrf } });

// useSubscribed is true once Echo's channel (from a hook) is subscribed.
function useSubscribed(hook) {
  const [on, setOn] = useState(false);
  useEffect(() => {
    const ch = hook.channel();
    ch.subscribed(() => setOn(true));
    if (ch.subscription && ch.subscription.subscribed) setOn(true);
  }, [hook]);
  return on;
}

function App() {
  const socketId = useSocketId();
  const status = useConnectionStatus();
  const [records, setRecords] = useState([]);
  const [models, setModels] = useState([]);
  const [members, setMembers] = useState([]);
  const [left, setLeft] = useState([]);
  const [version, setVersion] = useState('');
  const [name, setName] = useState('');
  const [saved, setSaved] = useState('');
  const [error, setError] = useState('');
  const kitMembers = useKitMembers();

  const record = useEcho(`record.flow.${FLOW}`, '.record.updated', (e) => setRecords((l) => [...l, e]));
  const model = useEchoModel('App.Models.Flow', FLOW, ['FlowUpdated'], (e) => setModels((l) => [...l, e]));
  const presence = useEchoPresence(`record.flow.${FLOW}`);
  const ready = [useSubscribed(record) && 'record', useSubscribed(model) && 'model', useSubscribed(presence) && 'presence'].filter(Boolean);

  useEffect(() => {
    const ch = presence.channel();
    const add = (m) => setMembers((l) => [...l.filter((x) => x.id !== m.id), m]);
    ch.here((all) => setMembers(all))
      .joining(add)
      .leaving((m) => { setMembers((l) => l.filter((x) => x.id !== m.id)); setLeft((l) => [...l, m]); });
    // Subscribed already (the kit joined first): pusher-js will not say it again.
    if (ch.subscription && ch.subscription.subscribed) setMembers(Object.values(ch.subscription.members.members));
  }, [presence]);

  const load = async () => {
    const { data } = await api.get(`/api/v1/flows/${FLOW}`);
    setVersion(data.data.updated_at);
    setName((n) => n || data.data.name);
  };
  useEffect(() => { load().catch((e) => setError(String(e))); }, []);

  const save = async (e) => {
    e.preventDefault();
    setError('');
    try {
      const { data } = await api.put(`/api/v1/flows/${FLOW}`, { name, client_version: version });
      setVersion(data.data.updated_at);
      setSaved(data.data.updated_at);
    } catch (err) {
      setError(err.response ? `HTTP ${err.response.status}` : String(err));
    }
  };

  const others = (list) => list.filter((m) => String(m.id) !== String(page.user.id));
  return (
    <main style={{ font: '15px/1.5 system-ui, sans-serif', maxWidth: '46rem', margin: '1.5rem auto', padding: '0 1rem' }}>
      <h1>Flow {FLOW} with Echo's React hooks</h1>
      <p>
        {page.user.name} on tenant <code>{page.tenant}</code>. Echo <span id="status">{status}</span>, socket{' '}
        <code id="socket-id">{socketId || ''}</code>; subscribed: <span id="ready">{ready.join(' ')}</span>.
      </p>
      <form onSubmit={save}>
        <label htmlFor="name">Name</label>{' '}
        <input id="name" value={name} onChange={(e) => setName(e.target.value)} />{' '}
        <button id="save" type="submit">Save</button>{' '}
        <button id="reload" type="button" onClick={() => load().catch((e) => setError(String(e)))}>Reload</button>
        <p>Version <code id="version">{version}</code>; saved <code id="saved">{saved}</code> <span id="error">{error}</span></p>
      </form>
      <h2>Here (useEchoPresence)</h2>
      <ul id="members">{others(members).map((m) => <li key={m.id} data-id={m.id}>{m.name}</li>)}</ul>
      <p>Left: <span id="left">{left.map((m) => m.name).join(', ')}</span></p>
      <h2>The kit sees (RecordSync.join)</h2>
      <ul id="kit-members">{kitMembers.filter((m) => !m.me).map((m) => <li key={m.id}>{m.info && m.info.name}</li>)}</ul>
      <h2>record.updated (useEcho)</h2>
      <ul id="heard-record">
        {records.map((e, i) => <li key={i} data-by={e.updated_by_name} data-version={e.updated_at_iso}>{e.updated_by_name} saved at {e.updated_at_iso}</li>)}
      </ul>
      <h2>FlowUpdated (useEchoModel)</h2>
      <ul id="heard-model">
        {models.map((e, i) => <li key={i} data-id={e.model.id} data-updated-at={e.model.updated_at}>flow {e.model.id} at {e.model.updated_at}</li>)}
      </ul>
    </main>
  );
}

createRoot(document.getElementById('root')).render(<App />);
