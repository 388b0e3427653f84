// The example app's Inertia page Flows/Edit (GET /inertia/flows/{id},
// examples/laravel/app/Http/Controllers/InertiaFlowController.php), written
// once for both clients: inertia-3.jsx hands it @inertiajs/react 3.x,
// inertia-2.jsx the 2.x one. e2e/node/inertia.test.mjs bundles each with
// esbuild into the folder recordsync's site serves at /build/ (the root view
// loads /build/inertia-{major}.js), and reads from the DOM and from
// window.flowPage what the page shows and hears.
//
// It is an Inertia page as an app writes one: useForm({name, description,
// client_version}) and form.put(); Echo on window, as Laravel's
// resources/js/bootstrap.js sets it, against recordsync's websocket; and the
// recordsync kit's one line, RecordSync.inertia(router), so that the kit's
// conflict view can reload the record's props.
import { useEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';

const FIELDS = ['name', 'description'];
// A time as the kit writes it (the raw version without the kit).
const time = (v) => (window.RecordSync ? window.RecordSync.formatTime(v) : v);

// What the page heard and how it is doing, for the test: window.flowPage.
const state = (window.flowPage = { major: 0, heard: [], subscribed: [], saved: 0 });

// Echo as resources/js/bootstrap.js makes it, with recordsync's key (the
// kit's, which recordsync fills in) and its websocket under /ws. The kit
// takes window.Echo as its transport, so X-Socket-ID names this socket.
function startEcho() {
  const key = window.RecordSync && window.RecordSync.config().key;
  if (!key) return null;
  window.Echo = new Echo({
    broadcaster: 'reverb',
    key,
    wsHost: location.hostname,
    wsPort: Number(location.port) || 80,
    wssPort: Number(location.port) || 443,
    wsPath: '/ws',
    forceTLS: false,
    enabledTransports: ['ws'],
    authEndpoint: '/broadcasting/auth',
    Pusher,
  });
  return window.Echo;
}

// useHeard: the record.updated events on the flow's channel, as Echo gets
// them (every one the hub sends this socket: the kit's filters are not in
// the way).
function useHeard(id) {
  const [heard, setHeard] = useState([]);
  useEffect(() => {
    if (!window.Echo) return undefined;
    const name = `record.flow.${id}`;
    const channel = window.Echo.private(name);
    channel.subscribed(() => { if (!state.subscribed.includes(name)) state.subscribed.push(name); });
    const listener = (e) => {
      state.heard.push(e);
      setHeard((h) => [...h, e]);
    };
    channel.listen('.record.updated', listener);
    return () => {
      channel.stopListening('.record.updated', listener);
      state.subscribed = state.subscribed.filter((n) => n !== name);
    };
  }, [id]);
  return heard;
}

function makeEdit({ useForm, Link, major }) {
  return function Edit({ flow, errors, auth }) {
    const form = useForm({ name: flow.name, description: flow.description ?? '', client_version: flow.updated_at });
    const [status, setStatus] = useState('');
    const heard = useHeard(flow.id);

    // The kit on the record: it starts its transport (Echo) and so names
    // this socket in X-Socket-ID on the page's requests.
    const version = useRef(flow.updated_at);
    version.current = flow.updated_at;
    useEffect(() => {
      if (!window.RecordSync) return undefined;
      const watch = window.RecordSync.watchRecord({ type: 'flow', id: flow.id, loadedVersion: () => version.current, banner: false });
      return () => watch.stop();
    }, [flow.id]);

    // A newer flow in the props (the page the save's redirect led to, a
    // reload): the version moves, the fields the person did not touch take
    // the new values, what they typed stays.
    const shown = useRef(flow);
    useEffect(() => {
      const was = shown.current;
      shown.current = flow;
      if (was === flow) return;
      const next = { ...form.data, client_version: flow.updated_at };
      for (const f of FIELDS) if (form.data[f] === (was[f] ?? '')) next[f] = flow[f] ?? '';
      form.setData(next);
    }, [flow]);

    function save(e) {
      e.preventDefault();
      setStatus('');
      form.put(`/inertia/flows/${flow.id}`, {
        onSuccess: () => { state.saved++; setStatus('Saved.'); },
      });
    }

    const shownErrors = { ...errors, ...form.errors };
    return (
      <main data-major={major}>
        <h1>Flow {flow.id} <small>(Inertia {major}, {auth.user ? auth.user.name : 'nobody'})</small></h1>
        <p id="flow-name">{flow.name}</p>
        <p className="meta">
          Last saved <time id="updated-at" dateTime={flow.updated_at}>{time(flow.updated_at)}</time> by{' '}
          <span id="updated-by">{flow.updated_by_name}</span>.
        </p>
        <form id="flow-form" autoComplete="off" onSubmit={save}>
          <input type="hidden" name="client_version" value={form.data.client_version} />
          <label htmlFor="name">Name</label>
          <input id="name" name="name" type="text" value={form.data.name} onChange={(e) => form.setData('name', e.target.value)} />
          {shownErrors.name && <p className="error" id="error-name">{shownErrors.name}</p>}
          <label htmlFor="description">Description</label>
          <textarea id="description" name="description" value={form.data.description}
            onChange={(e) => form.setData('description', e.target.value)} />
          {shownErrors.description && <p className="error" id="error-description">{shownErrors.description}</p>}
          {shownErrors.client_version && <p className="error" id="error-client_version" role="alert">{shownErrors.client_version}</p>}
          <button type="submit" disabled={form.processing}>Save</button>
          <p id="save-status" role="status">{status}</p>
        </form>
        <nav>
          {[1, 2, 3].map((id) => <Link key={id} id={`link-${id}`} href={`/inertia/flows/${id}`}>Flow {id}</Link>)}
        </nav>
        <h2>Heard</h2>
        <ul id="heard">
          {heard.map((e, i) => (
            <li key={i} data-by={e.updated_by_name} data-fields={(e.changed_fields || []).join(',')}>
              {e.updated_by_name} changed {(e.changed_fields || []).join(', ') || 'nothing'} at {time(e.updated_at_iso)}
            </li>
          ))}
        </ul>
      </main>
    );
  };
}

// startInertia starts the app with one client's createInertiaApp, useForm,
// Link and router.
export function startInertia({ createInertiaApp, useForm, Link, router, major }) {
  state.major = major;
  startEcho();
  // The kit's one line: its conflict view reloads the record through this router.
  if (window.RecordSync) window.RecordSync.inertia(router);
  const Edit = makeEdit({ useForm, Link, major });
  createInertiaApp({
    resolve: (name) => {
      if (name !== 'Flows/Edit') throw new Error(`no page ${name}`);
      return Edit;
    },
    setup({ el, App, props }) {
      createRoot(el).render(<App {...props} />);
    },
    progress: false,
  });
}
