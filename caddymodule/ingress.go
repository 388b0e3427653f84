package caddymodule

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/recordsync/recordsync/engine"
	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/proxy"
)

// redisKey maps redis onto the Engine's Redis ingress (laravel.RedisIngress:
// what Laravel's redis broadcaster publishes); the zero key without it.
func (h *Handler) redisKey() (engine.RedisKey, error) {
	url := caddy.NewReplacer().ReplaceKnown(h.Redis.URL, "")
	if url == "" {
		if h.Redis.URL != "" {
			return engine.RedisKey{}, errors.New("recordsync: redis is empty after its placeholders were replaced")
		}
		return engine.RedisKey{}, nil
	}
	return engine.RedisKey{URL: url, Prefix: h.Redis.Prefix, TenantPattern: h.Redis.TenantPattern, Tenanted: h.Tenant != ""}, nil
}

// validTenantPattern reports whether a redis tenant_pattern holds {tenant}
// exactly once.
func validTenantPattern(p string) bool {
	return strings.Count(p, laravel.TenantPlaceholder) == 1
}

// serveHTTPAPI answers the Pusher HTTP API for the request's tenant.
func (h *Handler) serveHTTPAPI(w http.ResponseWriter, r *http.Request, info proxy.RequestInfo) error {
	sw := &statusWriter{ResponseWriter: w}
	defer func() { metrics.httpAPIRequests.WithLabelValues(strconv.Itoa(sw.status)).Inc() }()
	if info.Tenanted && info.Tenant == "" {
		metrics.tenantMissing.Inc()
		sw.Header().Set("Content-Type", "application/json")
		sw.WriteHeader(http.StatusForbidden)
		_, _ = sw.Write([]byte(`{"error":"the request has no tenant key"}` + "\n"))
		return nil
	}
	h.hub.ServeHTTPAPI(sw, r, info.Tenant)
	if sw.status >= 400 {
		if ce := h.logger.Check(zap.DebugLevel, "recordsync: HTTP API request refused"); ce != nil {
			ce.Write(zap.String("path", r.URL.Path), zap.Int("status", sw.status))
		}
	}
	return nil
}

// statusWriter notes the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ingressObserver feeds the ingresses' activity into the metrics.
type ingressObserver struct{}

func (ingressObserver) Received(ingress string) {
	metrics.ingressReceived.WithLabelValues(ingress).Inc()
}
func (ingressObserver) Dropped(ingress, reason string) {
	metrics.ingressDropped.WithLabelValues(ingress, reason).Inc()
}
func (ingressObserver) Up(ingress string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	metrics.ingressUp.WithLabelValues(ingress).Set(v)
}
