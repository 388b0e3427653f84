package caddymodule

import (
	"time"

	"github.com/recordsync/recordsync/realtime"
)

// authorizer returns the hub's Authorizer for this config's auth_upstream
// (the app decides subscriptions that come without "auth"), nil without it.
// The authorizer lives in the shared state, so that a reload with the same
// settings keeps its cache; one replaced by other settings is closed after
// the hub has switched (release).
func (h *Handler) authorizer(state *sharedState) (auth realtime.Authorizer, release func(), err error) {
	opts := realtime.UpstreamAuthOptions{}
	if h.AuthUpstream != "" {
		opts = realtime.UpstreamAuthOptions{
			Path:        h.AuthUpstream,
			URL:         h.AuthUpstreamURL,
			TTL:         time.Duration(h.AuthUpstreamTTL),
			Concurrency: h.AuthUpstreamConcurrency,
			Timeout:     time.Duration(h.AuthUpstreamTimeout),
			Logger:      h.logger,
			OnResult:    func(result string) { metrics.authUpstream.WithLabelValues(result).Inc() },
		}
	}
	cur, old, err := state.setAuthUpstream(opts)
	release = func() {
		if old != nil {
			old.Close()
		}
	}
	if err != nil {
		return nil, release, err
	}
	if cur == nil {
		return nil, release, nil // a nil *UpstreamAuthorizer must not become a non-nil interface
	}
	return cur, release, nil
}

// setAuthUpstream makes the state's authorizer match opts (Path "" for
// none): one with the same settings is kept; otherwise a new one is made
// and the previous one returned as old, for the caller to close once the
// hub no longer uses it.
func (s *sharedState) setAuthUpstream(opts realtime.UpstreamAuthOptions) (cur, old *realtime.UpstreamAuthorizer, err error) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	same := func(a, b realtime.UpstreamAuthOptions) bool {
		return a.Path == b.Path && a.URL == b.URL && a.TTL == b.TTL && a.Concurrency == b.Concurrency && a.Timeout == b.Timeout
	}
	if s.auth != nil && same(s.authOpts, opts) {
		return s.auth, nil, nil
	}
	if opts.Path == "" {
		old, s.auth, s.authOpts = s.auth, nil, realtime.UpstreamAuthOptions{}
		return nil, old, nil
	}
	a, err := realtime.NewUpstreamAuthorizer(opts)
	if err != nil {
		return s.auth, nil, err
	}
	old, s.auth, s.authOpts = s.auth, a, opts
	return a, old, nil
}
