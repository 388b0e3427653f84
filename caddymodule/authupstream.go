package caddymodule

import (
	"time"

	"github.com/recordsync/recordsync/engine"
	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/realtime"
)

// authorizer returns the hub's Authorizer for this config's auth_upstream
// (the app decides subscriptions that come without "auth"), nil without it.
// The authorizer lives in the Engine, so that a reload with the same
// settings keeps its cache; one replaced by other settings is closed after
// the hub has switched (release).
func (h *Handler) authorizer(eng *engine.Engine) (auth realtime.Authorizer, release func(), err error) {
	opts := laravel.UpstreamAuthOptions{}
	if h.AuthUpstream != "" {
		opts = laravel.UpstreamAuthOptions{
			Path:        h.AuthUpstream,
			URL:         h.AuthUpstreamURL,
			TTL:         time.Duration(h.AuthUpstreamTTL),
			Concurrency: h.AuthUpstreamConcurrency,
			Timeout:     time.Duration(h.AuthUpstreamTimeout),
			Logger:      h.logger,
			OnResult:    func(result string) { metrics.authUpstream.WithLabelValues(result).Inc() },
		}
	}
	return eng.SetAuthUpstream(opts)
}
