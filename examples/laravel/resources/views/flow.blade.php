@extends('layout')
@section('title', $flow->name)
@section('content')
<h1>Flow {{ $flow->id }}</h1>
{{-- autocomplete="off": the browser does not put back a reloaded page's old values (the kit's drafts do, knowingly). --}}
<form id="flow-form" autocomplete="off"
      data-recordsync-type="flow"
      data-recordsync-id="{{ $flow->id }}"
      data-recordsync-version="{{ $record['updated_at'] }}">
  <input type="hidden" name="client_version" value="{{ $record['updated_at'] }}">
  <label for="name">Name</label>
  <input id="name" type="text" name="name" value="{{ $flow->name }}" required>
  <label for="description">Description</label>
  <textarea id="description" name="description">{{ $flow->description }}</textarea>
  <button type="submit">Save</button>
  <p class="meta">Last saved <time id="updated-at" datetime="{{ $record['updated_at'] }}">{{ $record['updated_at'] }}</time>
    by <span id="updated-by">{{ $record['updated_by_name'] }}</span>.</p>
  <p id="save-status" class="status" role="status"></p>
</form>
<p id="viewers" class="meta" hidden></p>
@endsection
@section('scripts')
<script>
(function () {
  const form = document.getElementById('flow-form');
  const status = document.getElementById('save-status');
  const token = document.querySelector('meta[name=csrf-token]').content;
  const url = '/api/v1/flows/{{ $flow->id }}';
  const kit = window.RecordSync && window.RecordSync.watchRecord ? window.RecordSync : null;
  // One way of writing a time on the page: the kit's (its banner says the same).
  const time = (v) => (kit ? kit.formatTime(v) : v);
  let watch = null;

  function showMeta(record) {
    const at = document.getElementById('updated-at');
    at.dateTime = record.updated_at;
    at.textContent = time(record.updated_at);
    document.getElementById('updated-by').textContent = record.updated_by_name || '';
  }
  showMeta({ updated_at: form.client_version.value, updated_by_name: document.getElementById('updated-by').textContent });

  // show puts a saved record in the form: nothing unsaved is left.
  function show(record) {
    form.name.value = record.name;
    form.description.value = record.description || '';
    form.client_version.value = record.updated_at;
    form.dataset.recordsyncVersion = record.updated_at;
    showMeta(record);
    if (watch) watch.markClean(record.updated_at);
  }

  async function reload() {
    const res = await fetch(url, { headers: { Accept: 'application/json' } });
    if (res.ok) { show((await res.json()).data); status.textContent = ''; }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const res = await fetch(url, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-TOKEN': token },
      body: JSON.stringify({ name: form.name.value, description: form.description.value, client_version: form.client_version.value }),
    });
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      show(body.data);
      status.className = 'status ok'; status.textContent = 'Saved.';
    } else if (res.status === 409) {
      // Someone else saved first. The kit loads their version into the form
      // with these edits kept on top, and asks where both changed a field.
      const d = body.data || {};
      status.className = 'status error';
      status.textContent = 'Not saved: ' + (d.updated_by_name || 'someone else') + ' saved this flow at ' + time(d.updated_at) +
        (watch ? '. Your edits are still in the form: check them and save again.' : '. Reload to see their changes; your edits are still in the form.');
      if (watch) await watch.handleConflict(body);
    } else {
      status.className = 'status error'; status.textContent = body.message || ('Save failed: HTTP ' + res.status);
    }
  });

  // The browser kit (kit/README.md), served by recordsync at /ws/recordsync.js:
  // a banner naming what someone else changed while this form has unsaved
  // edits; Reload Latest (and a 409) bring their version in and keep these
  // edits (merge); a clean form just takes the latest; drafts survive a
  // reload; who else has the flow open, and who is editing it.
  if (kit) {
    watch = window.flowWatch = kit.watchRecord({
      type: 'flow', id: {{ $flow->id }}, form,
      loadedVersion: () => form.client_version.value,
      merge: true,
      onReload: reload,
      reloadWhenClean: true,
      onMerge: (info) => { if (info.latest) showMeta(info.latest); },
      viewers: '#viewers',
    });
  }
})();
</script>
@endsection
