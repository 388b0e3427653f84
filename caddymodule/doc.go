// Package caddymodule is the Caddy glue of recordsync: it registers the HTTP
// handler module http.handlers.recordsync and its Caddyfile directive, turns
// the configuration into the constructors of the proxy, realtime and
// versioncache packages, keeps the state that must outlive a config load (the
// version cache and the websocket hub with its sockets) in a caddy.UsagePool,
// and exports metrics through Caddy's registry.
//
// It is the only package of recordsync that imports Caddy.
package caddymodule
