/*! recordsync browser kit — https://github.com/recordsync/recordsync (kit/README.md).
 *
 * Tells a person that someone else saved the record they are editing before
 * they hit save, and keeps tables fresh. No build step, no dependency: load it
 * as a classic script (sets window.RecordSync, and nothing else global) or
 * import it as an ES module from recordsync.mjs next to it. recordsync serves
 * both at {ws_path}/recordsync.js and {ws_path}/recordsync.mjs with its app
 * key and ws_path filled in below.
 *
 * It uses window.Echo (Laravel Echo on pusher-js) when the page has one, and
 * otherwise its own small Pusher-protocol v7 client to {ws_path}/app/{key};
 * when the websocket cannot connect it polls the version endpoint.
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
    transport: 'auto',          // 'auto' (Echo if present, else own client) | 'echo' | 'pusher' | 'poll'
    connectTimeout: 10000,      // ms for a websocket to be established
    maxBackoff: 30000,          // ms, the longest wait between reconnects (before jitter)
    debug: false
  };
  var NUMERIC = { pollInterval: 1, throttle: 1, connectTimeout: 1, maxBackoff: 1 };

  function configure(o) {
    if (!o) return RecordSync;
    for (var k in o) {
      if (!Object.prototype.hasOwnProperty.call(cfg, k) || o[k] == null || o[k] === '') continue;
      if (NUMERIC[k]) { var n = Number(o[k]); if (isFinite(n) && n > 0) cfg[k] = n; }
      else if (k === 'debug') cfg[k] = o[k] === true || o[k] === 'true' || o[k] === '';
      else cfg[k] = String(o[k]);
    }
    return RecordSync;
  }
  configure(SERVER);
  if (script && script.dataset) {
    // <script src=".../recordsync.js" data-key="..." data-ws-path="/ws" data-poll-interval="30000">
    var ds = script.dataset;
    configure({
      key: ds.key, wsPath: ds.wsPath, wsHost: ds.wsHost, authEndpoint: ds.authEndpoint,
      versionPath: ds.versionPath, pollInterval: ds.pollInterval, throttle: ds.throttle,
      transport: ds.transport, debug: ds.debug
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
  function socketId() { return transport ? transport.socketId() : null; }
  function fullName(name, kind) {
    if (/^(private|presence)-/.test(name)) return name;
    return (kind || 'private') + '-' + name;
  }

  function channel(name) {
    var ch = channels[name];
    if (!ch) {
      ch = channels[name] = { name: name, events: {}, since: [], presence: /^presence-/.test(name) ? { me: null, members: {}, order: [], watchers: [] } : null };
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
  function dispatch(name, event, data) {
    var ch = channels[name];
    if (!ch || !ch.events[event]) return;
    var l = ch.events[event].slice();
    for (var i = 0; i < l.length; i++) { try { l[i](data); } catch (e) { warn('listener failed', e); } }
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
    p.order = p.order.filter(function (x) { return x !== id; });
    presenceChanged(ch, 'leaving', { id: id, info: info });
  }
  function presenceClear(ch) {
    if (!ch.presence) return;
    ch.presence.members = {}; ch.presence.order = [];
    presenceChanged(ch, 'reset');
  }
  function membersOf(ch) {
    var p = ch.presence;
    return p.order.map(function (id) { return { id: id, info: p.members[id], me: id === p.me }; });
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
          if (ch) dispatch(msg.channel, msg.event, data);
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
      }, function (err) { warn('cannot authorise ' + name + ': ' + err.message); });
    }
    function authorize(socket, name, tries) {
      var headers = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', 'X-Tab-ID': tabId };
      var c = csrfHeaders();
      for (var k in c) headers[k] = c[k];
      var body = 'socket_id=' + encodeURIComponent(socket) + '&channel_name=' + encodeURIComponent(name);
      return nativeFetch(cfg.authEndpoint, { method: 'POST', credentials: 'same-origin', headers: headers, body: body })
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
    this.unsubscribe = function (ch) { send({ event: 'pusher:unsubscribe', data: { channel: ch.name } }); };
    this.start = function () {
      connect();
      if (root.addEventListener) {
        root.addEventListener('online', function () {
          if (!ws && !fatal) { attempt = 0; connect(); }
        });
      }
    };
  }

  // ---------------------------------------------- Laravel Echo transport

  function EchoTransport(echo) {
    var pusher = echo.connector && echo.connector.pusher;
    var conn = pusher && pusher.connection;
    var wasUp = false, lostSinceUp = false;
    var bound = {};   // channel name → Echo channel
    function short(name) { return name.replace(/^(private|presence)-/, ''); }
    function echoChannel(ch) {
      if (bound[ch.name]) return bound[ch.name];
      var c;
      if (/^presence-/.test(ch.name)) {
        c = echo.join(short(ch.name));
        c.here(function (ms) {
          var me = null;
          try { me = pusher.channel(ch.name).members.myID; } catch (e) { /* older Echo */ }
          var ids = [], hash = {};
          for (var i = 0; i < ms.length; i++) { var id = String(ms[i].id != null ? ms[i].id : ms[i].user_id); ids.push(id); hash[id] = ms[i]; }
          presenceSet(ch, me, ids, hash);
        }).joining(function (m) { presenceAdd(ch, m.id != null ? m.id : m.user_id, m); })
          .leaving(function (m) { presenceRemove(ch, m.id != null ? m.id : m.user_id); });
      } else if (/^private-/.test(ch.name)) c = echo.private(short(ch.name));
      else c = echo.channel(ch.name);
      if (isFn(c.subscribed)) c.subscribed(function () { ch.subscribed = true; if (ch.since.length) catchUp(); });
      if (isFn(c.error)) c.error(function (err) { warn('subscription to ' + ch.name + ' refused', err); });
      return (bound[ch.name] = c);
    }
    function bindEvent(ch, event) {
      var c = echoChannel(ch);
      var fn = function (data) { dispatch(ch.name, event, data); };
      (ch.echoFns = ch.echoFns || {})[event] = fn;
      c.listen('.' + event, fn);
    }
    this.socketId = function () { try { return echo.socketId() || null; } catch (e) { return null; } };
    this.subscribe = function (ch) {
      echoChannel(ch);
      for (var e in ch.events) bindEvent(ch, e);
    };
    this.listen = bindEvent;
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
      conn.bind('state_change', function (st) { state(st.current); });
      state(conn.state);
    };
  }

  // ----------------------------------------------------- start, polling

  function ensureStarted() {
    if (started) return;
    started = true;
    var mode = cfg.transport;
    if (mode === 'auto') mode = root.Echo ? 'echo' : 'pusher';
    if (mode === 'echo' && root.Echo) transport = new EchoTransport(root.Echo);
    else if (mode !== 'poll' && cfg.key && isFn(root.WebSocket)) transport = new PusherClient();
    log('transport', transport ? mode : 'poll');
    if (!transport) { setStatus('unavailable'); setPolling(true); return; }
    // Start after the current script: watchers registered in the same tick
    // go out with the first connection.
    setTimeout(function () { transport.start(); }, 0);
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
    '.recordsync-banner[hidden],.recordsync-prompt[hidden],.recordsync-viewers[hidden]{display:none}',
    '.recordsync-banner p,.recordsync-prompt p{margin:0;flex:1 1 20em}',
    '.recordsync-actions{display:flex;gap:.5em}',
    '.recordsync-actions button{font:inherit;margin:0;padding:.3em .8em;border-radius:4px;border:1px solid #8c6c00;background:#fff;color:inherit;cursor:pointer}',
    '.recordsync-actions button.recordsync-primary{background:#8c6c00;border-color:#8c6c00;color:#fff}',
    '.recordsync-actions button:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}'
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
  function formatTime(iso) {
    var p = parseISO(String(iso || ''));
    var d = new Date(p ? p[0] : Date.parse(iso));
    if (isNaN(d.getTime())) return String(iso || '');
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  // ------------------------------------------------------ record editors

  var watchedForms = typeof WeakSet === 'function' ? new WeakSet() : { add: noop, has: function () { return false; } };

  /**
   * watchRecord({type, id, loadedVersion, isDirty, onReload, ...}) watches one
   * record being edited. loadedVersion is the version the page loaded (a
   * value or a function); isDirty() tells whether there are unsaved edits
   * (default: the form had input/change events since it was loaded or marked
   * clean); onReload() loads the latest record into the page (default:
   * location.reload()). Options: form (element or selector: dirty tracking
   * and where the banner goes), banner (false: no built-in banner),
   * bannerContainer, reloadWhenClean (reload silently when an update arrives
   * and there are no edits), onUpdate(event, {dirty}), viewers (element or
   * selector: "Also viewing: …" from presence-record.{type}.{id}),
   * onPresence(members), presence (false: do not join).
   * Returns {stop, isDirty, markClean(version?), setVersion, members}.
   */
  function watchRecord(o) {
    if (!o || o.type == null || o.id == null) throw new Error('RecordSync.watchRecord: type and id are required');
    ensureStarted();
    injectCSS();
    var type = String(o.type), id = String(o.id);
    var form = el(o.form);
    if (form) watchedForms.add(form);
    var loaded = o.loadedVersion;   // value or function
    var ownLoaded = null;           // set by setVersion/markClean when loaded is a value
    var seen = null;                // newest version seen from events or polls
    var etag = null;
    var shown = null;               // the event the banner shows
    var dismissed = null;           // the newest version dismissed
    var dirty = false;
    var stopped = false;

    function loadedVersion() {
      var v = ownLoaded != null ? ownLoaded : val(loaded);
      if (v == null && form && form.dataset) v = form.dataset.recordsyncVersion;
      return v == null ? null : v;
    }
    function isDirty() { return isFn(o.isDirty) ? !!o.isDirty() : dirty; }
    var onInput = function (e) { if (!e.target || !e.target.closest || !e.target.closest('.recordsync-banner')) dirty = true; };
    var onReset = function () { dirty = false; };
    if (form && !isFn(o.isDirty)) {
      form.addEventListener('input', onInput);
      form.addEventListener('change', onInput);
      form.addEventListener('reset', onReset);
    }

    // banner
    var banner = null, bannerText = null, bannerBtns = [];
    function ensureBanner() {
      if (banner) return banner;
      banner = doc.createElement('div');
      banner.className = 'recordsync-banner';
      banner.setAttribute('role', 'alert');
      banner.setAttribute('data-recordsync-banner', type + '.' + id);
      banner.hidden = true;
      bannerText = doc.createElement('p');
      var actions = doc.createElement('div');
      actions.className = 'recordsync-actions';
      bannerBtns = [button('Reload Latest', 'recordsync-reload recordsync-primary', reloadLatest), button('Dismiss', 'recordsync-dismiss', dismiss)];
      actions.appendChild(bannerBtns[0]); actions.appendChild(bannerBtns[1]);
      banner.appendChild(bannerText); banner.appendChild(actions);
      banner.addEventListener('keydown', function (e) { if (e.key === 'Escape') dismiss(); });
      place(banner, o.bannerContainer, form);
      return banner;
    }
    function showBanner(ev) {
      if (o.banner === false) return;
      shown = ev;
      ensureBanner();
      var who = ev.updated_by_name ? String(ev.updated_by_name) : 'someone else';
      bannerText.textContent = '';
      bannerText.appendChild(doc.createTextNode('This record was updated by '));
      var strong = doc.createElement('strong');
      strong.textContent = who;
      bannerText.appendChild(strong);
      bannerText.appendChild(doc.createTextNode(' while you have unsaved changes. '));
      var t = doc.createElement('time');
      t.dateTime = String(ev.updated_at_iso || '');
      t.textContent = formatTime(ev.updated_at_iso);
      var span = doc.createElement('span');
      span.className = 'recordsync-when';
      span.appendChild(doc.createTextNode('Saved at '));
      span.appendChild(t);
      span.appendChild(doc.createTextNode('.'));
      bannerText.appendChild(span);
      bannerBtns[0].disabled = bannerBtns[1].disabled = false;
      banner.hidden = false;
    }
    function hideBanner() { if (banner) banner.hidden = true; shown = null; }
    function reloadLatest() {
      var ev = shown;
      bannerBtns[0].disabled = bannerBtns[1].disabled = true;
      var p;
      try { p = isFn(o.onReload) ? o.onReload(ev) : (loc.reload(), null); } catch (e) { p = Promise.reject(e); }
      return Promise.resolve(p).then(function () {
        if (ev && !isFn(loaded)) ownLoaded = ev.updated_at_iso;
        dirty = false;
        hideBanner();
      }, function (e) {
        warn('reload failed', e);
        if (bannerBtns[0]) bannerBtns[0].disabled = bannerBtns[1].disabled = false;
      });
    }
    function dismiss() {
      if (shown) dismissed = shown.updated_at_iso;
      var wasFocused = banner && banner.contains(doc.activeElement);
      hideBanner();
      if (wasFocused && form) { var f = form.querySelector('input,textarea,select'); if (f) f.focus(); }
    }

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
      if (shown && !newer(v, shown.updated_at_iso)) return;
      if (dismissed != null && !newer(v, dismissed)) return;
      var d = isDirty();
      log('update', source, v, d ? 'dirty' : 'clean');
      if (isFn(o.onUpdate)) { try { o.onUpdate(ev, { dirty: d, source: source }); } catch (e) { warn(e); } }
      if (d) showBanner(ev);
      else if (o.reloadWhenClean && isFn(o.onReload)) {
        Promise.resolve(o.onReload(ev)).then(function () { if (!isFn(loaded)) ownLoaded = v; }, warn);
      }
    }

    var w = {
      type: type, id: id,
      poll: function () {
        if (stopped || w.inflight) return;
        w.inflight = true;
        var url = cfg.versionPath.replace('{type}', encodeURIComponent(type)).replace('{id}', encodeURIComponent(id));
        var headers = { Accept: 'application/json' };
        var base = etag || (seen || loadedVersion() ? '"' + (seen || loadedVersion()) + '"' : null);
        if (base) headers['If-None-Match'] = base;
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
      }
    };
    records.push(w);

    var name = o.channel || fullName('record.' + type + '.' + id);
    var since = function () { return seen != null && newer(seen, loadedVersion()) ? seen : loadedVersion(); };
    var ch = channels[name];
    if (!ch) { channels[name] = ch = { name: name, events: {}, since: [since], presence: null }; if (transport) transport.subscribe(ch); }
    else ch.since.push(since);
    var unlisten = listen(name, 'record.updated', function (data) { handle(data, 'socket'); });
    // One poll at once: it catches a save made between rendering the page
    // and subscribing (Echo sends no "since"), and through it the app
    // authorises this caller for the record, so that recordsync can answer
    // a stale save from its cache. (A poll answered 304 costs nothing.)
    w.poll();

    // presence: who else is viewing
    var leave = noop, viewers = el(o.viewers), presenceMembers = [];
    if (o.presence !== false && (viewers || isFn(o.onPresence))) {
      var j = join('record.' + type + '.' + id, {
        onChange: function (members) {
          presenceMembers = members;
          if (isFn(o.onPresence)) o.onPresence(members);
          if (viewers) renderViewers(viewers, members);
        }
      });
      leave = j.leave;
    }

    var handleObj = {
      stop: function () {
        stopped = true;
        unlisten(); leave();
        var i = ch.since.indexOf(since);
        if (i >= 0) ch.since.splice(i, 1);
        maybeDrop(ch);
        records.splice(records.indexOf(w), 1);
        if (form) { form.removeEventListener('input', onInput); form.removeEventListener('change', onInput); form.removeEventListener('reset', onReset); }
        if (banner && banner.parentNode) banner.parentNode.removeChild(banner);
      },
      isDirty: isDirty,
      // markClean: the page saved or reloaded; version is what it now shows.
      markClean: function (version) { dirty = false; if (version != null) handleObj.setVersion(version); },
      setVersion: function (version) { ownLoaded = version; if (shown && !newer(shown.updated_at_iso, version)) hideBanner(); },
      members: function () { return presenceMembers; },
      bannerElement: function () { return banner; }
    };
    return handleObj;
  }

  function renderViewers(node, members) {
    var others = [], names = {};
    for (var i = 0; i < members.length; i++) {
      var m = members[i];
      if (m.me) continue;
      var n = (m.info && (m.info.name || m.info.email)) || ('user ' + m.id);
      if (!names[n]) { names[n] = 1; others.push(n); }
    }
    if (!node.classList.contains('recordsync-viewers')) node.classList.add('recordsync-viewers');
    if (!node.hasAttribute('aria-live')) node.setAttribute('aria-live', 'polite');
    node.textContent = others.length ? 'Also viewing: ' + others.join(', ') : '';
    node.hidden = !others.length;
  }

  /**
   * join(name, {here, joining, leaving, onChange}) joins presence-{name}
   * (Echo.join's naming). Members are {id, info, me}. Returns {leave, members}.
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
      channels[full] = ch = { name: full, events: {}, since: [], presence: { me: null, members: {}, order: [], watchers: [watcher] } };
      if (transport) transport.subscribe(ch);
    } else ch.presence.watchers.push(watcher);
    return {
      leave: function () {
        var i = ch.presence.watchers.indexOf(watcher);
        if (i >= 0) ch.presence.watchers.splice(i, 1);
        maybeDrop(ch);
      },
      members: function () { return membersOf(ch); }
    };
  }

  // ---------------------------------------------------------------- lists

  /**
   * watchList({channel, event, isEditing, refresh, ...}) keeps a table fresh.
   * Updates on channel (e.g. "project.1" → private-project.1) named event
   * (e.g. "task.updated") are gathered for `throttle` ms (default 3000,
   * 3000–5000); then refresh(ids) runs when isEditing() is false, and
   * otherwise a prompt "{n} record(s) were updated while you're editing."
   * offers Reload Now (refresh) and Keep Editing (keeps gathering; the prompt
   * stays until a refresh). refresh may return a promise (React Query:
   * () => queryClient.invalidateQueries(...)). Options: idKey (the payload
   * key of the record id; default the event's *_id key, record_id),
   * element / promptContainer (where the prompt goes), onUpdate(event).
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
      pending = [];
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
      prompt.className = 'recordsync-prompt';
      prompt.setAttribute('role', 'alert');
      prompt.setAttribute('data-recordsync-prompt', name);
      prompt.hidden = true;
      promptText = doc.createElement('p');
      var actions = doc.createElement('div');
      actions.className = 'recordsync-actions';
      actions.appendChild(button('Reload Now', 'recordsync-reload recordsync-primary', function () { refresh(); }));
      actions.appendChild(button('Keep Editing', 'recordsync-keep', keepEditing));
      prompt.appendChild(promptText); prompt.appendChild(actions);
      place(prompt, o.promptContainer, o.element);
    }
    function updatePrompt() { promptText.textContent = pending.length + ' record(s) were updated while you\'re editing.'; }
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
    // connection(): {state: idle|connecting|connected|unavailable, polling,
    // transport: pusher|echo|poll, subscribed: [channel names]}
    connection: function () {
      var subscribed = [];
      for (var n in channels) if (channels[n].subscribed) subscribed.push(n);
      return {
        state: status, polling: polling, subscribed: subscribed,
        transport: transport ? (transport instanceof EchoTransport ? 'echo' : 'pusher') : (started ? 'poll' : null)
      };
    },
    // config(): a copy of the settings in use.
    config: function () { var c = {}; for (var k in cfg) c[k] = cfg[k]; return c; },
    onStatus: function (fn) { statusListeners.push(fn); return function () { statusListeners.splice(statusListeners.indexOf(fn), 1); }; },
    compareVersions: compareVersions
  };
  root.RecordSync = RecordSync;
})(typeof window !== 'undefined' ? window : this);
