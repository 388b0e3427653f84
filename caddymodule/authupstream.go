package caddymodule

import (
	"time"

	"github.com/recordsync/recordsync/laravel"
)

// authUpstreamOptions maps auth_upstream onto the authoriser's options
// (Path "" without it): the app decides subscriptions that come without
// "auth". The Engine keeps the authoriser, and its cache of answers, while
// these settings stay the same.
func (h *Handler) authUpstreamOptions() laravel.UpstreamAuthOptions {
	if h.AuthUpstream == "" {
		return laravel.UpstreamAuthOptions{}
	}
	return laravel.UpstreamAuthOptions{
		Path:        h.AuthUpstream,
		URL:         h.AuthUpstreamURL,
		TTL:         time.Duration(h.AuthUpstreamTTL),
		Concurrency: h.AuthUpstreamConcurrency,
		Timeout:     time.Duration(h.AuthUpstreamTimeout),
		Logger:      h.logger,
		OnResult:    func(result string) { metrics.authUpstream.WithLabelValues(result).Inc() },
	}
}
