@extends('layout')
@section('title', $flow->name)
@section('content')
<h1>Flow {{ $flow->id }}</h1>
<form id="flow-form"
      data-recordsync-type="flow"
      data-recordsync-id="{{ $flow->id }}"
      data-recordsync-version="{{ $record['updated_at'] }}">
  <input type="hidden" name="client_version" value="{{ $record['updated_at'] }}">
  <label for="name">Name</label>
  <input id="name" type="text" name="name" value="{{ $flow->name }}" required>
  <label for="description">Description</label>
  <textarea id="description" name="description">{{ $flow->description }}</textarea>
  <button type="submit">Save</button>
  <p class="meta">Last saved <time id="updated-at">{{ $record['updated_at'] }}</time>
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
  let dirty = false;
  form.addEventListener('input', () => { dirty = true; });

  function show(record) {
    form.name.value = record.name;
    form.description.value = record.description || '';
    form.client_version.value = record.updated_at;
    form.dataset.recordsyncVersion = record.updated_at;
    document.getElementById('updated-at').textContent = record.updated_at;
    document.getElementById('updated-by').textContent = record.updated_by_name || '';
    dirty = false;
  }

  async function reload() {
    const res = await fetch('/api/v1/flows/{{ $flow->id }}', { headers: { Accept: 'application/json' } });
    if (res.ok) { show((await res.json()).data); status.textContent = ''; }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const res = await fetch('/api/v1/flows/{{ $flow->id }}', {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-TOKEN': token },
      body: JSON.stringify({ name: form.name.value, description: form.description.value, client_version: form.client_version.value }),
    });
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      show(body.data);
      status.className = 'status ok'; status.textContent = 'Saved.';
    } else if (res.status === 409) {
      const who = body.data && body.data.updated_by_name ? ' by ' + body.data.updated_by_name : '';
      status.className = 'status error';
      status.textContent = (body.message || 'This record was changed by someone else.') + ' (saved' + who +
        ' at ' + (body.data ? body.data.updated_at : '?') + '). Reload to see their changes; your edits are still in the form.';
    } else {
      status.className = 'status error'; status.textContent = body.message || ('Save failed: HTTP ' + res.status);
    }
  });

  // The browser kit (kit/README.md), served by recordsync at /ws/recordsync.js:
  // a banner when someone else saves while this form has unsaved edits, a
  // silent reload when it has none, and who else has the flow open.
  if (window.RecordSync && window.RecordSync.watchRecord) {
    window.flowWatch = window.RecordSync.watchRecord({
      type: 'flow', id: {{ $flow->id }}, form,
      loadedVersion: () => form.client_version.value,
      isDirty: () => dirty,
      onReload: reload,
      reloadWhenClean: true,
      viewers: '#viewers',
    });
  }
})();
</script>
@endsection
