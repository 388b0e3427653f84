package caddymodule

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/recordsync/recordsync/proxy"
)

// laravelSessionLifetime is Laravel's default SESSION_LIFETIME
// (config/session.php, 'lifetime' => 120 minutes): a session unused for
// that long is over, and a grant must not outlive its session.
const laravelSessionLifetime = 120 * time.Minute

// parseGrantTTL reads `grant_ttl <duration>|off`: off is stored as -1.
func parseGrantTTL(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	if d.Val() == "off" {
		*dst = -1
	} else {
		v, err := caddy.ParseDuration(d.Val())
		if err != nil || v <= 0 {
			return d.Errf("grant_ttl: want a positive duration or off, got %q", d.Val())
		}
		*dst = caddy.Duration(v)
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// grantTTL is callers.grant_ttl as the Engine takes it (0 the default,
// negative off); one longer than Laravel's default session lifetime is
// warned about.
func (h *Handler) grantTTL() time.Duration {
	ttl := time.Duration(h.Callers.GrantTTL)
	if ttl > laravelSessionLifetime && h.logger != nil {
		h.logger.Warn("grant_ttl is longer than Laravel's default SESSION_LIFETIME (120 minutes): a grant must not outlive the session the app gave it to; keep grant_ttl under the app's session lifetime",
			zap.Duration("grant_ttl", ttl))
	}
	return ttl
}

// passOn sends a request the proxy does not inspect to next, watching the
// app's answer for the end of the caller's session (proxy.WatchSession:
// Laravel's logout answers with a new session), which ends the caller's
// remembered grants.
func (h *Handler) passOn(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.proxy.WatchesSession(r) {
		w = h.proxy.WatchSession(w, r, func() proxy.RequestInfo { return h.requestInfo(r) })
	}
	return next.ServeHTTP(w, r)
}

// grantMetrics count the grant memory's work.
var grantMetrics = struct {
	grants *prometheus.CounterVec
	ended  *prometheus.CounterVec
}{
	grants: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "grants_total",
		Help: "Channel authorisations looked for in the grant memory, by source (auth_endpoint: pusher-js's auth request; auth_upstream) and result (remembered: answered without the app; asked: a known caller, nothing remembered, the app asked; no_caller: no caller recordsync vouches for, the app asked; unavailable: the cluster's Redis could not be asked in time, the app asked; not_stored: the app's grant could not be stored in the cluster's Redis, no answer in time or too large, so it is not remembered).",
	}, []string{"source", "result"}),
	ended: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "grants_ended_total",
		Help: "Early ends of a caller's remembered grants, by reason (refused: the app's 403 for a channel; unauthenticated: its 401; logout: the app changed or cleared the caller's session), whether or not one was remembered.",
	}, []string{"reason"}),
}

func registerGrantMetrics(reg *prometheus.Registry) {
	registerCollectors(reg, grantMetrics.grants, grantMetrics.ended)
}

// grantObserver feeds the grant memory into the metrics.
type grantObserver struct{}

func (grantObserver) Grant(source, result string) {
	grantMetrics.grants.WithLabelValues(source, result).Inc()
}
func (grantObserver) GrantEnded(why string) { grantMetrics.ended.WithLabelValues(why).Inc() }
