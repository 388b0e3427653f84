<!doctype html>
{{-- The shell of a page bundled as a starter kit bundles it (SpaController): the script at /build/{bundle}.js renders into #root. --}}
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{-- Echo sends it with its channel authorisations, the page with its saves. --}}
<meta name="csrf-token" content="{{ csrf_token() }}">
<meta name="recordsync-user" content="{{ $user['id'] }}">
<title>{{ $bundle }} · recordsync example</title>
{{-- The recordsync browser kit, served by the proxy. data-transport="echo": it uses only the page's Echo, which the
     bundle hands it with RecordSync.useEcho(echo), and opens no socket of its own until then (kit/README.md). --}}
<script src="/ws/recordsync.js" data-transport="echo"></script>
<script type="application/json" id="page-config">@json(['user' => $user, 'tenant' => $tenant])</script>
<script type="module" src="/build/{{ $bundle }}.js"></script>
</head>
<body>
<div id="root"></div>
</body>
</html>
