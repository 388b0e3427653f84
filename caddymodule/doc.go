// Package caddymodule is the Caddy glue of recordsync: it registers the HTTP
// handler module http.handlers.recordsync and its Caddyfile directive, maps
// the configuration onto an engine.Engine (kept per state name in a
// caddy.UsagePool, so that the cache and the sockets outlive a config load;
// a block's state is its name's, else its site's, so that sites share one
// only by name) and onto the proxy built on it, and exports metrics through
// Caddy's registry.
//
// It is the only package of recordsync that imports Caddy.
package caddymodule
