<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{{ csrf_token() }}">
@auth
{{-- Whose drafts the browser kit may put back in this tab (kit/README.md, "Drafts"). --}}
<meta name="recordsync-user" content="{{ auth()->id() }}">
@endauth
<title>@yield('title') · recordsync example</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
  header { background: #1d2330; color: #fff; padding: .6rem 1.2rem; display: flex; gap: 1rem; align-items: center; }
  header a { color: #fff; } header form { margin-left: auto; }
  main { max-width: 52rem; margin: 1.5rem auto; padding: 0 1.2rem; }
  label { display: block; margin: .8rem 0 .2rem; font-weight: 600; }
  input[type=text], input[type=email], input[type=password], textarea, select { width: 100%; box-sizing: border-box; padding: .45rem; font: inherit; }
  textarea { min-height: 8rem; }
  button { font: inherit; padding: .4rem .9rem; margin-top: .8rem; cursor: pointer; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { border: 1px solid #d5d9e0; padding: .4rem .6rem; text-align: left; }
  .status { margin-top: .8rem; } .status.error { color: #a4161a; } .status.ok { color: #2b7a0b; }
  .meta { color: #5a6372; font-size: .9em; } code { background: #e9ecf1; padding: 0 .25em; }
  header code { background: #3a4254; color: #fff; }
</style>
</head>
<body>
<header>
  <strong>recordsync example</strong>
  <span class="meta" style="color:#c9ced8">tenant <code>{{ $tenant ?? \App\Tenancy::current() }}</code></span>
  <a href="/">Home</a>
  @auth
    <span>{{ auth()->user()->name }}</span>
    <form method="post" action="/logout" onsubmit="window.RecordSync && RecordSync.clearDrafts()">@csrf<button type="submit" style="margin:0">Log out</button></form>
  @endauth
</header>
<main>
@yield('content')
</main>
{{-- The recordsync browser kit, served by the proxy; absent behind a plain Caddy. --}}
<script src="/ws/recordsync.js"></script>
@yield('scripts')
</body>
</html>
