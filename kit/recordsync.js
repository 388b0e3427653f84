/*! recordsync browser kit — https://github.com/recordsync/recordsync (kit/README.md).
 *
 * Tells a person that someone else saved the record they are editing before
 * they hit save, and keeps tables fresh. No build step, no dependency: load it
 * as a classic script (sets window.RecordSync, and nothing else global) or
 * import it as an ES module from recordsync.mjs next to it. recordsync serves
 * both at {ws_path}/recordsync.js and {ws_path}/recordsync.mjs with its app
 * key and ws_path filled in below.
 *
 * It uses window.Echo (Laravel Echo on pusher-js) when the page has one, or
 * the Echo the page hands it with RecordSync.useEcho(echo) (@laravel/echo-react
 * and @laravel/echo-vue keep theirs in module scope), and otherwise its own
 * small Pusher-protocol v7 client to {ws_path}/app/{key}; when the websocket
 * cannot connect it polls the version endpoint.
 */
(function (root) {
  'use strict';
  if (!root || !root.document || (root.RecordSync && root.RecordSync.version)) return;

  var VERSION = '1.0.0';
  // Filled in by the server that serves this file (kit.Handler).
  var SERVER = /*recordsync:config*/{}/*recordsync:end*/;
  var doc = root.document;
  var loc = root.location;
  var script = doc.currentScript;

  // ---------------------------------------------------------------- config

  var cfg = {
    key: '',                    // the Pusher app key (recordsync's app_key); empty: poll only
    wsPath: '/ws',              // recordsync's ws_path
    wsHost: '',                 // host[:port] of the websocket; default: the page's
    authEndpoint: '/broadcasting/auth',
    versionPath: '/api/v1/records/{type}/{id}/version',
    pollInterval: 30000,        // ms between version polls while the websocket is down
    throttle: 3000,             // ms a table waits to gather updates (3000–5000)
    transport: 'auto',          // 'auto' (Echo if present, else own client) | 'echo' (only the page's Echo: waits for it) | 'pusher' | 'poll'
    connectTimeout: 10000,      // ms for a websocket to be established
    maxBackoff: 30000,          // ms, the longest wait between reconnects (before jitter)
    records: {},                // record routes by type, from recordsync: {"flow": "/api/v1/flows/{id}"}
    debug: false
  };
  var NUMERIC = { pollInterval: 1, throttle: 1, connectTimeout: 1, maxBackoff: 1 };

  function configure(o) {
    if (!o) return RecordSync;
    for (var k in o) {
      if (!Object.prototype.hasOwnProperty.call(cfg, k) || o[k] == null || o[k] === '') continue;
      if (NUMERIC[k]) { var n = Number(o[k]); if (isFinite(n) && n > 0) cfg[k] = n; }
      else if (k === 'debug') cfg[k] = o[k] === true || o[k] === 'true' || o[k] === '';
      else if (k === 'records') addRecords(o[k]);
      else cfg[k] = String(o[k]);
    }
    return RecordSync;
  }
  // addRecords takes record routes ({"flow": "/api/v1/flows/{id}"}, or that
  // as JSON from a data-records attribute); later ones win per type.
  function addRecords(r) {
    if (typeof r === 'string') { try { r = JSON.parse(r); } catch (e) { return; } }
    if (!r || typeof r !== 'object') return;
    var next = {};
    for (var t in cfg.records) next[t] = cfg.records[t];
    for (var u in r) if (typeof r[u] === 'string' && r[u]) next[u] = r[u];
    cfg.records = next;
  }
  configure(SERVER);
  if (script && script.dataset) {
    // <script src=".../recordsync.js" data-key="..." data-ws-path="/ws" data-poll-interval="30000">
    var ds = script.dataset;
    configure({
      key: ds.key, wsPath: ds.wsPath, wsHost: ds.wsHost, authEndpoint: ds.authEndpoint,
      versionPath: ds.versionPath, pollInterval: ds.pollInterval, throttle: ds.throttle,
      transport: ds.transport, records: ds.records, debug: ds.debug
    });
  }

  function log() {
    if (cfg.debug && root.console) root.console.log.apply(root.console, ['[recordsync]'].concat([].slice.call(arguments)));
  }
  function warn() {
    if (root.console) root.console.warn.apply(root.console, ['[recordsync]'].concat([].slice.call(arguments)));
  }
  function noop() {}
  function isFn(f) { return typeof f === 'function'; }
  function val(v) { return isFn(v) ? v() : v; }
  function el(x) { return typeof x === 'string' ? doc.querySelector(x) : x || null; }
  function jitter(ms, lo, hi) { return Math.round(ms * (lo + Math.random() * (hi - lo))); }

  // ------------------------------------------------------------- versions

  // parseISO reads "2026-01-01T12:00:00.123456Z" (or +02:00, or a space for
  // T) into [epoch ms of the whole seconds, nanoseconds as 9 digits].
  function parseISO(s) {
    var m = /^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?$/.exec(s);
    if (!m) return null;
    var tz = m[4] || 'Z';
    if (tz.length === 5) tz = tz.slice(0, 3) + ':' + tz.slice(3);
    var ms = Date.parse(m[1] + 'T' + m[2] + tz);
    if (isNaN(ms)) return null;
    return [ms, ((m[3] || '') + '000000000').slice(0, 9)];
  }

  // compareVersions is >0 when a is newer than b, 0 when equal, <0 when
  // older, and NaN when they cannot be ordered (then different = newer).
  function compareVersions(a, b) {
    if (a == null || b == null || a === '' || b === '') return NaN;
    a = String(a); b = String(b);
    if (a === b) return 0;
    if (/^-?\d+(\.\d+)?$/.test(a) && /^-?\d+(\.\d+)?$/.test(b)) return Number(a) - Number(b);
    var x = parseISO(a), y = parseISO(b);
    if (x && y) return x[0] !== y[0] ? x[0] - y[0] : (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0);
    return NaN;
  }
  // newer: is v newer than base? Unknown base: yes; unordered: when different.
  function newer(v, base) {
    if (v == null || v === '') return false;
    if (base == null || base === '') return true;
    var c = compareVersions(v, base);
    return isNaN(c) ? String(v) !== String(base) : c > 0;
  }
  function unquoteETag(t) {
    if (!t) return '';
    t = String(t).trim();
    if (t.slice(0, 2) === 'W/') t = t.slice(2);
    return t.charAt(0) === '"' && t.charAt(t.length - 1) === '"' ? t.slice(1, -1) : t;
  }

  // -------------------------------------------------------- tab identity

  var TAB_KEY = 'recordsync.tab_id';
  function newTabId() {
    var b = new Uint8Array(12);
    if (root.crypto && root.crypto.getRandomValues) root.crypto.getRandomValues(b);
    else for (var i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
    var s = '';
    for (var j = 0; j < b.length; j++) s += (b[j] < 16 ? '0' : '') + b[j].toString(16);
    return 'tab_' + s;
  }
  function store(id) { try { root.sessionStorage.setItem(TAB_KEY, id); } catch (e) { /* private mode */ } }
  var tabId = null;
  try { tabId = root.sessionStorage.getItem(TAB_KEY); } catch (e) { /* no storage */ }
  if (!tabId || !/^tab_[0-9a-zA-Z_-]{8,64}$/.test(tabId)) { tabId = newTabId(); store(tabId); }
  // A duplicated tab inherits its opener's sessionStorage: ask the other tabs
  // of this origin whether one already is this id, and take a new one if so.
  if (isFn(root.BroadcastChannel)) {
    try {
      var tabs = new root.BroadcastChannel('recordsync-tabs');
      tabs.onmessage = function (e) {
        var m = e.data || {};
        if (m.q === tabId) tabs.postMessage({ taken: tabId });
        else if (m.taken === tabId && !tabs.settled) { tabId = newTabId(); store(tabId); log('duplicated tab; new id', tabId); }
      };
      tabs.postMessage({ q: tabId });
      setTimeout(function () { tabs.settled = true; }, 1000);
    } catch (e) { /* ignore */ }
  }

  // sha256hex is SHA-256 (FIPS 180-4) of the UTF-8 of s, in hex. The kit
  // carries its own: crypto.subtle is missing on plain-http pages other than
  // localhost, and is asynchronous where it exists.
  var K256 = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];
  function sha256hex(s) {
    var u = unescape(encodeURIComponent(String(s))), m = [], i, j;
    for (i = 0; i < u.length; i++) m.push(u.charCodeAt(i));
    var bits = m.length * 8, hi = Math.floor(bits / 0x100000000);
    m.push(0x80);
    while (m.length % 64 !== 56) m.push(0);
    m.push(hi >>> 24, (hi >>> 16) & 255, (hi >>> 8) & 255, hi & 255,
      bits >>> 24 & 255, (bits >>> 16) & 255, (bits >>> 8) & 255, bits & 255);
    var H = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var w = [];
    function ror(x, n) { return (x >>> n) | (x << (32 - n)); }
    for (i = 0; i < m.length; i += 64) {
      for (j = 0; j < 16; j++) w[j] = (m[i + 4 * j] << 24) | (m[i + 4 * j + 1] << 16) | (m[i + 4 * j + 2] << 8) | m[i + 4 * j + 3];
      for (j = 16; j < 64; j++) {
        var x = w[j - 15], y = w[j - 2];
        w[j] = (w[j - 16] + (ror(x, 7) ^ ror(x, 18) ^ (x >>> 3)) + w[j - 7] + (ror(y, 17) ^ ror(y, 19) ^ (y >>> 10))) | 0;
      }
      var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (j = 0; j < 64; j++) {
        var t1 = (h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[j] + w[j]) | 0;
        var t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
      H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
    }
    var out = '';
    for (i = 0; i < 8; i++) out += ('0000000' + (H[i] >>> 0).toString(16)).slice(-8);
    return out;
  }
  // tabTag is what recordsync's events carry as tab_id for a save this tab
  // made: not the tab id (X-Tab-ID), which only this tab and the server see,
  // but the first 32 hex digits of its SHA-256. Another subscriber that
  // sends a tag it saw as its own X-Tab-ID gets that tag tagged again, so
  // only this tab can make itself ignore a save. Recomputed when the id
  // changes (a duplicated tab takes a new one).
  var tagOf = null, tag = '';
  function tabTag() {
    if (tagOf !== tabId) { tag = sha256hex(tabId).slice(0, 32); tagOf = tabId; }
    return tag;
  }
  function isOwnTab(t) { return t != null && t !== '' && String(t) === tabTag(); }

  // ownVersions are the versions this tab's own successful writes produced
  // (the ETag recordsync puts on them): an event or a poll carrying one of
  // them is this tab's own save, whatever its tab_id.
  var ownVersions = [];
  function noteOwnVersion(etag) {
    var v = unquoteETag(etag);
    if (!v) return;
    ownVersions.push(v);
    if (ownVersions.length > 100) ownVersions.shift();
  }
  function isOwnVersion(v) { return v != null && ownVersions.indexOf(String(v)) >= 0; }

  // ---------------------------------- X-Tab-ID / X-Socket-ID on requests

  var nativeFetch = isFn(root.fetch) ? root.fetch.bind(root) : null;
  function sameOrigin(url) {
    try { return new URL(String(url), loc.href).origin === loc.origin; } catch (e) { return false; }
  }
  function extraHeaders() {
    var h = { 'X-Tab-ID': tabId };
    var sid = socketId();
    if (sid) h['X-Socket-ID'] = sid;
    return h;
  }
  function isWrite(method) { return /^(PUT|PATCH|POST|DELETE)$/i.test(method || ''); }

  if (nativeFetch) {
    root.fetch = function (input, init) {
      var isReq = typeof root.Request === 'function' && input instanceof root.Request;
      var url = isReq ? input.url : input;
      if (!sameOrigin(url)) return nativeFetch.apply(root, arguments);
      var headers;
      try {
        headers = new root.Headers((init && init.headers) || (isReq ? input.headers : undefined));
        var add = extraHeaders();
        for (var k in add) if (!headers.has(k)) headers.set(k, add[k]);
      } catch (e) { return nativeFetch.apply(root, arguments); }
      var method = (init && init.method) || (isReq ? input.method : 'GET');
      var next = {};
      if (init) for (var p in init) next[p] = init[p];
      next.headers = headers;
      return nativeFetch(input, next).then(function (res) {
        if (isWrite(method) && res.ok) noteOwnVersion(res.headers.get('ETag'));
        return res;
      });
    };
  }

  var XHR = root.XMLHttpRequest;
  if (XHR && XHR.prototype) {
    var xhrState = typeof WeakMap === 'function' ? new WeakMap() : null;
    var xOpen = XHR.prototype.open, xSend = XHR.prototype.send, xSet = XHR.prototype.setRequestHeader;
    if (xhrState) {
      XHR.prototype.open = function (method, url) {
        xhrState.set(this, { same: sameOrigin(url), method: method, set: {} });
        return xOpen.apply(this, arguments);
      };
      XHR.prototype.setRequestHeader = function (name) {
        var s = xhrState.get(this);
        if (s) s.set[String(name).toLowerCase()] = true;
        return xSet.apply(this, arguments);
      };
      XHR.prototype.send = function () {
        var s = xhrState.get(this), xhr = this;
        if (s && s.same) {
          var add = extraHeaders();
          for (var k in add) if (!s.set[k.toLowerCase()]) { try { xSet.call(xhr, k, add[k]); } catch (e) { /* sent */ } }
          if (isWrite(s.method)) {
            xhr.addEventListener('load', function () {
              if (xhr.status >= 200 && xhr.status < 300) noteOwnVersion(xhr.getResponseHeader('ETag'));
            });
          }
        }
        return xSend.apply(this, arguments);
      };
    }
  }

  function csrfHeaders() {
    var m = doc.querySelector('meta[name="csrf-token"]');
    if (m && m.content) return { 'X-CSRF-TOKEN': m.content };
    var c = /(?:^|;\s*)XSRF-TOKEN=([^;]*)/.exec(doc.cookie || '');
    if (c) { try { return { 'X-XSRF-TOKEN': decodeURIComponent(c[1]) }; } catch (e) { /* bad cookie */ } }
    return {};
  }

  // ------------------------------------------------------------ channels

  // channels by full name: {name, events: {event: [fn]}, since: [fn],
  // presence: {me, members: {id: info}, watchers: [..]} | null}.
  var channels = {};
  var transport = null;   // the live transport (own client or Echo)
  var started = false;
  var polling = false;
  var pollTimer = null;
  var status = 'idle';     // idle | connecting | connected | unavailable
  var statusListeners = [];
  var records = [];        // record watchers
  var lists = [];          // list watchers

  function setStatus(s) {
    if (s === status) return;
    status = s;
    log('status', s);
    for (var i = 0; i < statusListeners.length; i++) { try { statusListeners[i](s, polling); } catch (e) { warn(e); } }
  }
  // socketId: the socket the kit's events come on; before the kit starts,
  // the socket of the Echo the page handed it (useEcho, below).
  function socketId() { return transport ? transport.socketId() : givenEchoSocketId(); }
  function fullName(name, kind) {
    if (/^(private|presence)-/.test(name)) return name;
    return (kind || 'private') + '-' + name;
  }

  function channel(name) {
    var ch = channels[name];
    if (!ch) {
      ch = channels[name] = { name: name, events: {}, since: [], presence: /^presence-/.test(name) ? { me: null, members: {}, order: [], watchers: [], editing: {} } : null };
      ensureStarted();
      if (transport) transport.subscribe(ch);
    }
    return ch;
  }
  function listen(name, event, fn) {
    var ch = channel(name);
    var first = !ch.events[event];
    (ch.events[event] = ch.events[event] || []).push(fn);
    if (first && transport && transport.listen) transport.listen(ch, event);
    return function () {
      var l = ch.events[event] || [];
      var i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
      maybeDrop(ch);
    };
  }
  function maybeDrop(ch) {
    for (var e in ch.events) if (ch.events[e].length) return;
    if (ch.since.length || (ch.presence && ch.presence.watchers.length)) return;
    delete channels[ch.name];
    if (transport) transport.unsubscribe(ch);
  }
  // dispatch hands an event to its listeners; meta is {user_id} for client
  // events on presence channels (the Pusher protocol adds the sender's id).
  function dispatch(name, event, data, meta) {
    var ch = channels[name];
    if (!ch || !ch.events[event]) return;
    var l = ch.events[event].slice();
    for (var i = 0; i < l.length; i++) { try { l[i](data, meta || {}); } catch (e) { warn('listener failed', e); } }
  }
  // whisper sends a client event (named with its "client-" prefix) on a
  // subscribed channel; false when it cannot go now.
  function whisper(ch, event, data) {
    if (!transport || !transport.whisper || !ch) return false;
    try { return transport.whisper(ch, event, data) !== false; } catch (e) { log('whisper failed', e); return false; }
  }
  function sinceOf(ch) {
    var best = null;
    for (var i = 0; i < ch.since.length; i++) {
      var v = ch.since[i]();
      if (v != null && v !== '' && (best == null || newer(v, best))) best = v;
    }
    return best;
  }

  // presence bookkeeping, shared by both transports
  function presenceSet(ch, me, ids, hash) {
    var p = ch.presence;
    if (me != null) p.me = String(me);
    p.members = {}; p.order = [];
    for (var i = 0; i < ids.length; i++) { var id = String(ids[i]); p.members[id] = hash ? hash[id] : undefined; p.order.push(id); }
    // After a resubscription, keep what is known of who is editing, for
    // those still here.
    for (var e in p.editing) if (!(e in p.members)) delete p.editing[e];
    presenceChanged(ch, 'here');
  }
  function presenceAdd(ch, id, info) {
    var p = ch.presence; id = String(id);
    if (!(id in p.members)) p.order.push(id);
    p.members[id] = info;
    presenceChanged(ch, 'joining', { id: id, info: info });
  }
  function presenceRemove(ch, id) {
    var p = ch.presence; id = String(id);
    var info = p.members[id];
    delete p.members[id];
    delete p.editing[id];
    p.order = p.order.filter(function (x) { return x !== id; });
    presenceChanged(ch, 'leaving', { id: id, info: info });
  }
  function presenceClear(ch) {
    if (!ch.presence) return;
    ch.presence.members = {}; ch.presence.order = []; ch.presence.editing = {};
    presenceChanged(ch, 'reset');
  }
  // presenceEditing notes a member's client-recordsync-editing (see
  // watchRecord): {"editing": true} from their first unsaved change until
  // they save, discard or leave.
  function presenceEditing(ch, id, on) {
    var p = ch.presence;
    if (!p || id == null || typeof on !== 'boolean') return;
    id = String(id);
    if (!!p.editing[id] === on || (on && !(id in p.members))) return;
    if (on) p.editing[id] = true; else delete p.editing[id];
    presenceChanged(ch, 'editing', { id: id, info: p.members[id], editing: on });
  }
  function membersOf(ch) {
    var p = ch.presence;
    return p.order.map(function (id) { return { id: id, info: p.members[id], me: id === p.me, editing: !!p.editing[id] }; });
  }
  function presenceChanged(ch, what, member) {
    var w = ch.presence.watchers.slice(), all = membersOf(ch);
    for (var i = 0; i < w.length; i++) { try { w[i](what, all, member); } catch (e) { warn(e); } }
  }

  // ------------------------------------------- own Pusher-protocol client

  function PusherClient() {
    var ws = null, sid = null, up = false, everUp = false, failedSinceUp = false;
    var attempt = 0, gen = 0, fatal = false;
    var reconnectTimer = null, connectTimer = null, idleTimer = null, pongTimer = null;
    var activityMs = 120000;
    // halt cancels the authorisations in flight when the client stops (their
    // socket is gone: the app or recordsync would refuse them).
    var halt = isFn(root.AbortController) ? new root.AbortController() : null;

    function url() {
      var proto = loc.protocol === 'https:' ? 'wss:' : 'ws:';
      return proto + '//' + (cfg.wsHost || loc.host) + cfg.wsPath + '/app/' + encodeURIComponent(cfg.key) +
        '?protocol=7&client=recordsync-js&version=' + VERSION + '&flash=false';
    }
    function send(msg) {
      if (ws && ws.readyState === 1) { try { ws.send(JSON.stringify(msg)); } catch (e) { /* closing */ } }
    }
    function clearTimers() {
      clearTimeout(connectTimer); clearTimeout(idleTimer); clearTimeout(pongTimer);
      connectTimer = idleTimer = pongTimer = null;
    }
    function activity() {
      clearTimeout(idleTimer); clearTimeout(pongTimer); pongTimer = null;
      idleTimer = setTimeout(function () {
        send({ event: 'pusher:ping', data: {} });
        pongTimer = setTimeout(function () { log('no pong; reconnecting'); if (ws) ws.close(); }, 30000);
      }, activityMs);
    }
    function connect() {
      clearTimeout(reconnectTimer); reconnectTimer = null;
      if (fatal || ws) return;
      setStatus(failedSinceUp ? 'unavailable' : 'connecting');
      var my = ++gen, sock;
      try { sock = new root.WebSocket(url()); } catch (e) { warn('websocket', e); lost(my, null); return; }
      ws = sock;
      connectTimer = setTimeout(function () { if (my === gen && !up) { log('connect timeout'); sock.close(); lost(my, null); } }, cfg.connectTimeout);
      sock.onmessage = function (m) { if (my === gen) message(m.data); };
      sock.onclose = function (e) { lost(my, e); };
      sock.onerror = noop; // a close follows
    }
    function lost(my, e) {
      if (my !== gen) return;
      gen++;
      var wasUp = up;
      up = false; sid = null;
      if (ws) { try { ws.onclose = ws.onmessage = null; ws.close(); } catch (x) { /* closed */ } }
      ws = null;
      clearTimers();
      for (var n in channels) { channels[n].subscribed = false; presenceClear(channels[n]); }
      var code = e && e.code;
      log('closed', code, wasUp ? '(was up)' : '(never up)');
      if (code >= 4000 && code < 4100) {
        // Pusher: do not reconnect (unknown app key, path not found, ...).
        fatal = true;
        warn('websocket refused (' + code + (e.reason ? ' ' + e.reason : '') + '); polling instead');
        setStatus('unavailable');
        setPolling(true);
        return;
      }
      if (!wasUp) { failedSinceUp = true; setStatus('unavailable'); setPolling(true); }
      else setStatus('connecting');
      var delay;
      if (wasUp) { attempt = 0; delay = code >= 4200 && code < 4300 ? jitter(500, 0.5, 1.5) : jitter(1000, 0.5, 1.5); }
      else delay = jitter(Math.min(cfg.maxBackoff, 1000 * Math.pow(2, attempt++)), 0.5, 1.5);
      reconnectTimer = setTimeout(connect, delay);
    }
    function message(raw) {
      activity();
      var msg;
      try { msg = JSON.parse(raw); } catch (e) { return; }
      var data = msg.data;
      if (typeof data === 'string') { try { data = JSON.parse(data); } catch (e) { /* plain string */ } }
      var ch = msg.channel ? channels[msg.channel] : null;
      switch (msg.event) {
        case 'pusher:connection_established':
          clearTimeout(connectTimer);
          sid = data.socket_id;
          if (data.activity_timeout) activityMs = Math.min(120, data.activity_timeout) * 1000;
          up = true;
          var gap = everUp || failedSinceUp;
          everUp = true; failedSinceUp = false; attempt = 0;
          setStatus('connected');
          activity();
          for (var n in channels) subscribe(channels[n]);
          if (polling || gap) { setPolling(false); catchUp(); }
          return;
        case 'pusher:error':
          log('pusher:error', data);
          return;
        case 'pusher:ping': send({ event: 'pusher:pong', data: {} }); return;
        case 'pusher:pong': return;
        case 'pusher_internal:subscription_succeeded':
          if (!ch) return;
          ch.subscribed = true;
          if (ch.presence && data && data.presence) presenceSet(ch, ch.me, data.presence.ids || [], data.presence.hash || {});
          return;
        case 'pusher:subscription_error':
          warn('subscription to ' + msg.channel + ' refused', data);
          return;
        case 'pusher_internal:member_added':
          if (ch && ch.presence && data) presenceAdd(ch, data.user_id, data.user_info);
          return;
        case 'pusher_internal:member_removed':
          if (ch && ch.presence && data) presenceRemove(ch, data.user_id);
          return;
        default:
          // Client events on presence channels carry the sender's user_id
          // (pusher.com/docs/channels/using_channels/events, "User ID").
          if (ch) dispatch(msg.channel, msg.event, data, msg.user_id != null ? { user_id: msg.user_id } : null);
      }
    }
    function subscribe(ch) {
      if (!up) return;
      var my = gen, name = ch.name;
      var data = { channel: name };
      var since = sinceOf(ch);
      if (since != null) data.since = since;
      if (!/^(private|presence)-/.test(name)) { send({ event: 'pusher:subscribe', data: data }); return; }
      authorize(sid, name, 0).then(function (a) {
        if (my !== gen || channels[name] !== ch) return;
        data.auth = a.auth;
        if (a.channel_data != null) {
          data.channel_data = a.channel_data;
          try { ch.me = String(JSON.parse(a.channel_data).user_id); } catch (e) { /* no user */ }
        }
        send({ event: 'pusher:subscribe', data: data });
      }, function (err) { if (my === gen) warn('cannot authorise ' + name + ': ' + err.message); });
    }
    function authorize(socket, name, tries) {
      var headers = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', 'X-Tab-ID': tabId };
      var c = csrfHeaders();
      for (var k in c) headers[k] = c[k];
      var body = 'socket_id=' + encodeURIComponent(socket) + '&channel_name=' + encodeURIComponent(name);
      return nativeFetch(cfg.authEndpoint, { method: 'POST', credentials: 'same-origin', headers: headers, body: body, signal: halt && halt.signal })
        .then(function (res) {
          if (res.status >= 500 && tries < 2) {
            return new Promise(function (r) { setTimeout(r, jitter(2000 * (tries + 1), 0.5, 1.5)); })
              .then(function () { return authorize(socket, name, tries + 1); });
          }
          if (!res.ok) throw new Error('HTTP ' + res.status);
          return res.json().then(function (j) {
            if (!j || typeof j.auth !== 'string') throw new Error('the auth endpoint answered without a signature (' + JSON.stringify(j).slice(0, 80) + ')');
            return j;
          });
        });
    }
    this.socketId = function () { return up ? sid : null; };
    this.subscribe = subscribe;
    this.whisper = function (ch, event, data) {
      if (!up || !ch.subscribed) return false;
      send({ event: event, channel: ch.name, data: data });
      return true;
    };
    this.unsubscribe = function (ch) { send({ event: 'pusher:unsubscribe', data: { channel: ch.name } }); };
    function online() { if (!ws && !fatal) { attempt = 0; connect(); } }
    this.start = function () {
      connect();
      if (root.addEventListener) root.addEventListener('online', online);
    };
    // stop closes the socket for good: the page handed the kit its Echo.
    this.stop = function () {
      fatal = true; gen++; up = false; sid = null;
      if (halt) halt.abort();
      clearTimeout(reconnectTimer); reconnectTimer = null;
      clearTimers();
      if (root.removeEventListener) root.removeEventListener('online', online);
      var s = ws;
      ws = null;
      if (!s) return;
      s.onclose = s.onmessage = null;
      s.onerror = noop;
      var bye = function () { try { s.close(1000); } catch (e) { /* closed */ } };
      // Closing a socket still connecting makes browsers warn in the
      // console: such a one is closed as soon as it opens.
      if (s.readyState === 0) s.onopen = bye; else bye();
    };
  }

  // ---------------------------------------------- Laravel Echo transport

  function EchoTransport(echo) {
    var pusher = echo.connector && echo.connector.pusher;
    var conn = pusher && pusher.connection;
    var wasUp = false, lostSinceUp = false;
    var bound = {};   // channel name → Echo channel
    var stopped = false, onState = null;
    this.echo = echo;
    function short(name) { return name.replace(/^(private|presence)-/, ''); }
    // pusherChannel: pusher-js's own channel object (null: not pusher-js).
    function pusherChannel(name) {
      try { return pusher && isFn(pusher.channel) ? pusher.channel(name) || null : null; } catch (e) { return null; }
    }
    function echoChannel(ch) {
      if (bound[ch.name]) return bound[ch.name];
      var c;
      if (/^presence-/.test(ch.name)) {
        c = echo.join(short(ch.name));
        c.here(function (ms) {
          if (stopped) return;
          var me = null;
          try { me = pusher.channel(ch.name).members.myID; } catch (e) { /* older Echo */ }
          var ids = [], hash = {};
          for (var i = 0; i < ms.length; i++) { var id = String(ms[i].id != null ? ms[i].id : ms[i].user_id); ids.push(id); hash[id] = ms[i]; }
          presenceSet(ch, me, ids, hash);
        }).joining(function (m) { if (!stopped) presenceAdd(ch, m.id != null ? m.id : m.user_id, m); })
          .leaving(function (m) { if (!stopped) presenceRemove(ch, m.id != null ? m.id : m.user_id); });
      } else if (/^private-/.test(ch.name)) c = echo.private(short(ch.name));
      else c = echo.channel(ch.name);
      if (isFn(c.subscribed)) c.subscribed(function () { if (stopped) return; ch.subscribed = true; if (ch.since.length) catchUp(); });
      if (isFn(c.error)) c.error(function (err) { if (!stopped) warn('subscription to ' + ch.name + ' refused', err); });
      bound[ch.name] = c;
      // The page's own code (its Echo hooks) may have subscribed to this
      // channel before the kit did: pusher-js then says nothing more, so
      // take the subscription and the members it already has.
      var pc = pusherChannel(ch.name);
      if (pc && pc.subscribed) {
        ch.subscribed = true;
        if (ch.presence && pc.members && isFn(pc.members.each)) {
          var ids = [], hash = {};
          pc.members.each(function (m) { var id = String(m.id); ids.push(id); hash[id] = m.info; });
          presenceSet(ch, pc.members.myID, ids, hash);
        }
        if (ch.since.length) catchUp();
      }
      return c;
    }
    function bindEvent(ch, event) {
      var c = echoChannel(ch);
      // pusher-js hands client events on presence channels a second
      // argument, {user_id}.
      var fn = function (data, meta) { dispatch(ch.name, event, data, meta); };
      (ch.echoFns = ch.echoFns || {})[event] = fn;
      c.listen('.' + event, fn);
    }
    this.socketId = function () { try { return echo.socketId() || null; } catch (e) { return null; } };
    this.subscribe = function (ch) {
      echoChannel(ch);
      for (var e in ch.events) bindEvent(ch, e);
    };
    this.listen = bindEvent;
    // Echo's whisper(name, data) sends "client-" + name; pusher-js refuses
    // it (with a console warning) before the subscription succeeded.
    this.whisper = function (ch, event, data) {
      var c = bound[ch.name], pc = pusherChannel(ch.name);
      if (!c || !isFn(c.whisper) || (pc ? !pc.subscribed : !ch.subscribed)) return false;
      c.whisper(event.replace(/^client-/, ''), data);
      return true;
    };
    this.unsubscribe = function (ch) {
      var c = bound[ch.name];
      delete bound[ch.name];
      if (!c) return;
      for (var e in ch.echoFns || {}) { try { c.stopListening('.' + e, ch.echoFns[e]); } catch (x) { /* old Echo */ } }
      if (ch.presence && isFn(echo.leaveChannel)) echo.leaveChannel(ch.name);
    };
    this.start = function () {
      if (!conn || !isFn(conn.bind)) { setStatus('connected'); return; } // not pusher-js: trust it
      function state(s) {
        if (s === 'connected') {
          setStatus('connected');
          if (polling || (wasUp && lostSinceUp)) { setPolling(false); catchUp(); }
          wasUp = true; lostSinceUp = false;
        } else if (s === 'unavailable' || s === 'failed' || s === 'disconnected') {
          lostSinceUp = true;
          setStatus('unavailable');
          setPolling(true);
        } else setStatus('connecting');
      }
      onState = function (st) { if (!stopped) state(st.current); };
      conn.bind('state_change', onState);
      state(conn.state);
    };
    // stop lets go of this Echo (the page handed the kit another): the
    // kit's listeners and presence channels leave it; the connection stays,
    // it is the page's.
    this.stop = function () {
      for (var n in bound) if (channels[n]) this.unsubscribe(channels[n]);
      bound = {};
      stopped = true;
      if (onState && conn && isFn(conn.unbind)) conn.unbind('state_change', onState);
    };
  }

  // ------------------------------------------- the page's own Echo (useEcho)
  //
  // @laravel/echo-react and @laravel/echo-vue (Laravel 11–13 starter kits)
  // keep their Echo in module scope: configureEcho() sets the options and
  // echo() creates the instance on first use, never on window (their
  // src/config/index.ts). RecordSync.useEcho(echo) hands it to the kit,
  // which then subscribes through it and names its socket in X-Socket-ID
  // (what Laravel's toOthers() and recordsync skip), instead of opening a
  // second socket whose id would be the wrong one.

  var givenEcho = null;                    // an Echo, or a function returning one
  var echoWait = { timer: null, since: 0 }; // transport 'echo' waiting for one

  function isEcho(e) { return !!e && typeof e === 'object' && isFn(e.socketId) && isFn(e.private) && isFn(e.join); }
  // pageEcho: the Echo to use, or null while there is none (yet): the
  // given one (a function is asked each time: echo-react's echo() throws
  // until configureEcho() ran), else window.Echo.
  function pageEcho() {
    var e = null;
    if (givenEcho != null) { try { e = isFn(givenEcho) ? givenEcho() : givenEcho; } catch (x) { e = null; } }
    else e = root.Echo;
    return isEcho(e) ? e : null;
  }
  function givenEchoSocketId() {
    var e = givenEcho != null ? pageEcho() : null;
    try { return e ? e.socketId() || null : null; } catch (x) { return null; }
  }

  /**
   * useEcho(echoOrAccessor) makes the kit use the page's Echo for
   * everything: its subscriptions and the X-Socket-ID of its requests. It
   * takes an Echo instance or a function returning one (echo-react's and
   * echo-vue's `echo`), before or after the kit started; the kit then never
   * opens a socket of its own (one it opened already is closed).
   */
  function useEcho(x) {
    if (!isFn(x) && !isEcho(x)) throw new Error('RecordSync.useEcho: give an Echo instance or a function returning one');
    givenEcho = x;
    log('useEcho');
    if (started && cfg.transport !== 'poll') waitForEcho();
    return RecordSync;
  }
  // adoptEcho makes e the transport: the kit's channels move to it.
  function adoptEcho(e) {
    if (transport && transport.echo === e) return;
    dropTransport();
    transport = new EchoTransport(e);
    log('transport echo', givenEcho != null ? '(useEcho)' : '(window.Echo)');
    for (var n in channels) transport.subscribe(channels[n]);
    startSoon(transport);
  }
  function dropTransport() {
    var old = transport;
    transport = null;
    if (!old) return;
    old.stop();
    for (var n in channels) { channels[n].subscribed = false; presenceClear(channels[n]); }
  }
  // waitForEcho takes the page's Echo when there is one; until then (an
  // accessor before configureEcho(), window.Echo set by a later script)
  // the kit looks again every 100 ms, and after connectTimeout polls the
  // version endpoint meanwhile (every second it looks again).
  function waitForEcho() {
    clearTimeout(echoWait.timer);
    echoWait.timer = null;
    var e = pageEcho();
    if (e) { echoWait.since = 0; adoptEcho(e); return; }
    dropTransport();   // useEcho after the kit's own client started: never a second socket
    if (!echoWait.since) { echoWait.since = Date.now(); setStatus('connecting'); }
    if (!polling && Date.now() - echoWait.since >= cfg.connectTimeout) {
      warn('no Echo after ' + cfg.connectTimeout + ' ms (transport "echo": window.Echo or RecordSync.useEcho); polling meanwhile');
      setStatus('unavailable');
      setPolling(true);
    }
    echoWait.timer = setTimeout(waitForEcho, polling ? 1000 : 100);
  }
  // startSoon starts t after the current script, once, if it is still the
  // transport: watchers registered in the same tick go out with the first
  // connection.
  function startSoon(t) {
    setTimeout(function () {
      if (t !== transport || t.begun) return;
      t.begun = true;
      t.start();
    }, 0);
  }

  // ----------------------------------------------------- start, polling

  function ensureStarted() {
    if (started) return;
    started = true;
    var mode = cfg.transport;
    // Echo when the page has one (useEcho wins over all but 'poll', window.Echo
    // in 'auto'), else the kit's own client; 'echo': only the page's Echo,
    // waited for.
    if (mode !== 'poll' && givenEcho != null) mode = 'echo';
    else if (mode === 'auto') mode = root.Echo ? 'echo' : 'pusher';
    if (mode === 'echo') { waitForEcho(); return; }
    if (mode !== 'poll' && cfg.key && isFn(root.WebSocket)) transport = new PusherClient();
    log('transport', transport ? mode : 'poll');
    if (!transport) { setStatus('unavailable'); setPolling(true); return; }
    startSoon(transport);
  }

  function setPolling(on) {
    if (on === polling) return;
    polling = on;
    log(on ? 'polling every ' + cfg.pollInterval + ' ms' : 'polling stopped');
    clearTimeout(pollTimer); pollTimer = null;
    if (on) {
      pollAll();
      (function next() {
        // At most one interval apart (jitter only shortens it).
        pollTimer = setTimeout(function () { if (!polling) return; pollAll(); next(); }, jitter(cfg.pollInterval, 0.85, 1));
      })();
    }
    for (var i = 0; i < statusListeners.length; i++) { try { statusListeners[i](status, polling); } catch (e) { warn(e); } }
  }
  function pollAll() {
    for (var i = 0; i < records.length; i++) records[i].poll();
    for (var j = 0; j < lists.length; j++) lists[j].catchUp();
  }
  // catchUp runs once after a reconnect (or a late subscription): a poll of
  // every record and a refresh of idle tables, for what the gap missed.
  var catchUpTimer = null;
  function catchUp() {
    clearTimeout(catchUpTimer);
    catchUpTimer = setTimeout(pollAll, 50);
  }

  // ----------------------------------------------------------------- CSS

  var CSS = [
    '.recordsync-banner,.recordsync-prompt{position:sticky;top:0;z-index:1000;display:flex;flex-wrap:wrap;align-items:center;gap:.5em 1em;',
    'margin:0 0 1em;padding:.75em 1em;border:1px solid #d4a72c;border-radius:6px;background:#fff8c5;color:#3b2f00;',
    'font:inherit;box-shadow:0 2px 6px rgba(0,0,0,.12)}',
    '.recordsync-banner[hidden],.recordsync-prompt[hidden],.recordsync-viewers[hidden],.recordsync-merge[hidden]{display:none}',
    '.recordsync-banner p,.recordsync-prompt p{margin:0;flex:1 1 20em}',
    '.recordsync-when{white-space:nowrap}',
    '.recordsync-actions{display:flex;flex-wrap:wrap;gap:.5em}',
    '.recordsync-actions button{font:inherit;margin:0;padding:.3em .8em;border-radius:4px;border:1px solid #8c6c00;background:#fff;color:inherit;cursor:pointer}',
    '.recordsync-actions button.recordsync-primary{background:#8c6c00;border-color:#8c6c00;color:#fff}',
    '.recordsync-actions button:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}',
    '.recordsync-banner:focus,.recordsync-merge:focus{outline:3px solid #0b57d0;outline-offset:2px}',
    '.recordsync-merge{margin:0 0 1em;padding:.75em 1em;border:1px solid #0b57d0;border-radius:6px;background:#eef4ff;color:#0b1f44;font:inherit}',
    '.recordsync-merge p{margin:0 0 .5em}',
    '.recordsync-merge .recordsync-merge-title{font-weight:600}',
    '.recordsync-merge-field{margin:.5em 0 .75em;padding-top:.5em;border-top:1px solid #b7c9ee}',
    '.recordsync-merge-values{display:grid;grid-template-columns:repeat(auto-fit,minmax(14em,1fr));gap:.5em;margin:0 0 .5em}',
    '.recordsync-merge-values>div{background:#fff;border:1px solid #b7c9ee;border-radius:4px;padding:.4em .6em}',
    '.recordsync-merge-values .recordsync-merge-whose{display:block;font-size:.85em;color:#44526b}',
    '.recordsync-merge .recordsync-merge-value{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;max-height:10em;overflow:auto}',
    '.recordsync-merge-value.recordsync-empty{font-style:italic;color:#44526b}',
    '.recordsync-merge .recordsync-actions button{border-color:#0b57d0}',
    '.recordsync-merge .recordsync-actions button.recordsync-primary,.recordsync-merge .recordsync-actions button[aria-pressed=true]{background:#0b57d0;border-color:#0b57d0;color:#fff}'
  ].join('');
  function injectCSS() {
    if (doc.getElementById('recordsync-style')) return;
    var s = doc.createElement('style');
    s.id = 'recordsync-style';
    s.textContent = CSS;
    // First in <head>: the page's own rules come later and win.
    var head = doc.head || doc.documentElement;
    head.insertBefore(s, head.firstChild);
  }

  function button(label, cls, onClick) {
    var b = doc.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.className = cls;
    b.addEventListener('click', onClick);
    return b;
  }
  function place(node, container, before) {
    var c = el(container);
    if (c) { c.appendChild(node); return; }
    var b = el(before);
    if (b && b.parentNode) { b.parentNode.insertBefore(node, b); return; }
    var body = doc.body || doc.documentElement;
    body.insertBefore(node, body.firstChild);
  }
  var uidCount = 0;
  function uid(prefix) { return prefix + '-' + (++uidCount) + '-' + Math.floor(Math.random() * 1e6).toString(36); }
  function has(o, k) { return o != null && Object.prototype.hasOwnProperty.call(o, k); }
  function isEditable(e) {
    return !!(e && (e.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(e.tagName || '')));
  }

  // ------------------------------------------------------ words and times

  function plural(n, one, many) { return n === 1 ? one : many; }

  // englishList writes items as <strong class="cls">s joined the English
  // way, "A", "A and B", "A, B and C", "A, B and 3 more fields", into
  // parent (when given) and returns the same as plain text.
  function englishList(parent, items, more, cls) {
    more = more > 0 ? Math.floor(more) : 0;
    var n = items.length + (more ? 1 : 0), text = '';
    function add(s, strong) {
      text += s;
      if (!parent) return;
      if (!strong) { parent.appendChild(doc.createTextNode(s)); return; }
      var b = doc.createElement('strong');
      if (cls) b.className = cls;
      b.textContent = s;
      parent.appendChild(b);
    }
    for (var i = 0; i < items.length; i++) {
      if (i > 0) add(i === n - 1 ? ' and ' : ', ');
      add(String(items[i]), true);
    }
    if (more) add((items.length ? ' and ' : '') + more + ' more ' + plural(more, 'field', 'fields'));
    return text;
  }
  // say appends a sentence to parent: strings are text, {b} bold, {list,
  // more, cls} an englishList, {time} a <time> in formatTime's words.
  function say(parent, parts) {
    for (var i = 0; i < parts.length; i++) {
      var x = parts[i];
      if (x == null || x === '') continue;
      if (typeof x === 'string') parent.appendChild(doc.createTextNode(x));
      else if (x.list) englishList(parent, x.list, x.more, x.cls);
      else if (x.time != null) {
        var t = doc.createElement('time');
        t.dateTime = String(x.time);
        t.textContent = formatTime(x.time);
        parent.appendChild(t);
      } else if (x.b != null) {
        var s = doc.createElement('strong');
        if (x.cls) s.className = x.cls;
        s.textContent = String(x.b);
        parent.appendChild(s);
      }
    }
    return parent;
  }

  /**
   * formatTime(version) is how the kit writes a time, in the browser's
   * language and time zone: "4:12:10 PM" for today, "Dec 5, 4:12:10 PM"
   * for another day ("Dec 5, 2025, …" in another year). It reads recordsync's
   * versions ("2026-12-06T16:12:10.558933Z"), anything Date.parse reads, a
   * Date or epoch milliseconds; what it cannot read is returned as is.
   */
  function formatTime(v) {
    if (v == null || v === '') return '';
    var d;
    if (v instanceof Date) d = v;
    else if (typeof v === 'number') d = new Date(v);
    else { var p = parseISO(String(v)); d = new Date(p ? p[0] : Date.parse(String(v))); }
    if (isNaN(d.getTime())) return String(v);
    var t = d.toLocaleTimeString([], { hour: 'numeric', minute: '2-digit', second: '2-digit' });
    var now = new Date();
    if (d.toDateString() === now.toDateString()) return t;
    var o = { month: 'short', day: 'numeric' };
    if (d.getFullYear() !== now.getFullYear()) o.year = 'numeric';
    return d.toLocaleDateString([], o) + ', ' + t;
  }

  // ---------------------------------------------------------- form fields

  // Record keys that are the version and its bookkeeping, never a field a
  // person edits (nor one the banner names).
  var META_FIELDS = { id: 1, created_at: 1, updated_at: 1, updated_by: 1, updated_by_id: 1, updated_by_name: 1, client_version: 1, _token: 1, _method: 1 };
  var NOT_EDITABLE = /^(hidden|submit|button|reset|image|file|password)$/i;

  // fieldNames keeps the strings of a changed_fields list that name fields
  // (null when the list is unknown).
  function fieldNames(x) {
    if (!Array.isArray(x)) return null;
    var out = [];
    for (var i = 0; i < x.length; i++) if (typeof x[i] === 'string' && !has(META_FIELDS, x[i]) && out.indexOf(x[i]) < 0) out.push(x[i]);
    return out;
  }

  // A control is an element, or a list of radio buttons sharing a name.
  function first(c) { return c && !c.tagName && c.length != null ? c[0] : c; }
  function each(c) { return c.tagName ? [c] : [].slice.call(c); }
  function isRadios(c) { var e = first(c); return !!(e && e.type === 'radio'); }
  function resolveControl(form, x) {
    if (!x) return null;
    if (typeof x !== 'string') return x.tagName || x.length ? x : null;
    var c = form && form.elements ? form.elements.namedItem(x) : null;
    if (!c) { try { c = doc.querySelector(x); } catch (e) { c = null; } }
    if (c && !c.tagName && !isRadios(c)) c = first(c);
    return c || null;
  }

  // fieldControls maps record fields to controls: the `fields` option
  // ({field: element, selector or control name}) or else every named,
  // editable control of the form (not hidden, password, file or button
  // inputs, nor the version input).
  function fieldControls(form, fields, versionInput) {
    var out = {}, c;
    if (fields) {
      for (var f in fields) if (has(fields, f) && (c = resolveControl(form, fields[f]))) out[f] = c;
      return out;
    }
    if (!form || !form.elements) return out;
    for (var i = 0; i < form.elements.length; i++) {
      var e = form.elements[i], n = e.name;
      if (!n || has(out, n) || has(META_FIELDS, n) || n === versionInput || NOT_EDITABLE.test(e.type || '') ||
        /^(BUTTON|FIELDSET|OUTPUT|OBJECT)$/.test(e.tagName)) continue;
      c = form.elements.namedItem(n);
      out[n] = isRadios(c) ? c : e;
    }
    return out;
  }

  function nl(s) { return String(s).replace(/\r\n?/g, '\n'); }
  // readControl is a control's value as a string: a checkbox "1"/"0", a
  // multiple select its values one a line, radios the checked one's value.
  function readControl(c) {
    var e = first(c), i;
    if (!e) return '';
    if (isRadios(c)) { var rs = each(c); for (i = 0; i < rs.length; i++) if (rs[i].checked) return rs[i].value; return ''; }
    if (e.type === 'checkbox') return e.checked ? '1' : '0';
    if (e.tagName === 'SELECT' && e.multiple) {
      var v = [];
      for (i = 0; i < e.options.length; i++) if (e.options[i].selected) v.push(e.options[i].value);
      return v.join('\n');
    }
    return nl(e.value == null ? '' : e.value);
  }
  // fromRecord is a record's value as readControl would read it from c.
  function fromRecord(c, v) {
    var e = first(c);
    if (e && e.type === 'checkbox') {
      return v === true || v === 1 || v === '1' || v === 'true' || v === 'on' ||
        (e.value !== 'on' && v != null && String(v) === e.value) ? '1' : '0';
    }
    if (v == null) return '';
    if (Array.isArray(v)) return v.map(String).join('\n');
    if (typeof v === 'object') return JSON.stringify(v);
    return nl(v);
  }
  function fire(e, type) {
    var x;
    try { x = new root.Event(type, { bubbles: true }); } catch (err) { x = doc.createEvent('Event'); x.initEvent(type, true, false); }
    e.dispatchEvent(x);
  }
  // writeControl sets c to the string s (readControl's form) and fires
  // what a person's edit fires (input for text, change for the others), so
  // the page's own bindings follow. False when c already held s.
  function writeControl(c, s) {
    if (readControl(c) === s) return false;
    var e = first(c), type = 'change', i;
    if (isRadios(c)) {
      var rs = each(c);
      for (i = 0; i < rs.length; i++) { rs[i].checked = rs[i].value === s; if (rs[i].checked) e = rs[i]; }
    } else if (e.type === 'checkbox') e.checked = s === '1';
    else if (e.tagName === 'SELECT' && e.multiple) {
      var vals = s.split('\n');
      for (i = 0; i < e.options.length; i++) e.options[i].selected = vals.indexOf(e.options[i].value) >= 0;
    } else { e.value = s; if (e.tagName !== 'SELECT') type = 'input'; }
    fire(e, type);
    return true;
  }
  // displayValue is s as a person reads it in c: Yes/No, an option's text.
  function displayValue(c, s) {
    var e = first(c), i;
    if (!e) return s;
    if (e.type === 'checkbox') return s === '1' ? 'Yes' : 'No';
    if (e.tagName === 'SELECT') {
      var vals = s.split('\n'), out = [];
      for (i = 0; i < e.options.length; i++) if (vals.indexOf(e.options[i].value) >= 0) out.push(e.options[i].text);
      return out.length ? out.join(', ') : s;
    }
    if (isRadios(c)) {
      var rs = each(c);
      for (i = 0; i < rs.length; i++) if (rs[i].value === s && rs[i].labels && rs[i].labels.length) return cleanLabel(rs[i].labels[0]);
    }
    return s;
  }

  function cleanLabel(node) {
    var n = node.cloneNode(true), x = n.querySelectorAll('input,select,textarea,button,.recordsync-ui');
    for (var i = 0; i < x.length; i++) if (x[i].parentNode) x[i].parentNode.removeChild(x[i]);
    return n.textContent.replace(/\s+/g, ' ').trim().replace(/\s*[:*]+\s*$/, '');
  }
  // fieldLabel is what a person calls a field: labels[field] when the page
  // gives it, else the control's <label> (for= or wrapping; a radio group's
  // <legend>), its aria-label, else the field's name.
  function fieldLabel(field, c, labels) {
    if (labels && has(labels, field) && labels[field]) return String(labels[field]);
    var e = first(c), t = '';
    if (e) {
      if (isRadios(c) && e.closest) {
        var fs = e.closest('fieldset'), lg = fs && fs.querySelector('legend');
        if (lg) t = cleanLabel(lg);
      }
      if (!t) {
        var l = e.labels && e.labels.length ? e.labels[0] : null;
        if (!l && e.id) {
          var sel = root.CSS && isFn(root.CSS.escape) ? root.CSS.escape(e.id) : e.id.replace(/["\\]/g, '\\$&');
          l = doc.querySelector('label[for="' + sel + '"]');
        }
        if (!l && e.closest) l = e.closest('label');
        if (l) t = cleanLabel(l);
      }
      if (!t && e.getAttribute) t = (e.getAttribute('aria-label') || '').trim();
    }
    return t || String(field);
  }

  // recordRoute is the URL of a record from recordsync's routes for its
  // type ({"flow": "/api/v1/flows/{id}"}), when {id} is the route's only
  // parameter.
  function recordRoute(type, id) {
    var p = cfg.records[type];
    if (!p) return null;
    var params = p.match(/\{[^}]*\}/g) || [];
    if (!params.length) return null;
    for (var i = 0; i < params.length; i++) if (params[i] !== '{id}') return null;
    return p.replace(/\{id\}/g, encodeURIComponent(id));
  }
  // recordOf finds the record in an app's JSON answer: at path ("data",
  // "data.flow"; "" for the answer itself) when given, else the object
  // holding the version: data, then the answer itself.
  function recordOf(j, path, versionKey) {
    if (path != null) {
      var cur = j, segs = String(path) === '' ? [] : String(path).split('.');
      for (var i = 0; i < segs.length; i++) cur = cur && typeof cur === 'object' ? cur[segs[i]] : undefined;
      return cur && typeof cur === 'object' ? cur : null;
    }
    if (j && j.data && typeof j.data === 'object' && j.data[versionKey] != null) return j.data;
    if (j && typeof j === 'object' && j[versionKey] != null) return j;
    return null;
  }

  // --------------------------------------------------------------- drafts

  // A draft is what a person typed and has not saved: the changed fields'
  // values, what they were before, and the version they were made on. It
  // lives in sessionStorage (this tab only, gone with it), keyed by tenant,
  // user and record, from the first change until it is saved or discarded.
  var DRAFT_PREFIX = 'recordsync.draft|';
  function session() { try { return root.sessionStorage || null; } catch (e) { return null; } }
  function draftKey(tenant, user, type, id) {
    return DRAFT_PREFIX + [tenant, user, type, id].map(function (x) { return encodeURIComponent(String(x)); }).join('|');
  }
  /**
   * clearDrafts(keepUser) removes this tab's drafts of every user but
   * keepUser, or all of them without it. The kit calls it with the page's
   * user when it loads, so that whoever logs in next in a tab never sees
   * the last person's drafts. Returns how many went.
   */
  function clearDrafts(keepUser) {
    var s = session(), gone = [];
    if (!s) return 0;
    try {
      for (var i = 0; i < s.length; i++) {
        var k = s.key(i);
        if (!k || k.indexOf(DRAFT_PREFIX) !== 0) continue;
        var user = null;
        try { user = decodeURIComponent(k.slice(DRAFT_PREFIX.length).split('|')[1] || ''); } catch (e) { /* foreign key */ }
        if (keepUser == null || user !== String(keepUser)) gone.push(k);
      }
      for (var j = 0; j < gone.length; j++) s.removeItem(gone[j]);
    } catch (e) { /* storage refused */ }
    return gone.length;
  }
  function pageUser() {
    var m = doc.querySelector('meta[name="recordsync-user"]');
    var u = m && m.getAttribute('content');
    return u ? u : null;
  }
  if (pageUser() != null) clearDrafts(pageUser());

  // ------------------------------------------------------ record editors

  var watchedForms = typeof WeakSet === 'function' ? new WeakSet() : { add: noop, has: function () { return false; } };

  /**
   * watchRecord({type, id, loadedVersion, ...}) watches one record being
   * edited (kit/README.md has every option). loadedVersion is the version
   * the page loaded (a value or a function). With a form (or `fields`), the
   * kit tracks which fields changed, keeps them as a draft in
   * sessionStorage, and Reload Latest (and handleConflict after a 409)
   * loads the latest record and keeps the person's edits on top of it
   * (`merge`); otherwise onReload() loads the latest record into the page
   * (default: location.reload()). Returns {stop, isDirty, dirtyFields,
   * markClean(version?), markDirty, setVersion, handleConflict(body),
   * reloadLatest, discard, draft, members, bannerElement, mergeElement}.
   */
  function watchRecord(o) {
    if (!o || o.type == null || o.id == null) throw new Error('RecordSync.watchRecord: type and id are required');
    ensureStarted();
    injectCSS();
    var type = String(o.type), id = String(o.id);
    var form = el(o.form);
    if (form) watchedForms.add(form);
    var loaded = o.loadedVersion;   // value or function
    var ownLoaded = null;           // set by setVersion/markClean
    var seen = null;                // newest version seen from events or polls
    var etag = null;
    var shown = null;               // the event the banner shows
    var dismissed = null;           // the newest version dismissed
    var changed = {};               // version → event, the others' saves since the loaded version
    var dirty = false;              // input since load or markClean (without o.isDirty)
    var stopped = false;
    var applying = false;           // the kit is writing the form: not the person's input
    var lastFocus = null;           // where the person was, outside the kit's UI
    var editingNow = false;         // what this tab last announced as client-recordsync-editing
    var presence = null;
    var versionKey = o.versionField || 'updated_at';
    var versionInput = o.versionInput === undefined ? 'client_version' : o.versionInput;
    var hasFields = !!(form || o.fields);
    var mergeMode = o.merge === true || ((o.merge == null || o.merge === 'auto') && hasFields && !isFn(o.onReload));
    var user = o.user != null && o.user !== '' ? String(o.user) : pageUser();
    var tenant = o.tenant != null && o.tenant !== '' ? String(o.tenant) : loc.host;
    var draftsOn = o.drafts !== false && hasFields && user != null && !!session();
    var storeKey = draftKey(tenant, user, type, id);
    if (user != null) clearDrafts(user);

    function loadedVersion() {
      var v = ownLoaded != null ? ownLoaded : val(loaded);
      if (v == null && form && form.dataset) v = form.dataset.recordsyncVersion;
      return v == null ? null : v;
    }
    function isDirty() { return isFn(o.isDirty) ? !!o.isDirty() : dirty; }
    function recordUrl() { var u = val(o.recordUrl); return u ? String(u) : recordRoute(type, id); }
    function canMerge() { return mergeMode && !!recordUrl(); }
    function controls() { return fieldControls(form, o.fields, versionInput); }
    function labelsOf(fields, c) {
      c = c || controls();
      return fields.map(function (f) { return fieldLabel(f, c[f], o.labels); });
    }
    function inKitUI(t) { return !!(t && t.closest && t.closest('.recordsync-ui')); }

    // ---- fields: what the form showed (base) and what changed since

    var base = {};
    function snapshot() {
      var c = controls();
      base = {};
      for (var f in c) base[f] = readControl(c[f]);
    }
    function dirtyFields() {
      if (!hasFields) return isFn(o.dirtyFields) ? [].concat(o.dirtyFields() || []) : [];
      var c = controls(), out = [];
      for (var f in c) {
        var v = readControl(c[f]);
        if (!has(base, f)) base[f] = v;   // a control added since: this is its start
        else if (v !== base[f]) out.push(f);
      }
      return out;
    }
    // settle follows the values now in the form: dirty, the draft and the
    // editing announcement.
    function settle() {
      var d = dirtyFields();
      dirty = d.length > 0;
      setEditing(dirty);
      if (dirty) saveDraft(); else removeDraft();
    }

    // ---- drafts

    function readDraft() {
      if (!draftsOn) return null;
      try {
        var d = JSON.parse(session().getItem(storeKey) || 'null');
        return d && d.fields && typeof d.fields === 'object' ? d : null;
      } catch (e) { return null; }
    }
    function saveDraft() {
      if (!draftsOn || stopped) return;
      var d = dirtyFields(), c = controls(), fields = {}, was = {};
      if (!d.length) { removeDraft(); return; }
      for (var i = 0; i < d.length; i++) { fields[d[i]] = readControl(c[d[i]]); was[d[i]] = base[d[i]]; }
      try {
        session().setItem(storeKey, JSON.stringify({ version: loadedVersion(), base: was, fields: fields, at: Date.now() }));
      } catch (e) { log('draft not stored', e); }
    }
    function removeDraft() {
      if (!draftsOn) return;
      try { session().removeItem(storeKey); } catch (e) { /* storage refused */ }
    }

    // ---- editing: client-recordsync-editing on presence-record.{type}.{id}

    function setEditing(on) {
      if (on === editingNow) return;
      editingNow = on;
      sendEditing();
    }
    function sendEditing() {
      if (presence && !stopped) presence.whisper(EDITING_EVENT, { editing: editingNow });
    }

    // ---- input and focus

    var onInput = function (e) {
      if (applying || stopped || inKitUI(e.target)) return;
      if (!form && !isControl(e.target)) return;
      dirty = true;
      setEditing(true);
      saveDraft();
    };
    function isControl(t) {
      var c = controls();
      for (var f in c) if (each(c[f]).indexOf(t) >= 0) return true;
      return false;
    }
    var onReset = function () {
      dirty = false;
      setTimeout(settle, 0);   // the form's values change after the event
    };
    var inputRoot = form || (o.fields ? doc : null);
    if (inputRoot) {
      inputRoot.addEventListener('input', onInput);
      inputRoot.addEventListener('change', onInput);
      if (form) form.addEventListener('reset', onReset);
    }
    var onFocusIn = function (e) { if (e.target && e.target !== doc.body && !inKitUI(e.target) && e.target.focus) lastFocus = e.target; };
    doc.addEventListener('focusin', onFocusIn);
    if (doc.activeElement && doc.activeElement !== doc.body) lastFocus = doc.activeElement;
    function usable(e) {
      return !!(e && isFn(e.focus) && doc.contains(e) && !e.disabled && !(e.closest && e.closest('[hidden]')) && e.getClientRects().length);
    }
    // focusBack returns the focus to where the person was (or to prefer,
    // or the first field) when the kit's UI that had it closes.
    function focusBack(prefer) {
      var t = usable(lastFocus) ? lastFocus : usable(prefer) ? prefer : null;
      if (!t) {
        var c = controls();
        for (var f in c) { var e = first(c[f]); if (usable(e)) { t = e; break; } }
      }
      if (t) { try { t.focus(); } catch (e) { /* gone */ } }
    }
    var onHide = function () { if (editingNow && presence) presence.whisper(EDITING_EVENT, { editing: false }); };
    var onShow = function (e) { if (e.persisted && editingNow) sendEditing(); };
    root.addEventListener('pagehide', onHide);
    root.addEventListener('pageshow', onShow);

    // ---- the others' saves since the loaded version

    function noteChange(ev) {
      var v = String(ev.updated_at_iso), prev = changed[v];
      if (!prev || (!Array.isArray(prev.changed_fields) && Array.isArray(ev.changed_fields))) changed[v] = ev;
    }
    // summary of the saves since the loaded version (or of ev alone):
    // {names, fields, more, unknown} — unknown when a save did not say
    // which fields it changed.
    function summary(ev) {
      var s = { names: [], fields: [], more: 0, unknown: false, anonymous: false }, evs = [], lv = loadedVersion();
      for (var v in changed) if (newer(v, lv)) evs.push(changed[v]);
      if (!evs.length && ev) evs.push(ev);
      if (!evs.length) s.unknown = true;
      evs.sort(function (a, b) { var c = compareVersions(a.updated_at_iso, b.updated_at_iso); return isNaN(c) ? 0 : c; });
      for (var i = 0; i < evs.length; i++) {
        var e = evs[i], n = e.updated_by_name ? String(e.updated_by_name) : null;
        if (n == null) s.anonymous = true;
        else if (s.names.indexOf(n) < 0) s.names.push(n);
        var f = fieldNames(e.changed_fields);
        if (!f) s.unknown = true;
        else for (var j = 0; j < f.length; j++) if (s.fields.indexOf(f[j]) < 0) s.fields.push(f[j]);
        var m = Number(e.more_changed_fields);
        if (m > 0) s.more += m;
      }
      return s;
    }
    function whoParts(s) {
      if (!s.names.length) return ['Someone else'];
      return [{ list: s.names, cls: 'recordsync-who' }];
    }
    function changedParts(s, c) {
      if (s.unknown) return [' saved this record'];
      if (!s.fields.length && !s.more) return [' saved this record without changing any fields'];
      return [' changed ', { list: labelsOf(inFormOrder(s.fields, c), c), more: s.more, cls: 'recordsync-field' }];
    }
    // inFormOrder lists fields as the form shows them (the others after).
    function inFormOrder(fields, c) {
      var order = Object.keys(c || controls());
      return fields.slice().sort(function (a, b) {
        var x = order.indexOf(a), y = order.indexOf(b);
        return (x < 0 ? order.length : x) - (y < 0 ? order.length : y) || fields.indexOf(a) - fields.indexOf(b);
      });
    }

    // ---- the banner

    var banner = null, bannerText = null, bannerBtns = [];
    function ensureBanner() {
      if (banner) return banner;
      banner = doc.createElement('div');
      banner.className = 'recordsync-banner recordsync-ui';
      banner.setAttribute('role', 'alert');
      banner.setAttribute('data-recordsync-banner', type + '.' + id);
      banner.tabIndex = -1;
      banner.hidden = true;
      bannerText = doc.createElement('p');
      var actions = doc.createElement('div');
      actions.className = 'recordsync-actions';
      bannerBtns = [button('Reload Latest', 'recordsync-reload recordsync-primary', reloadLatest), button('Dismiss', 'recordsync-dismiss', dismiss)];
      actions.appendChild(bannerBtns[0]); actions.appendChild(bannerBtns[1]);
      banner.appendChild(bannerText); banner.appendChild(actions);
      banner.addEventListener('keydown', function (e) { if (e.key === 'Escape') { e.stopPropagation(); dismiss(); } });
      if (mergeEl && mergeEl.parentNode) mergeEl.parentNode.insertBefore(banner, mergeEl);
      else place(banner, o.bannerContainer, form);
      return banner;
    }
    // renderBanner: "Bob changed Name and Due date while you have unsaved
    // changes. Saved at 4:12:10 PM." ("Bob saved this record while you have
    // unsaved changes." when the save did not say which fields.)
    function renderBanner() {
      var s = summary(shown);
      bannerText.textContent = '';
      say(bannerText, whoParts(s).concat(changedParts(s), [' while you have unsaved changes. ']));
      var span = doc.createElement('span');
      span.className = 'recordsync-when';
      say(span, ['Saved at ', { time: shown.updated_at_iso }, '.']);
      bannerText.appendChild(span);
    }
    function showBanner(ev) {
      if (o.banner === false) return;
      shown = ev;
      ensureBanner();
      renderBanner();
      bannerBtns[0].disabled = bannerBtns[1].disabled = false;
      var opening = banner.hidden;
      banner.hidden = false;
      // An alert must not take the focus from someone typing (WAI-ARIA
      // APG, Alert pattern: role="alert" announces it); it takes the focus
      // only when nothing is being edited.
      if (opening && !isEditable(doc.activeElement) && !(mergeEl && mergeEl.contains(doc.activeElement))) banner.focus();
    }
    function hideBanner(noFocus) {
      shown = null;
      if (!banner || banner.hidden) return;
      var had = banner.contains(doc.activeElement);
      banner.hidden = true;
      if (had && !noFocus) focusBack();
    }
    function reloadLatest() {
      var ev = shown;
      if (bannerBtns.length) bannerBtns[0].disabled = bannerBtns[1].disabled = true;
      if (canMerge()) {
        return mergeLatest('reload', ev).then(function (info) {
          // A save newer than the one just loaded keeps its banner.
          if (!shown || !info.version || !newer(shown.updated_at_iso, info.version)) hideBanner(true);
          else if (bannerBtns.length) bannerBtns[0].disabled = bannerBtns[1].disabled = false;
          return info;
        }, function (e) {
          warn('cannot load the latest version', e);
          if (bannerBtns.length) bannerBtns[0].disabled = bannerBtns[1].disabled = false;
        });
      }
      // The page's own reload (onReload), or the page itself: a stored
      // draft comes back on top of the reloaded page.
      var own = isFn(o.onReload), p;
      try { p = own ? o.onReload(ev) : (loc.reload(), null); } catch (e) { p = Promise.reject(e); }
      return Promise.resolve(p).then(function () {
        if (!own) return;
        if (ev && !isFn(loaded)) ownLoaded = ev.updated_at_iso;
        dirty = false;
        if (hasFields) snapshot();
        removeDraft();
        setEditing(false);
        hideBanner();
      }, function (e) {
        warn('reload failed', e);
        if (bannerBtns.length) bannerBtns[0].disabled = bannerBtns[1].disabled = false;
      });
    }
    function dismiss() {
      if (shown) dismissed = shown.updated_at_iso;
      hideBanner();
    }
    // reloadClean brings a clean editor up to date without asking.
    function reloadClean(ev) {
      if (isFn(o.onReload)) {
        Promise.resolve(o.onReload(ev)).then(function () {
          if (!isFn(loaded)) ownLoaded = ev.updated_at_iso;
          if (hasFields && !isDirty()) snapshot();
        }, warn);
      } else if (canMerge()) mergeLatest('clean', ev).catch(warn);
    }

    // ---- merging the latest record with the person's edits

    // mergeLatest loads the latest record and applies it: the person's
    // changed fields stay, the others' changes come in, and fields both
    // changed are offered side by side (the merge view).
    function mergeLatest(source, ev) {
      var url = recordUrl();
      var before = dirtyFields();
      var s = summary(ev);
      if (!nativeFetch) return Promise.reject(new Error('no fetch'));
      return nativeFetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' } })
        .then(function (res) {
          if (!res.ok) throw new Error('GET ' + url + ': HTTP ' + res.status);
          return res.json();
        })
        .then(function (j) {
          var rec = recordOf(j, o.recordPath, versionKey);
          if (!rec) throw new Error('GET ' + url + ': no record with ' + versionKey + ' in the answer');
          return applyLatest(source, ev, rec, before, s);
        });
    }
    function applyLatest(source, ev, rec, before, s) {
      var version = rec[versionKey] != null ? String(rec[versionKey]) : null;
      var info = {
        source: source, event: ev || null, latest: rec, version: version,
        updatedByName: rec.updated_by_name != null ? String(rec.updated_by_name) : ev && ev.updated_by_name != null ? String(ev.updated_by_name) : null,
        changedFields: s.unknown ? null : s.fields, moreChangedFields: s.more,
        dirtyFields: before, kept: [], theirs: [], conflicts: []
      };
      if (!hasFields) {
        // No form: the page merges, with what the kit knows.
        var p;
        try { p = isFn(o.onReload) ? o.onReload(info) : null; } catch (e) { p = Promise.reject(e); }
        return Promise.resolve(p).then(function () {
          if (version != null) setVersion(version);
          if (isFn(o.onMerge)) { try { o.onMerge(info); } catch (e) { warn(e); } }
          return info;
        });
      }
      var c = controls(), latest = {}, mine = {}, i;
      for (var f in c) if (has(rec, f)) latest[f] = fromRecord(c[f], rec[f]);
      for (i = 0; i < before.length; i++) if (has(c, before[i])) mine[before[i]] = readControl(c[before[i]]);
      var plan = planMerge(base, mine, latest);
      applying = true;
      try {
        for (f in plan.values) writeControl(c[f], plan.values[f]);
      } finally { applying = false; }
      for (f in latest) base[f] = latest[f];
      info.kept = plan.kept; info.theirs = plan.theirs; info.conflicts = plan.conflicts;
      info.mine = mine; info.theirValues = latest;
      // The banner goes without handing the focus back: the merge view takes it.
      if (shown && version != null && !newer(shown.updated_at_iso, version)) hideBanner(true);
      if (version != null) setVersion(version);
      settle();
      if (source !== 'clean') showMerge(info);
      if (isFn(o.onMerge)) { try { o.onMerge(info); } catch (e) { warn(e); } }
      return info;
    }

    // ---- the merge view

    var mergeEl = null, mergeTitle = null, mergeBody = null, mergeInfo = null;
    function ensureMerge() {
      if (mergeEl) return;
      mergeEl = doc.createElement('section');
      mergeEl.className = 'recordsync-merge recordsync-ui';
      mergeEl.setAttribute('role', 'region');
      mergeEl.setAttribute('data-recordsync-merge', type + '.' + id);
      mergeEl.tabIndex = -1;
      mergeEl.hidden = true;
      mergeTitle = doc.createElement('p');
      mergeTitle.className = 'recordsync-merge-title';
      mergeTitle.id = uid('recordsync-merge-title');
      mergeEl.setAttribute('aria-labelledby', mergeTitle.id);
      mergeBody = doc.createElement('div');
      mergeBody.id = uid('recordsync-merge-body');
      mergeEl.setAttribute('aria-describedby', mergeBody.id);
      mergeEl.appendChild(mergeTitle); mergeEl.appendChild(mergeBody);
      mergeEl.addEventListener('keydown', function (e) { if (e.key === 'Escape') { e.stopPropagation(); closeMerge(); } });
      if (banner && banner.parentNode) banner.parentNode.insertBefore(mergeEl, banner.nextSibling);
      else place(mergeEl, o.bannerContainer, form);
    }
    function para(parts) { return say(doc.createElement('p'), parts); }
    // showMerge says what Reload Latest, a 409 or a restored draft did, and
    // offers a choice where both changed a field: Keep mine / Use theirs.
    function showMerge(info) {
      if (o.banner === false) return;
      ensureMerge();
      mergeInfo = info;
      var c = controls(), who = info.updatedByName, mineFields = info.kept.concat(info.conflicts);
      var whose = who ? [{ b: who, cls: 'recordsync-who' }, '\'s version'] : ['the saved version'];
      mergeTitle.textContent = '';
      mergeBody.textContent = '';
      if (info.source === 'conflict') {
        var s = summary(info.event);
        if (who && s.names.indexOf(who) < 0 && !s.names.length) s.names.push(who);
        say(mergeTitle, ['Your changes were not saved: '].concat(whoParts(s), changedParts(s, c), info.version ? [' at ', { time: info.version }] : [], ['.']));
      } else if (info.source === 'draft') {
        say(mergeTitle, ['Your unsaved changes to ', { list: labelsOf(mineFields, c), cls: 'recordsync-field' }, ' were restored.']);
      } else {
        say(mergeTitle, ['The latest version is loaded'].concat(who ? [', saved by ', { b: who, cls: 'recordsync-who' }] : [],
          info.version ? [' at ', { time: info.version }] : [], ['.']));
      }
      if (info.theirs.length) {
        mergeBody.appendChild(para([{ list: labelsOf(info.theirs, c), cls: 'recordsync-field' },
          plural(info.theirs.length, ' now shows ', ' now show ')].concat(whose, ['.'])));
      }
      if (info.kept.length && info.source !== 'draft') {
        mergeBody.appendChild(para(['Your changes to ', { list: labelsOf(info.kept, c), cls: 'recordsync-field' }, ' are kept.']));
      }
      if (info.conflicts.length) {
        mergeBody.appendChild(para(['You both changed ', { list: labelsOf(info.conflicts, c), cls: 'recordsync-field' }, '. Choose which to keep:']));
        for (var i = 0; i < info.conflicts.length; i++) mergeBody.appendChild(conflictRow(info, info.conflicts[i], c));
      }
      if (!info.theirs.length && !mineFields.length && info.source !== 'draft') {
        mergeBody.appendChild(para(['Your form already shows the latest version.']));
      }
      if (mineFields.length) {
        mergeBody.appendChild(para([info.source === 'conflict' ? 'Save again to keep your changes.' : 'Your changes are not saved yet.']));
      }
      var actions = doc.createElement('div');
      actions.className = 'recordsync-actions';
      actions.appendChild(button('Done', 'recordsync-done recordsync-primary', closeMerge));
      if (mineFields.length) actions.appendChild(button('Discard my changes', 'recordsync-discard', discard));
      mergeBody.appendChild(actions);
      var opening = mergeEl.hidden;
      mergeEl.hidden = false;
      if (opening || !mergeEl.contains(doc.activeElement)) mergeEl.focus();
    }
    function conflictRow(info, f, c) {
      var g = doc.createElement('div');
      g.className = 'recordsync-merge-field';
      g.setAttribute('role', 'group');
      g.setAttribute('data-field', f);
      var name = doc.createElement('p');
      name.className = 'recordsync-merge-label';
      name.id = uid('recordsync-field');
      name.appendChild(doc.createElement('strong')).textContent = fieldLabel(f, c[f], o.labels);
      g.setAttribute('aria-labelledby', name.id);
      g.appendChild(name);
      var vals = doc.createElement('div');
      vals.className = 'recordsync-merge-values';
      var mine = info.mine[f], theirs = info.theirValues[f];
      vals.appendChild(valueBox('recordsync-mine', 'Yours', displayValue(c[f], mine)));
      vals.appendChild(valueBox('recordsync-theirs', info.updatedByName ? info.updatedByName + '\'s' : 'Saved', displayValue(c[f], theirs)));
      g.appendChild(vals);
      var actions = doc.createElement('div');
      actions.className = 'recordsync-actions';
      var keep, use;
      function choose(value, pressed) {
        var ctl = controls()[f];
        if (ctl) {
          applying = true;
          try { writeControl(ctl, value); } finally { applying = false; }
        }
        keep.setAttribute('aria-pressed', String(pressed === keep));
        use.setAttribute('aria-pressed', String(pressed === use));
        settle();
      }
      keep = button('Keep mine', 'recordsync-keep-mine', function () { choose(mine, keep); });
      use = button('Use theirs', 'recordsync-use-theirs', function () { choose(theirs, use); });
      keep.setAttribute('aria-pressed', 'true');
      use.setAttribute('aria-pressed', 'false');
      actions.appendChild(keep); actions.appendChild(use);
      g.appendChild(actions);
      return g;
    }
    function valueBox(cls, whose, text) {
      var box = doc.createElement('div');
      box.className = cls;
      var w = doc.createElement('span');
      w.className = 'recordsync-merge-whose';
      w.textContent = whose;
      var v = doc.createElement('p');
      v.className = 'recordsync-merge-value' + (text === '' ? ' recordsync-empty' : '');
      v.textContent = text === '' ? '(empty)' : text;
      box.appendChild(w); box.appendChild(v);
      return box;
    }
    function closeMerge() {
      if (!mergeEl || mergeEl.hidden) return;
      var had = mergeEl.contains(doc.activeElement) || doc.activeElement === doc.body || !doc.activeElement;
      var info = mergeInfo;
      mergeEl.hidden = true;
      mergeInfo = null;
      if (had) {
        var c = controls(), f = info && (info.conflicts[0] || info.kept[0] || info.theirs[0]);
        focusBack(f && c[f] ? first(c[f]) : null);
      }
    }
    // discard puts back what the form showed before the person's edits (the
    // latest version after a merge) and forgets the draft.
    function discard() {
      var c = controls();
      applying = true;
      try { for (var f in c) if (has(base, f)) writeControl(c[f], base[f]); } finally { applying = false; }
      dirty = false;
      removeDraft();
      setEditing(false);
      var ev = shown;
      hideBanner(true);
      closeMerge();
      // Someone saved meanwhile: clean now, take it as a clean editor would.
      if (ev && o.reloadWhenClean) reloadClean(ev);
    }

    // ---- a 409 from the page's save

    // handleConflict takes the body of a 409 (or 412) answer to the page's
    // save, or the fetch Response itself: recordsync's
    // {"data": {"updated_at", "updated_by_name", "changed_fields",
    // "your_fields", "overlapping_fields"}} or the app's own
    // {"data": {"updated_at", "updated_by_name"}}. It loads the latest
    // record into the form with the person's edits kept (as Reload Latest)
    // and opens the merge view; resolves to the merge's info (null when
    // it could only show the banner).
    function handleConflict(x) {
      var got = x && typeof x === 'object' && isFn(x.json) && 'status' in x
        ? (x.bodyUsed ? Promise.resolve(null) : x.clone().json().catch(function () { return null; }))
        : Promise.resolve(x);
      return got.then(function (b) {
        if (stopped) return null;
        if (typeof b === 'string') { try { b = JSON.parse(b); } catch (e) { b = null; } }
        var d = b && typeof b === 'object' ? (b.data && typeof b.data === 'object' ? b.data : b) : {};
        var v = d[versionKey] != null ? d[versionKey] : d.updated_at;
        var ev = {
          tenant_id: null, record_type: type, record_id: o.id, updated_at_iso: v != null ? String(v) : null,
          updated_by_id: d.updated_by_id != null ? d.updated_by_id : d.updated_by != null ? d.updated_by : null,
          updated_by_name: d.updated_by_name != null ? d.updated_by_name : null, tab_id: null,
          changed_fields: d.changed_fields, your_fields: d.your_fields, overlapping_fields: d.overlapping_fields,
          conflict: true
        };
        if (ev.updated_at_iso) {
          if (seen == null || newer(ev.updated_at_iso, seen)) seen = ev.updated_at_iso;
          if (newer(ev.updated_at_iso, loadedVersion())) noteChange(ev);
        }
        if (canMerge()) {
          hideBanner(true);
          return mergeLatest('conflict', ev).catch(function (e) {
            warn('cannot load the latest version', e);
            if (ev.updated_at_iso) showBanner(ev);
            return null;
          });
        }
        if (ev.updated_at_iso) showBanner(ev);
        return null;
      });
    }

    // ---- events

    function handle(ev, source) {
      if (stopped || !ev) return;
      if (ev.record_id != null && String(ev.record_id) !== id) return;
      if (ev.record_type != null && String(ev.record_type) !== type) return;
      var v = ev.updated_at_iso;
      if (v == null || v === '') return;
      if (seen == null || newer(v, seen)) seen = v;
      if (isOwnTab(ev.tab_id)) { log('own tab', v); return; }
      if (isOwnVersion(v)) { log('own save', v); return; }
      if (!newer(v, loadedVersion())) return;
      noteChange(ev);
      if (shown && !newer(v, shown.updated_at_iso)) {
        if (banner && !banner.hidden) renderBanner();   // the same save, now with its fields
        return;
      }
      if (dismissed != null && !newer(v, dismissed)) return;
      var d = isDirty();
      log('update', source, v, d ? 'dirty' : 'clean');
      if (isFn(o.onUpdate)) { try { o.onUpdate(ev, { dirty: d, source: source }); } catch (e) { warn(e); } }
      if (d) showBanner(ev);
      else if (o.reloadWhenClean) reloadClean(ev);
    }

    var w = {
      type: type, id: id,
      poll: function () {
        if (stopped || w.inflight) return;
        w.inflight = true;
        var url = cfg.versionPath.replace('{type}', encodeURIComponent(type)).replace('{id}', encodeURIComponent(id));
        var headers = { Accept: 'application/json' };
        var tag = etag || (seen || loadedVersion() ? '"' + (seen || loadedVersion()) + '"' : null);
        if (tag) headers['If-None-Match'] = tag;
        nativeFetch(url, { credentials: 'same-origin', headers: headers, cache: 'no-store' }).then(function (res) {
          if (res.status === 304 || !res.ok) return;
          return res.json().then(function (j) {
            var d = j && j.data;
            if (!d || d.updated_at == null) return;
            etag = res.headers.get('ETag') || '"' + d.updated_at + '"';
            handle({
              tenant_id: null, record_type: type, record_id: o.id, updated_at_iso: d.updated_at,
              updated_by_id: d.updated_by_id != null ? d.updated_by_id : null,
              updated_by_name: d.updated_by_name != null ? d.updated_by_name : null, tab_id: null
            }, 'poll');
          });
        }).catch(function (e) { log('poll failed', e); }).then(function () { w.inflight = false; });
      },
      // first is the first look: with a record URL to merge from, the
      // record itself (through it recordsync learns the loaded version's
      // fields, so that the next save and a 409 can name what changed);
      // otherwise a version poll.
      first: function () {
        var url = canMerge() ? recordUrl() : null;
        if (!url || !nativeFetch) { w.poll(); return; }
        nativeFetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' } }).then(function (res) {
          if (!res.ok) { w.poll(); return; }
          return res.json().then(function (j) {
            var rec = recordOf(j, o.recordPath, versionKey);
            if (!rec || rec[versionKey] == null || stopped) return;
            var v = String(rec[versionKey]);
            etag = '"' + v + '"';
            handle({
              tenant_id: null, record_type: type, record_id: o.id, updated_at_iso: v,
              updated_by_id: rec.updated_by_id != null ? rec.updated_by_id : rec.updated_by != null ? rec.updated_by : null,
              updated_by_name: rec.updated_by_name != null ? rec.updated_by_name : null, tab_id: null
            }, 'poll');
          });
        }).catch(function (e) { log('first look failed', e); w.poll(); });
      }
    };
    records.push(w);

    var name = o.channel || fullName('record.' + type + '.' + id);
    var since = function () { return seen != null && newer(seen, loadedVersion()) ? seen : loadedVersion(); };
    var ch = channels[name];
    if (!ch) { channels[name] = ch = { name: name, events: {}, since: [since], presence: null }; if (transport) transport.subscribe(ch); }
    else ch.since.push(since);
    var unlisten = listen(name, 'record.updated', function (data) { handle(data, 'socket'); });

    // presence: who else is viewing, and who is editing
    var leave = noop, viewers = el(o.viewers), presenceMembers = [];
    if (o.presence !== false && (viewers || isFn(o.onPresence) || o.presence === true)) {
      presence = join('record.' + type + '.' + id, {
        // A member who joins late hears who is editing (so does this tab
        // after it resubscribed).
        here: function () { if (editingNow) sendEditing(); },
        joining: function () { if (editingNow) sendEditing(); },
        onChange: function (members) {
          presenceMembers = members;
          if (isFn(o.onPresence)) o.onPresence(members);
          if (viewers) renderViewers(viewers, members);
        }
      });
      leave = presence.leave;
    }

    // The form as rendered is the base; a stored draft goes back on top of
    // it (its fields the others changed since are offered side by side).
    if (hasFields) snapshot();
    var stored = readDraft();
    if (stored) restoreDraft(stored);
    function restoreDraft(dr) {
      var c = controls(), mine = {}, was = {}, now = {}, f;
      for (f in dr.fields) {
        if (!has(c, f) || typeof dr.fields[f] !== 'string') continue;
        mine[f] = dr.fields[f];
        was[f] = dr.base && typeof dr.base[f] === 'string' ? dr.base[f] : base[f];
      }
      for (f in c) now[f] = base[f];
      var plan = planMerge(was, mine, now);
      if (!plan.kept.length && !plan.conflicts.length) { removeDraft(); return; }
      applying = true;
      try { for (f in plan.values) writeControl(c[f], plan.values[f]); } finally { applying = false; }
      settle();
      log('draft restored', plan.kept.concat(plan.conflicts));
      var info = {
        source: 'draft', event: null, latest: null, version: loadedVersion(), updatedByName: null,
        changedFields: null, moreChangedFields: 0, dirtyFields: plan.kept.concat(plan.conflicts),
        kept: plan.kept, theirs: [], conflicts: plan.conflicts, mine: mine, theirValues: now
      };
      showMerge(info);
      if (isFn(o.onMerge)) { try { o.onMerge(info); } catch (e) { warn(e); } }
    }

    // One look at once: it catches a save made between rendering the page
    // and subscribing (Echo sends no "since"), and through it the app
    // authorises this caller for recordsync's conflict answers. (A poll
    // answered 304 costs nothing.)
    w.first();

    var handleObj = {
      stop: function () {
        setEditing(false);
        stopped = true;
        unlisten(); leave();
        var i = ch.since.indexOf(since);
        if (i >= 0) ch.since.splice(i, 1);
        maybeDrop(ch);
        records.splice(records.indexOf(w), 1);
        if (inputRoot) { inputRoot.removeEventListener('input', onInput); inputRoot.removeEventListener('change', onInput); }
        if (form) form.removeEventListener('reset', onReset);
        doc.removeEventListener('focusin', onFocusIn);
        root.removeEventListener('pagehide', onHide);
        root.removeEventListener('pageshow', onShow);
        if (banner && banner.parentNode) banner.parentNode.removeChild(banner);
        if (mergeEl && mergeEl.parentNode) mergeEl.parentNode.removeChild(mergeEl);
      },
      isDirty: isDirty,
      // dirtyFields(): the fields whose value differs from what the form
      // showed (loaded, saved or merged).
      dirtyFields: dirtyFields,
      // markClean: the page saved (or loaded the latest); version is the
      // version it now shows. Ends the draft and the editing announcement.
      markClean: function (version) {
        dirty = false;
        if (version != null) handleObj.setVersion(version);
        if (hasFields) snapshot();
        removeDraft();
        setEditing(false);
        closeMerge();
      },
      // markDirty: the person changed something the kit cannot see (no form).
      markDirty: function () { dirty = true; setEditing(true); saveDraft(); },
      setVersion: setVersion,
      handleConflict: handleConflict,
      reloadLatest: reloadLatest,
      discard: discard,
      // draft(): the stored draft, {version, base, fields, at}, or null.
      draft: readDraft,
      members: function () { return presenceMembers; },
      bannerElement: function () { return banner; },
      mergeElement: function () { return mergeEl; }
    };
    // setVersion: the version the page now shows (its version input follows).
    function setVersion(version) {
      ownLoaded = version;
      var vi = form && versionInput && form.elements ? form.elements.namedItem(versionInput) : null;
      if (vi && vi.tagName === 'INPUT') vi.value = version;
      if (form && form.hasAttribute('data-recordsync-version')) form.setAttribute('data-recordsync-version', version);
      for (var v in changed) if (!newer(v, version)) delete changed[v];
      if (shown && !newer(shown.updated_at_iso, version)) hideBanner();
      if (dirty) saveDraft();
    }
    return handleObj;
  }

  // planMerge decides each field from what the form showed (base), the
  // person's changed values (mine) and the latest record (latest), all as
  // readControl strings: a field only the person changed keeps their value
  // (kept), a field only the others changed takes the latest (theirs), a
  // field both changed to different values keeps the person's for now
  // (conflicts: the merge view offers the choice). values is what each
  // field is to show.
  function planMerge(base, mine, latest) {
    var plan = { kept: [], theirs: [], conflicts: [], values: {} };
    for (var f in latest) {
      var b = has(base, f) ? base[f] : undefined, l = latest[f];
      var mineChanged = has(mine, f) && mine[f] !== b;
      var theirsChanged = b !== undefined && l !== b;
      if (mineChanged && mine[f] !== l) {
        (theirsChanged ? plan.conflicts : plan.kept).push(f);
        plan.values[f] = mine[f];
      } else {
        if (theirsChanged && !mineChanged) plan.theirs.push(f);
        plan.values[f] = l;
      }
    }
    return plan;
  }

  // renderViewers: "Also viewing: Bob — editing, Carol" (one entry per
  // name; editing when any of that name's members is).
  function renderViewers(node, members) {
    var others = [], editing = {};
    for (var i = 0; i < members.length; i++) {
      var m = members[i];
      if (m.me) continue;
      var n = (m.info && (m.info.name || m.info.email)) || ('user ' + m.id);
      if (!(n in editing)) { editing[n] = false; others.push(n); }
      if (m.editing) editing[n] = true;
    }
    if (!node.classList.contains('recordsync-viewers')) node.classList.add('recordsync-viewers');
    if (!node.hasAttribute('aria-live')) node.setAttribute('aria-live', 'polite');
    node.textContent = others.length ? 'Also viewing: ' + others.map(function (n) { return editing[n] ? n + ' \u2014 editing' : n; }).join(', ') : '';
    node.hidden = !others.length;
  }

  // The client event a record editor sends on the record's presence channel
  // (recordsync accepts it even where client events are off). Echo names it
  // "recordsync-editing" in whisper() and adds the "client-" prefix.
  var EDITING_EVENT = 'client-recordsync-editing';

  /**
   * join(name, {here, joining, leaving, onChange}) joins presence-{name}
   * (Echo.join's naming). Members are {id, info, me, editing}: editing is
   * what the member last sent as client-recordsync-editing. Returns
   * {leave, members, whisper(event, data)}: whisper sends a client event
   * ("client-…") once subscribed and says whether it went.
   */
  function join(name, o) {
    o = o || {};
    var full = fullName(name, 'presence');
    var ch = channels[full];
    var watcher = function (what, all, member) {
      if (what === 'here' && isFn(o.here)) o.here(all);
      if (what === 'joining' && isFn(o.joining)) o.joining(member);
      if (what === 'leaving' && isFn(o.leaving)) o.leaving(member);
      if (isFn(o.onChange)) o.onChange(all);
    };
    if (!ch) {
      ensureStarted();
      channels[full] = ch = { name: full, events: {}, since: [], presence: { me: null, members: {}, order: [], watchers: [watcher], editing: {} } };
      if (transport) transport.subscribe(ch);
    } else ch.presence.watchers.push(watcher);
    var unlisten = listen(full, EDITING_EVENT, function (data, meta) {
      if (data && meta && meta.user_id != null) presenceEditing(ch, meta.user_id, data.editing);
    });
    return {
      leave: function () {
        unlisten();
        var i = ch.presence.watchers.indexOf(watcher);
        if (i >= 0) ch.presence.watchers.splice(i, 1);
        maybeDrop(ch);
      },
      members: function () { return membersOf(ch); },
      whisper: function (event, data) { return whisper(ch, /^client-/.test(event) ? event : 'client-' + event, data); }
    };
  }

  // ---------------------------------------------------------------- lists

  /**
   * watchList({channel, event, isEditing, refresh, ...}) keeps a table fresh.
   * Updates on channel (e.g. "project.1" → private-project.1) named event
   * (e.g. "task.updated") are gathered for `throttle` ms (default 3000,
   * 3000–5000); then refresh(ids) runs when isEditing() is false, and
   * otherwise a prompt "2 records were updated while you're editing (Title
   * changed)."
   * offers Reload Now (refresh) and Keep Editing (keeps gathering; the prompt
   * stays until a refresh). refresh may return a promise (React Query:
   * () => queryClient.invalidateQueries(...)). Options: idKey (the payload
   * key of the record id; default the event's *_id key, record_id),
   * element / promptContainer (where the prompt goes), labels ({field:
   * "Title"}: how the prompt names changed_fields), onUpdate(event).
   * Returns {stop, pending(), flush()}.
   */
  function watchList(o) {
    if (!o || !o.channel || !isFn(o.refresh)) throw new Error('RecordSync.watchList: channel and refresh are required');
    ensureStarted();
    injectCSS();
    var name = fullName(o.channel);
    var event = o.event || 'record.updated';
    var throttle = Math.max(3000, Math.min(5000, Number(o.throttle || cfg.throttle) || 3000));
    var isEditing = isFn(o.isEditing) ? o.isEditing : function () { return false; };
    var pending = [], timer = null, watchTimer = null, stopped = false, refreshing = null;
    var fields = [], more = 0, fieldsUnknown = false;   // what the pending saves changed
    var prompt = null, promptText = null, returnFocus = null;

    function idOf(d) {
      if (o.idKey && d[o.idKey] != null) return d[o.idKey];
      for (var k in d) if (/_id$/.test(k) && k !== 'tenant_id' && k !== 'record_id' && k !== 'updated_by_id' && k !== 'tab_id' && d[k] != null) return d[k];
      return d.record_id != null ? d.record_id : d.id;
    }
    function onEvent(d) {
      if (stopped || !d) return;
      if (isOwnTab(d.tab_id)) return;
      if (isOwnVersion(d.updated_at_iso)) return;
      var rid = idOf(d);
      var key = rid == null ? '?' : String(rid);
      if (pending.indexOf(key) < 0) pending.push(key);
      var f = fieldNames(d.changed_fields);
      if (!f) fieldsUnknown = true;
      else for (var i = 0; i < f.length; i++) if (fields.indexOf(f[i]) < 0) fields.push(f[i]);
      if (Number(d.more_changed_fields) > 0) more += Number(d.more_changed_fields);
      if (isFn(o.onUpdate)) { try { o.onUpdate(d); } catch (e) { warn(e); } }
      if (prompt && !prompt.hidden) { updatePrompt(); return; }
      if (!timer) timer = setTimeout(flush, throttle);
    }
    function flush() {
      clearTimeout(timer); timer = null;
      if (stopped || !pending.length) return;
      if (!isEditing()) { refresh(); return; }
      showPrompt();
    }
    function refresh() {
      var ids = pending.slice();
      pending = []; fields = []; more = 0; fieldsUnknown = false;
      clearTimeout(timer); timer = null;
      hidePrompt();
      var p;
      try { p = o.refresh(ids); } catch (e) { warn('refresh failed', e); }
      refreshing = Promise.resolve(p).catch(function (e) { warn('refresh failed', e); });
      return refreshing;
    }
    function ensurePrompt() {
      if (prompt) return;
      prompt = doc.createElement('div');
      prompt.className = 'recordsync-prompt recordsync-ui';
      prompt.setAttribute('role', 'alert');
      prompt.setAttribute('data-recordsync-prompt', name);
      prompt.hidden = true;
      promptText = doc.createElement('p');
      var actions = doc.createElement('div');
      actions.className = 'recordsync-actions';
      actions.appendChild(button('Reload Now', 'recordsync-reload recordsync-primary', function () { refresh(); }));
      actions.appendChild(button('Keep Editing', 'recordsync-keep', keepEditing));
      prompt.appendChild(promptText); prompt.appendChild(actions);
      prompt.addEventListener('keydown', function (e) { if (e.key === 'Escape') { e.stopPropagation(); keepEditing(); } });
      place(prompt, o.promptContainer, o.element);
    }
    // updatePrompt: "2 records were updated while you're editing (Title
    // changed)." — the fields when every save said which.
    function updatePrompt() {
      var n = pending.length;
      promptText.textContent = '';
      var parts = [n + plural(n, ' record was', ' records were') + ' updated while you\'re editing'];
      if (!fieldsUnknown && (fields.length || more)) {
        parts.push(' (', { list: fields.map(function (f) { return o.labels && has(o.labels, f) ? String(o.labels[f]) : f; }), more: more, cls: 'recordsync-field' }, ' changed)');
      }
      parts.push('.');
      say(promptText, parts);
    }
    function showPrompt() {
      ensurePrompt();
      updatePrompt();
      if (prompt.hidden) {
        var a = doc.activeElement;
        returnFocus = a && a !== doc.body && !prompt.contains(a) ? a : returnFocus;
      }
      prompt.hidden = false;
      // When the edit ends (saved or cancelled), refresh by itself.
      clearInterval(watchTimer);
      watchTimer = setInterval(function () { if (!isEditing()) refresh(); }, 500);
    }
    function keepEditing() {
      // Keep gathering; the prompt stays (with its count) until a refresh.
      if (returnFocus && doc.contains(returnFocus)) returnFocus.focus();
    }
    function hidePrompt() {
      clearInterval(watchTimer); watchTimer = null;
      if (prompt) prompt.hidden = true;
    }

    var unlisten = listen(name, event, onEvent);
    var w = {
      catchUp: function () {
        // After a gap, or each poll while the websocket is down: refresh
        // an idle table; an edited one is left alone.
        if (!stopped && !isEditing() && !(prompt && !prompt.hidden) && !timer) refresh();
      }
    };
    lists.push(w);
    return {
      stop: function () {
        stopped = true; unlisten(); clearTimeout(timer); hidePrompt();
        lists.splice(lists.indexOf(w), 1);
        if (prompt && prompt.parentNode) prompt.parentNode.removeChild(prompt);
      },
      pending: function () { return pending.slice(); },
      flush: flush,
      promptElement: function () { return prompt; }
    };
  }

  // ------------------------------------------------------------- Inertia
  //
  // An Inertia.js page (the 2.x and 3.x clients) turns an answer that is not
  // an Inertia page into its error modal, after a cancelable event on
  // document: inertia:invalid in 2.x (detail.response: axios's response,
  // its data parsed from JSON) and inertia:httpException in 3.x
  // (detail.response: {status, data, headers}, data parsed). recordsync's
  // answer to a stale Inertia write of a page with the kit on it is such an
  // answer: 409 (412 with conflict_status 412) and {"success":false,
  // "message":…,"data":{"updated_at","updated_by_name","changed_fields",…}}.
  // The kit takes it (preventDefault: no modal) and says in its own view who
  // saved what and when; what the person typed stays in the form, which the
  // kit does not touch. Its Reload asks the page's router for the record's
  // props again (router.reload({only})): the page hands the kit its router
  // with RecordSync.inertia(router), since the kit cannot import it.

  var inertiaRouter = null;   // the page's router (RecordSync.inertia)
  var inertiaOpts = {};
  var inertiaPage = null;     // the current page object, from Inertia's events
  var inertiaForm = null;     // the form the last write was sent from
  var inertiaConflict = null; // the last conflict the kit took
  var inertiaUI = null;       // {el, title, body, actions, reload, lastFocus}

  /**
   * inertia(router, {only, labels, container, onConflict}) hands the kit the
   * page's Inertia router (`import { router } from '@inertiajs/react'`, or
   * -vue3, -svelte), for Reload. The kit takes recordsync's conflict answers
   * without it too (no modal), then says to reload the page. only: the props
   * Reload asks for (default: the page's props that are records, objects
   * with updated_at); labels: {field: 'Words'} (default: the form's
   * labels); container: where the view goes (default: before the form the
   * write came from); onConflict(info) sees each conflict taken. Returns
   * {conflict(), element(), reload()}.
   */
  function inertia(router, o) {
    if (router != null && !isFn(router.reload)) throw new Error('RecordSync.inertia: give the Inertia router (it has reload)');
    inertiaRouter = router || null;
    inertiaOpts = o || {};
    return {
      // conflict(): the last conflict taken, {status, message, data, at}, or null.
      conflict: function () { return inertiaConflict; },
      element: function () { return inertiaUI ? inertiaUI.el : null; },
      reload: inertiaReload
    };
  }

  // conflictAnswer is the conflict in an Inertia error event's response when
  // it is recordsync's (or the app's own JSON one), else null.
  function conflictAnswer(res) {
    if (!res || (Number(res.status) !== 409 && Number(res.status) !== 412)) return null;
    var b = res.data;
    if (typeof b === 'string') { try { b = JSON.parse(b); } catch (e) { return null; } }
    if (!b || typeof b !== 'object' || b.success !== false || !b.data || typeof b.data !== 'object' || b.data.updated_at == null) return null;
    return { status: Number(res.status), message: b.message != null ? String(b.message) : null, data: b.data, at: Date.now() };
  }

  function onInertiaPage(e) { if (e.detail && e.detail.page && e.detail.page.props) inertiaPage = e.detail.page; }
  function onInertiaStart(e) {
    var v = e.detail && e.detail.visit;
    if (!v || !isWrite(v.method)) return;
    // The form being sent: where the Save button (or the field) with the focus is.
    var a = doc.activeElement;
    inertiaForm = (a && (a.form || (a.closest && a.closest('form')))) || null;
    closeInertiaConflict(false);   // a new try: its own answer says what happened
  }
  function onInertiaError(e) {
    var c = conflictAnswer(e.detail && e.detail.response);
    if (!c) return;
    e.preventDefault();
    inertiaConflict = c;
    log('inertia conflict', c.status, c.data.updated_at);
    showInertiaConflict(c);
    if (isFn(inertiaOpts.onConflict)) { try { inertiaOpts.onConflict(c); } catch (x) { warn(x); } }
  }
  doc.addEventListener('inertia:navigate', onInertiaPage);
  doc.addEventListener('inertia:success', onInertiaPage);
  doc.addEventListener('inertia:start', onInertiaStart);
  doc.addEventListener('inertia:invalid', onInertiaError);        // 2.x
  doc.addEventListener('inertia:httpException', onInertiaError);  // 3.x

  // inertiaOnly: the props Reload asks for (null: all of them).
  function inertiaOnly() {
    if (inertiaOpts.only) return [].concat(val(inertiaOpts.only));
    var props = inertiaPage && inertiaPage.props, out = [];
    for (var k in props) {
      var p = props[k];
      if (p && typeof p === 'object' && !Array.isArray(p) && has(p, 'updated_at')) out.push(k);
    }
    return out.length ? out : null;
  }
  function inertiaReload() {
    if (!inertiaRouter) { loc.reload(); return; }
    var ui = inertiaUI, only = inertiaOnly(), options = {
      preserveScroll: true,
      onSuccess: function () { closeInertiaConflict(true); },
      onFinish: function () { if (ui && ui.reload) ui.reload.disabled = false; }
    };
    if (only) options.only = only;
    if (ui && ui.reload) ui.reload.disabled = true;
    inertiaRouter.reload(options);
  }

  // showInertiaConflict: "Your changes were not saved: Alice changed Name at
  // 4:12:10 PM." and what to do, with Reload and Dismiss, in the merge
  // view's look; it takes the focus (and gives it back when it closes).
  function showInertiaConflict(c) {
    injectCSS();
    var d = c.data;
    if (!inertiaUI) {
      var ui = inertiaUI = { el: doc.createElement('section') };
      ui.el.className = 'recordsync-merge recordsync-conflict recordsync-ui';
      ui.el.setAttribute('role', 'region');
      ui.el.tabIndex = -1;
      ui.title = doc.createElement('p');
      ui.title.className = 'recordsync-merge-title';
      ui.title.id = uid('recordsync-conflict-title');
      ui.el.setAttribute('aria-labelledby', ui.title.id);
      ui.body = doc.createElement('p');
      ui.body.id = uid('recordsync-conflict-body');
      ui.el.setAttribute('aria-describedby', ui.body.id);
      ui.actions = doc.createElement('div');
      ui.actions.className = 'recordsync-actions';
      ui.el.appendChild(ui.title); ui.el.appendChild(ui.body); ui.el.appendChild(ui.actions);
      ui.el.addEventListener('keydown', function (e) { if (e.key === 'Escape') { e.stopPropagation(); closeInertiaConflict(true); } });
    }
    var v = inertiaUI, form = inertiaForm && doc.contains(inertiaForm) ? inertiaForm : doc.querySelector('form');
    // Not in the document: new, or gone with the page's DOM (a page component re-rendered).
    var placed = doc.contains(v.el);
    if (!placed || v.el.hidden) v.lastFocus = doc.activeElement;
    var fields = fieldNames(d.changed_fields), labels = [];
    for (var i = 0; fields && i < fields.length; i++) labels.push(fieldLabel(fields[i], inertiaControl(form, fields[i]), inertiaOpts.labels));
    var more = Number(d.more_changed_fields) > 0 ? Number(d.more_changed_fields) : 0;
    var what = !fields ? [' saved this record']
      : labels.length || more ? [' changed ', { list: labels, more: more, cls: 'recordsync-field' }]
        : [' saved this record without changing any fields'];
    v.title.textContent = '';
    say(v.title, ['Your changes were not saved: '].concat(
      d.updated_by_name != null ? [{ b: d.updated_by_name, cls: 'recordsync-who' }] : ['Someone else'],
      what, [' at ', { time: d.updated_at }, '.']));
    v.body.textContent = inertiaRouter
      ? 'Your edits are still in the form. Reload brings in the latest version; then save again.'
      : 'Your edits are still in the form. Reload the page to see the latest version (copy your edits first: a reload loses them).';
    v.actions.textContent = '';
    v.reload = inertiaRouter ? button('Reload', 'recordsync-reload recordsync-primary', inertiaReload) : null;
    if (v.reload) v.actions.appendChild(v.reload);
    v.actions.appendChild(button('Dismiss', 'recordsync-dismiss', function () { closeInertiaConflict(true); }));
    if (!placed) place(v.el, inertiaOpts.container, form);
    v.el.hidden = false;
    v.el.focus();
  }
  // inertiaControl: the form's control of a field (its name), if any.
  function inertiaControl(form, f) {
    var c = form && form.elements ? form.elements.namedItem(f) : null;
    if (!c) { try { c = doc.querySelector('[name="' + String(f).replace(/["\\]/g, '\\$&') + '"]'); } catch (e) { c = null; } }
    return c;
  }
  function closeInertiaConflict(giveFocusBack) {
    var v = inertiaUI;
    if (!v || v.el.hidden || !doc.contains(v.el)) return;
    var had = v.el.contains(doc.activeElement);
    v.el.hidden = true;
    if (giveFocusBack && had && v.lastFocus && doc.contains(v.lastFocus) && isFn(v.lastFocus.focus)) {
      try { v.lastFocus.focus(); } catch (e) { /* gone */ }
    }
  }

  // ------------------------------------------- forms with data attributes

  // <form data-recordsync-type="flow" data-recordsync-id="1"
  //       data-recordsync-version="2026-…Z" [data-recordsync-viewers="#viewers"]>
  // is watched without any script: dirty on input/change, Reload Latest
  // reloads the page. A form given to watchRecord is left to it.
  function scanForms() {
    var forms = doc.querySelectorAll('form[data-recordsync-type][data-recordsync-id]');
    for (var i = 0; i < forms.length; i++) {
      var f = forms[i];
      if (watchedForms.has(f) || f.hasAttribute('data-recordsync-manual')) continue;
      watchRecord({
        type: f.getAttribute('data-recordsync-type'), id: f.getAttribute('data-recordsync-id'), form: f,
        loadedVersion: (function (form) { return function () { return form.getAttribute('data-recordsync-version'); }; })(f),
        viewers: f.getAttribute('data-recordsync-viewers') || undefined
      });
    }
  }
  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', scanForms);
  else setTimeout(scanForms, 0);

  // ----------------------------------------------------------------- API

  var RecordSync = {
    version: VERSION,
    configure: configure,
    watchRecord: watchRecord,
    watchList: watchList,
    join: join,
    tabId: function () { return tabId; },
    // tabTag(): the tab_id recordsync's events carry for this tab's saves.
    tabTag: tabTag,
    socketId: socketId,
    // useEcho(echo): the page's Echo (echo-react's, echo-vue's) for everything.
    useEcho: useEcho,
    // connection(): {state: idle|connecting|connected|unavailable, polling,
    // transport: pusher|echo|poll|null (none yet: not started, or waiting
    // for the page's Echo), subscribed: [channel names]}
    connection: function () {
      var subscribed = [];
      for (var n in channels) if (channels[n].subscribed) subscribed.push(n);
      return {
        state: status, polling: polling, subscribed: subscribed,
        transport: transport ? (transport instanceof EchoTransport ? 'echo' : 'pusher') : (started && polling ? 'poll' : null)
      };
    },
    // config(): a copy of the settings in use.
    config: function () {
      var c = {};
      for (var k in cfg) c[k] = cfg[k];
      c.records = {};
      for (var t in cfg.records) c.records[t] = cfg.records[t];
      return c;
    },
    onStatus: function (fn) { statusListeners.push(fn); return function () { statusListeners.splice(statusListeners.indexOf(fn), 1); }; },
    compareVersions: compareVersions,
    // formatTime(version): the kit's one way of writing a time ("4:12:10 PM").
    formatTime: formatTime,
    // clearDrafts(keepUser?): forget this tab's drafts (of all users but keepUser).
    clearDrafts: clearDrafts,
    // inertia(router, options): Inertia pages — recordsync's 409 in the kit's view, not Inertia's modal.
    inertia: inertia
  };
  root.RecordSync = RecordSync;
})(typeof window !== 'undefined' ? window : this);
