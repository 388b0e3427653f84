// Package engine wires recordsync's parts together in plain Go: the version
// cache, the proxy's memory, the websocket hub, and the parts a
// configuration may add or change (the Redis ingress, the cluster
// membership, the auth_upstream authoriser). An Engine outlives
// configuration loads: the Caddy glue keeps one per name in Caddy's
// UsagePool, applies each new configuration to it (Apply) and builds that
// configuration's proxy on it (NewProxy: the Engine's cache and memory, the
// hub as Publisher and Signer — without a hub, the cluster's Link as
// Publisher — and the cluster's Locker). No adapter sits between them: the
// hub implements the proxy's Publisher and Signer, the cluster's Link and
// Sockets the hub's Broker and SocketDirectory, the cluster's Locker the
// proxy's Locker, and all of them speak versioncache's Key, Entry and Saved.
//
// What a part's identity is decides whether a reload keeps it:
//   - the cache, the proxy's memory and the hub are made once, at Open, and
//     live until Close (the hub's settings, such as credentials and limits,
//     are applied live with realtime.Hub.Update);
//   - the Redis ingress is kept while its URL, prefix, tenant pattern and
//     tenancy stay the same;
//   - the cluster membership is kept while its URL, name, secret and
//     instance timeout stay the same;
//   - the auth_upstream authoriser (and its cache of answers) is kept while
//     its path, URL, TTL, concurrency and timeout stay the same.
//
// It also serves the live console (console.go), the one part that shows both
// the hub and the proxy: its monitor (monitor.go) is the hub's Activity and
// the proxy's EdgeObserver, made at Open and kept, with the console's
// sessions, across reloads; each configuration builds its Console on it
// (NewConsole).
//
// It knows nothing of Caddy or of metrics registries; the console is its one
// HTTP handler, given the user an authentication in front established as a
// plain string.
package engine
