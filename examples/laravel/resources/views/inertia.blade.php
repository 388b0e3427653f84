<!doctype html>
{{-- The root view of the Inertia pages (app/Support/Inertia.php): what a first load gets; later visits get the page
     object as JSON. @inertia renders the page as inertia-laravel 3 does (a script element), or as inertia-laravel 2
     does (data-page on the mount element) when the test cookie inertia_major=2 is set; the page script is the
     matching client's bundle, served at /build/ as a Vite build would be. --}}
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{{ csrf_token() }}">
@auth
<meta name="recordsync-user" content="{{ auth()->id() }}">
@endauth
<title>Inertia {{ $inertiaMajor }} · recordsync example</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
  main { max-width: 52rem; margin: 1.5rem auto; padding: 0 1.2rem; }
  label { display: block; margin: .8rem 0 .2rem; font-weight: 600; }
  input[type=text], textarea { width: 100%; box-sizing: border-box; padding: .45rem; font: inherit; }
  textarea { min-height: 6rem; }
  button { font: inherit; padding: .4rem .9rem; margin-top: .8rem; cursor: pointer; }
  nav { display: flex; gap: 1rem; } .error { color: #a4161a; } .meta, small { color: #5a6372; font-size: .9em; }
</style>
{{-- The recordsync browser kit, served by the proxy (absent behind a plain Caddy): a classic script, so it is in
     place before the module below makes the first request. --}}
<script src="/ws/recordsync.js"></script>
<script type="module" src="/build/inertia-{{ $inertiaMajor }}.js"></script>
</head>
<body>
@inertia
</body>
</html>
