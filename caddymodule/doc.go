// Package caddymodule is the Caddy glue of recordsync: it registers the HTTP
// handler module http.handlers.recordsync and its Caddyfile directive, maps
// the configuration onto an engine.Engine (kept per name in a
// caddy.UsagePool, so that the cache and the sockets outlive a config load)
// and onto the proxy built on it, and exports metrics through Caddy's
// registry.
//
// It is the only package of recordsync that imports Caddy.
package caddymodule
