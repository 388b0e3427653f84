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
	au := h.AuthUpstream
	if au.Path == "" {
		return laravel.UpstreamAuthOptions{}
	}
	return laravel.UpstreamAuthOptions{
		Path:        au.Path,
		URL:         au.URL,
		TTL:         time.Duration(au.TTL),
		Concurrency: au.Concurrency,
		Timeout:     time.Duration(au.Timeout),
		Logger:      h.logger,
		OnResult:    func(result string) { metrics.authUpstream.WithLabelValues(result).Inc() },
	}
}
