// recordsync's live console: the page's script. Plain browser JavaScript,
// no build step, nothing loaded from elsewhere. It reads the viewer's
// tenants from {base}/api/state, the live stream from {base}/api/stream
// (Server-Sent Events) and sends test events to {base}/api/publish with
// the session's CSRF token. Everything shown is set as text, never as
// HTML.
(function () {
  'use strict';

  var base = document.documentElement.getAttribute('data-base') || '';
  var csrf = '';
  var state = null;
  var paused = false;
  var filter = '*';
  var counts = {}; // tenant -> {events, conflicts, pollsCache, pollsApp}
  var dropped = 0;
  var maxRows = 500;
  var source = null;
  var refreshTimer = null;

  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function show(id) {
    ['signin', 'refused', 'console'].forEach(function (s) { $(s).hidden = s !== id; });
  }

  function tenantName(t) { return t === '' ? '(site)' : t; }

  function visible(tenant) { return filter === '*' || filter === tenant; }

  function countsOf(tenant) {
    var c = counts[tenant];
    if (!c) c = counts[tenant] = { events: 0, conflicts: 0, pollsCache: 0, pollsApp: 0 };
    return c;
  }

  function ago(s) {
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm';
    return Math.floor(s / 3600) + 'h';
  }

  function clock(ms) {
    var d = new Date(ms);
    function p(n, w) { n = String(n); while (n.length < w) n = '0' + n; return n; }
    return p(d.getHours(), 2) + ':' + p(d.getMinutes(), 2) + ':' + p(d.getSeconds(), 2) + '.' + p(d.getMilliseconds(), 3);
  }

  // --- state ---------------------------------------------------------

  function loadState() {
    return fetch(base + '/api/state', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) { return { status: r.status, body: j }; });
      })
      .then(function (res) {
        if (res.status !== 200) {
          refused(res.status, res.body);
          return false;
        }
        state = res.body;
        csrf = state.csrf || '';
        renderWho();
        renderState();
        show('console');
        return true;
      });
  }

  function refused(status, body) {
    if (source) { source.close(); source = null; }
    $('who').hidden = true;
    if (status === 401 && body && body.sign_in) {
      $('signin-failed').hidden = location.search.indexOf('signin=failed') < 0;
      show('signin');
      return;
    }
    $('refused-why').textContent = (body && body.error ? body.error + ': ' : '') + 'you are not a viewer of this console.';
    show('refused');
  }

  function scheduleRefresh() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(function () { refreshTimer = null; loadState(); }, 250);
  }

  function renderWho() {
    $('who').hidden = false;
    $('viewer').textContent = state.viewer;
    $('patterns').textContent = 'sees ' + state.patterns.join(', ');
    $('signout').hidden = !state.sign_out;
    $('signout-csrf').value = csrf;
    $('payloads').textContent = state.payloads ? 'payloads shown' : 'payloads hidden (console payloads is off)';
    if (!state.hub) $('publish-send').disabled = true;
  }

  function knownTenants() {
    var seen = {};
    (state ? state.tenants : []).forEach(function (t) { seen[t.tenant] = true; });
    Object.keys(counts).forEach(function (t) { seen[t] = true; });
    (state ? state.patterns : []).forEach(function (p) { if (p.indexOf('*') < 0) seen[p] = true; });
    return Object.keys(seen).sort();
  }

  function fillSelect(sel, values, keep, withAll) {
    // Left alone while its options stay the same: a refresh must not close
    // a list the viewer has open.
    var sig = JSON.stringify(values);
    if (sel.getAttribute('data-sig') === sig) return;
    sel.setAttribute('data-sig', sig);
    var cur = sel.value;
    while (sel.firstChild) sel.removeChild(sel.firstChild);
    if (withAll) {
      var all = el('option', 'all of mine');
      all.value = '*';
      sel.appendChild(all);
    }
    values.forEach(function (v) {
      var o = el('option', tenantName(v));
      o.value = v;
      sel.appendChild(o);
    });
    if (keep && (values.indexOf(cur) >= 0 || (withAll && cur === '*'))) sel.value = cur;
  }

  function renderState() {
    var tenants = knownTenants();
    fillSelect($('tenant-filter'), tenants, true, true);
    if (tenants.length === 0) tenants = [''];
    fillSelect($('publish-tenant'), tenants, true, false);

    var byTenant = {};
    state.tenants.forEach(function (t) { byTenant[t.tenant] = t; });

    var tb = $('tenants').tBodies[0];
    tb.textContent = '';
    knownTenants().filter(visible).forEach(function (name) {
      var t = byTenant[name] || { connections: 0, channel_count: 0 };
      var c = countsOf(name);
      var tr = el('tr');
      tr.setAttribute('data-tenant', name);
      tr.appendChild(el('td', tenantName(name)));
      [t.connections, t.channel_count, c.events, c.conflicts, c.pollsCache, c.pollsApp].forEach(function (n, i) {
        var td = el('td', n, 'num');
        td.setAttribute('data-count', ['sockets', 'channels', 'events', 'conflicts', 'polls_cache', 'polls_app'][i]);
        tr.appendChild(td);
      });
      tb.appendChild(tr);
    });

    var conns = $('connections').tBodies[0];
    var chans = $('channels').tBodies[0];
    conns.textContent = '';
    chans.textContent = '';
    var nConns = 0, nChans = 0;
    state.tenants.filter(function (t) { return visible(t.tenant); }).forEach(function (t) {
      nConns += t.connections;
      nChans += t.channel_count;
      t.sockets.forEach(function (s) {
        var tr = el('tr');
        tr.setAttribute('data-socket', s.id);
        tr.setAttribute('data-tenant', t.tenant);
        tr.appendChild(el('td', tenantName(t.tenant)));
        tr.appendChild(el('td', s.id, 'mono'));
        tr.appendChild(el('td', s.channels, 'num'));
        tr.appendChild(el('td', ago(s.idle_s), 'num'));
        conns.appendChild(tr);
      });
      t.channels.forEach(function (ch) {
        var tr = el('tr');
        tr.setAttribute('data-channel', ch.name);
        tr.setAttribute('data-tenant', t.tenant);
        tr.appendChild(el('td', tenantName(t.tenant)));
        tr.appendChild(el('td', ch.name, 'mono'));
        var subs = el('td', ch.subscribers, 'num');
        subs.title = ch.subscriber_ids.join('\n');
        tr.appendChild(subs);
        var mem = el('td');
        (ch.members || []).forEach(function (m, i) {
          if (i) mem.appendChild(document.createTextNode(', '));
          var label = m.user_id;
          if (m.info && typeof m.info === 'object' && typeof m.info.name === 'string') label += ' ' + m.info.name;
          if (m.sockets === 0) label += ' (elsewhere)';
          else if (m.sockets > 1) label += ' (' + m.sockets + ' sockets)';
          var span = el('span', label);
          if (m.info) span.title = JSON.stringify(m.info);
          mem.appendChild(span);
        });
        tr.appendChild(mem);
        chans.appendChild(tr);
      });
    });
    $('conn-count').textContent = nConns;
    $('chan-count').textContent = nChans;
  }

  // --- the live stream -----------------------------------------------

  var labels = {
    published: 'event', client_event: 'client event', connected: 'socket connected',
    disconnected: 'socket gone', occupied: 'channel occupied', vacated: 'channel vacated',
    member_added: 'member added', member_removed: 'member removed'
  };

  function openStream() {
    if (source) source.close();
    source = new EventSource(base + '/api/stream');
    source.onopen = function () { setLive(true); };
    source.onerror = function () {
      setLive(false);
      if (source && source.readyState === EventSource.CLOSED) {
        // Refused (signed out, session gone): the state says why.
        source = null;
        loadState().then(function (ok) { if (ok) setTimeout(openStream, 2000); });
      }
    };
    source.onmessage = function (m) {
      var ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      onEvent(ev);
    };
  }

  function setLive(on) {
    var b = $('live');
    b.textContent = on ? 'live' : 'reconnecting';
    b.className = 'badge ' + (on ? 'on' : 'off');
  }

  function onEvent(ev) {
    if (ev.dropped) {
      dropped += ev.dropped;
      $('dropped').textContent = dropped + ' events not shown (the stream is bounded)';
    }
    var c = countsOf(ev.tenant);
    var newTenant = !(state && state.tenants.some(function (t) { return t.tenant === ev.tenant; }));
    switch (ev.kind) {
      case 'published': case 'client_event': c.events++; break;
      case 'conflict': c.conflicts++; break;
      case 'poll': if (ev.from_cache) c.pollsCache++; else c.pollsApp++; break;
      default: scheduleRefresh();
    }
    if (newTenant) scheduleRefresh();
    updateCounts(ev.tenant);
    if (paused || !visible(ev.tenant)) return;
    if (ev.kind === 'poll' && !$('show-polls').checked) return;
    if (labels[ev.kind] && ev.kind !== 'published' && ev.kind !== 'client_event' && !$('show-sockets').checked) return;
    addRow(ev);
  }

  function updateCounts(tenant) {
    var row = $('tenants').querySelector('tr[data-tenant="' + cssEscape(tenant) + '"]');
    if (!row) { if (state) renderState(); return; }
    var c = countsOf(tenant);
    var set = function (k, v) { var td = row.querySelector('[data-count="' + k + '"]'); if (td) td.textContent = v; };
    set('events', c.events);
    set('conflicts', c.conflicts);
    set('polls_cache', c.pollsCache);
    set('polls_app', c.pollsApp);
  }

  function cssEscape(s) { return window.CSS && CSS.escape ? CSS.escape(s) : s.replace(/["\\]/g, '\\$&'); }

  function addRow(ev) {
    var tb = $('stream').tBodies[0];
    var tr = el('tr', null, 'new kind-' + ev.kind);
    tr.setAttribute('data-kind', ev.kind);
    tr.setAttribute('data-tenant', ev.tenant);
    if (ev.source) tr.setAttribute('data-source', ev.source);
    if (ev.event) tr.setAttribute('data-event', ev.event);
    if (ev.channel) tr.setAttribute('data-channel', ev.channel);
    tr.appendChild(el('td', clock(ev.t), 'mono'));
    tr.appendChild(el('td', tenantName(ev.tenant)));
    var what = labels[ev.kind];
    if (ev.kind === 'conflict') what = 'conflict at the edge';
    if (ev.kind === 'poll') what = ev.from_cache ? 'poll from cache' : 'poll to the app';
    tr.appendChild(el('td', what || ev.kind));
    var src = el('td');
    if (ev.source) src.appendChild(el('span', ev.source, 'src src-' + ev.source));
    tr.appendChild(src);
    tr.appendChild(el('td', ev.channel || (ev.record ? ev.record : ''), 'mono'));
    tr.appendChild(el('td', ev.event || '', 'mono'));
    tr.appendChild(el('td', ev.size !== undefined ? ev.size + ' B' : '', 'num'));
    var detail = el('td', null, 'small');
    var parts = [];
    if (ev.kind === 'conflict') {
      parts.push('loaded ' + ev.loaded + ', current ' + ev.current + (ev.by ? ' by ' + ev.by : ''));
    }
    if (ev.socket) parts.push((ev.kind === 'published' ? 'except ' : 'socket ') + ev.socket);
    if (ev.user) parts.push('user ' + ev.user);
    if (parts.length) detail.appendChild(el('div', parts.join(' · '), 'muted'));
    if (ev.data !== undefined) {
      detail.appendChild(el('pre', ev.data + (ev.truncated ? ' …' : ''), 'payload mono'));
    }
    tr.appendChild(detail);
    tb.insertBefore(tr, tb.firstChild);
    while (tb.rows.length > maxRows) tb.deleteRow(tb.rows.length - 1);
  }

  // --- actions -------------------------------------------------------

  function publish(e) {
    e.preventDefault();
    var out = $('publish-result');
    out.className = '';
    out.textContent = 'sending…';
    var body = {
      tenant: $('publish-tenant').value,
      channel: $('publish-channel').value.trim(),
      event: $('publish-event').value.trim(),
      data: $('publish-data').value
    };
    fetch(base + '/api/publish', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (r.ok) {
          out.className = 'ok';
          out.textContent = 'sent ' + body.event + ' to ' + body.channel;
        } else {
          out.className = 'bad';
          out.textContent = 'refused: ' + (j.error || r.status);
        }
      });
    }, function (err) {
      out.className = 'bad';
      out.textContent = 'failed: ' + err;
    });
  }

  function start() {
    $('publish').addEventListener('submit', publish);
    $('tenant-filter').addEventListener('change', function () {
      filter = this.value;
      renderState();
      var rows = $('stream').tBodies[0].rows;
      for (var i = 0; i < rows.length; i++) rows[i].hidden = !visible(rows[i].getAttribute('data-tenant'));
    });
    $('pause').addEventListener('click', function () {
      paused = !paused;
      this.textContent = paused ? 'Resume' : 'Pause';
    });
    $('clear').addEventListener('click', function () { $('stream').tBodies[0].textContent = ''; });
    loadState().then(function (ok) {
      if (!ok) return;
      openStream();
      setInterval(function () { if (!document.hidden) loadState(); }, 3000);
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
