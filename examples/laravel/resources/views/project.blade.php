@extends('layout')
@section('title', $project->name)
@section('content')
<h1>{{ $project->name }}</h1>
<p class="meta">Click a title to edit it inline; Enter saves, Escape cancels.</p>
<table id="tasks" data-recordsync-channel="project.{{ $project->id }}" data-recordsync-event="task.updated">
  <thead><tr><th>#</th><th>Title</th><th>Status</th><th>Updated</th><th>By</th></tr></thead>
  <tbody></tbody>
</table>
<p id="save-status" class="status" role="status"></p>
@endsection
@section('scripts')
<script>
(function () {
  const project = {{ $project->id }};
  const tbody = document.querySelector('#tasks tbody');
  const status = document.getElementById('save-status');
  let tasks = @json($tasks);
  let editing = null; // the task id whose row is being edited
  // One way of writing a time on the page: the browser kit's.
  const time = (v) => (window.RecordSync && window.RecordSync.formatTime ? window.RecordSync.formatTime(v) : v);

  function render() {
    tbody.innerHTML = '';
    for (const t of tasks) {
      const tr = document.createElement('tr');
      tr.dataset.taskId = t.id;
      const cells = [t.id, t.title, t.status, '', t.updated_by_name || ''];
      cells.forEach((v, i) => { const td = document.createElement('td'); td.textContent = v; tr.appendChild(td); });
      const at = document.createElement('time');
      at.dateTime = t.updated_at; at.textContent = time(t.updated_at);
      tr.children[3].appendChild(at);
      const title = tr.children[1];
      title.tabIndex = 0;
      title.addEventListener('click', (e) => { if (e.target === title) edit(t, title); });
      // Only a keydown on the cell itself: the inline input's Enter bubbles here too.
      title.addEventListener('keydown', (e) => { if (e.key === 'Enter' && e.target === title) edit(t, title); });
      const sel = document.createElement('select');
      for (const s of ['todo', 'doing', 'done']) { const o = new Option(s, s, false, s === t.status); sel.add(o); }
      sel.addEventListener('change', () => save(t, { status: sel.value }));
      tr.children[2].textContent = ''; tr.children[2].appendChild(sel);
      tbody.appendChild(tr);
    }
  }

  function edit(t, td) {
    if (editing !== null) return;
    editing = t.id;
    const input = document.createElement('input');
    input.type = 'text'; input.value = t.title;
    input.setAttribute('aria-label', 'Title of task ' + t.id);
    td.textContent = ''; td.appendChild(input); input.focus();
    input.addEventListener('keydown', async (e) => {
      if (e.key !== 'Enter' && e.key !== 'Escape') return;
      e.preventDefault();
      e.stopPropagation(); // not to the title cell, which would start editing again
      if (e.key === 'Enter') { input.disabled = true; await save(t, { title: input.value }); }
      done(t.id);
    });
  }

  // done ends the inline edit: the table shows the latest rows, and the
  // keyboard is back on the title cell.
  function done(id) {
    editing = null;
    render();
    const cell = tbody.querySelector(`tr[data-task-id="${id}"] td:nth-child(2)`);
    if (cell) cell.focus();
  }

  async function save(t, changes) {
    const res = await fetch(`/api/v1/projects/${project}/tasks/${t.id}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(Object.assign({ client_version: t.updated_at }, changes)),
    });
    const body = await res.json().catch(() => ({}));
    // The list may have been reloaded meanwhile: update the row it holds now.
    const row = tasks.find((x) => x.id === t.id) || t;
    if (res.ok) { Object.assign(row, body.data); status.className = 'status ok'; status.textContent = 'Saved task ' + t.id + '.'; }
    else if (res.status === 409) {
      const d = body.data || {};
      status.className = 'status error';
      status.textContent = 'Task ' + t.id + ' not saved: ' + (d.updated_by_name || 'someone else') + ' saved it at ' + time(d.updated_at) + '. Reload the table to see their change.';
    } else { status.className = 'status error'; status.textContent = body.message || ('Save failed: HTTP ' + res.status); }
    if (editing === null) render();
  }

  async function refresh() {
    const res = await fetch(`/api/v1/projects/${project}/tasks`, { headers: { Accept: 'application/json' } });
    if (res.ok) { tasks = (await res.json()).data; if (editing === null) render(); }
  }

  render();
  window.projectTable = { refresh, isEditing: () => editing !== null };

  // The browser kit (kit/README.md), served by recordsync at /ws/recordsync.js:
  // other people's task saves refresh the table (at most every 3 s); while a
  // title is being edited it asks first. Reload Now drops the inline edit.
  if (window.RecordSync && window.RecordSync.watchList) {
    window.taskWatch = window.RecordSync.watchList({
      channel: 'project.' + project, event: 'task.updated', idKey: 'task_id',
      element: document.getElementById('tasks'),
      labels: { title: 'Title', status: 'Status' },
      isEditing: () => editing !== null,
      refresh: async () => { editing = null; await refresh(); },
    });
  }
})();
</script>
@endsection
