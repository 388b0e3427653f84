@extends('layout')
@section('title', 'Home')
@section('content')
<h1>recordsync with a real Laravel app</h1>
<p>This Laravel 8 app runs behind Caddy. With the <code>recordsync</code> directive in front it learns each record's
version from the app's JSON, refuses stale saves at the edge, and tells other tabs when a record changes.</p>

@guest
  <p><a href="/login">Log in</a> as Alice in one browser and as Bob in another (a private window), password <code>secret</code>.</p>
@else
  <h2>What to try</h2>
  <ol>
    <li>Open the same flow as Alice and as Bob. Alice sees “Also viewing: Bob — editing” from Bob's first keystroke.
      Bob edits the description without saving; Alice changes the name and saves. Bob sees
      “Alice changed Name while you have unsaved changes.” with <em>Reload Latest</em> and <em>Dismiss</em>:
      Reload Latest brings Alice's name in and keeps Bob's description; where both changed a field, Bob picks
      <em>Keep mine</em> or <em>Use theirs</em>.</li>
    <li>Bob saves anyway: the stale version is refused with 409, and the same view opens instead of an error.
      Reload the page in the middle: Bob's unsaved edits come back (until he saves or discards them).</li>
    <li>Open a project's task table in two windows and edit tasks in one: the other refreshes itself
      (or asks first while you are editing a row).</li>
    <li>From a shell: <code>php artisan --tenant={{ $tenant }} flows:touch 1 --name="Changed by a command"</code>
      — a save the proxy never sees, broadcast through Redis.</li>
    <li>Tenants: <code>a.localhost</code> and <code>b.localhost</code> have their own records with the same ids; nothing crosses between them.</li>
    <li>Carol (<code>carol@example.com</code>) may not open flow 2 or project 2, nor subscribe to their channels.</li>
  </ol>
  <h2>Flows</h2>
  <ul>
    @foreach ($flows as $flow)
      <li><a href="/flows/{{ $flow->id }}">{{ $flow->name }}</a></li>
    @endforeach
  </ul>
  <h2>Projects</h2>
  <ul>
    @foreach ($projects as $project)
      <li><a href="/projects/{{ $project->id }}">{{ $project->name }}</a></li>
    @endforeach
  </ul>
@endguest
@endsection
