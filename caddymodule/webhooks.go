package caddymodule

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/recordsync/recordsync/realtime"
)

// WebhookConfig sends what happens on the hub to the app in Pusher's
// webhook format (README, "Webhooks"): a POST of {"time_ms","events"}
// signed with the app secret (X-Pusher-Key, X-Pusher-Signature), batched
// and retried.
type WebhookConfig struct {
	// URLs are where the webhooks go: absolute http or https URLs, each
	// may hold {tenant} (replaced by the events' tenant: every POST holds
	// the events of one tenant). Placeholders such as {env.X} are
	// evaluated at provisioning. At least one.
	URLs []string `json:"urls"`
	// Events are the events sent there, opt-in: channel_occupied,
	// channel_vacated, member_added, member_removed, client_event. At
	// least one.
	Events []string `json:"events"`
	// Host, when set, is the requests' Host header; it may hold {tenant}.
	// Default: the URL's host.
	Host string `json:"host,omitempty"`
	// Batch is how long events gather before a POST. The shortest of all
	// webhooks' applies. Default: 250ms.
	Batch caddy.Duration `json:"batch,omitempty"`
	// MaxEvents bounds the events of one POST. Default: 100.
	MaxEvents int `json:"max_events,omitempty"`
	// Queue bounds the events waiting for one URL (all tenants); past it
	// the oldest are dropped and counted. Default: 10000.
	Queue int `json:"queue,omitempty"`
	// RetryFor is how long a POST that got no 2xx is retried (backoff
	// from 1s doubling up to 1m). Default: 5m, as Pusher.
	RetryFor caddy.Duration `json:"retry_for,omitempty"`
	// Timeout bounds one POST. Default: 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// parseWebhooks reads `webhooks <url...> { events <name...>; host <host>;
// batch <d>; max_events <n>; queue <n>; retry_for <d>; timeout <d> }`;
// the URLs may also be given in the block (url <url...>).
func (h *Handler) parseWebhooks(d *caddyfile.Dispenser) error {
	wc := WebhookConfig{URLs: d.RemainingArgs()}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		key := d.Val()
		if seen[key] && key != "url" {
			return d.Errf("webhooks: duplicate %q", key)
		}
		seen[key] = true
		switch key {
		case "url":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			wc.URLs = append(wc.URLs, args...)
		case "events":
			wc.Events = d.RemainingArgs()
			if len(wc.Events) == 0 {
				return d.ArgErr()
			}
			if err := realtime.ValidateWebhookTarget(realtime.WebhookTarget{URL: "http://x/", Events: wc.Events}); err != nil {
				return d.Errf("webhooks events: %v", strings.TrimPrefix(err.Error(), "webhook http://x/: "))
			}
		case "host":
			if err := oneString(d, &wc.Host); err != nil {
				return err
			}
		case "batch":
			if err := oneDuration(d, &wc.Batch); err != nil {
				return err
			}
		case "max_events":
			if err := oneInt(d, &wc.MaxEvents); err != nil {
				return err
			}
		case "queue":
			if err := oneInt(d, &wc.Queue); err != nil {
				return err
			}
		case "retry_for":
			if err := oneDuration(d, &wc.RetryFor); err != nil {
				return err
			}
		case "timeout":
			if err := oneDuration(d, &wc.Timeout); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized webhooks subdirective %q (want url, events, host, batch, max_events, queue, retry_for or timeout)", key)
		}
	}
	if len(wc.URLs) == 0 {
		return d.Errf("webhooks needs at least one URL: webhooks <url...> { events ... }")
	}
	if len(wc.Events) == 0 {
		return d.Errf("webhooks needs its events (opt-in): events channel_occupied channel_vacated member_added member_removed client_event")
	}
	h.Webhooks = append(h.Webhooks, wc)
	return nil
}

// webhookOptions maps the webhooks onto the hub's (no Targets without
// any), with the placeholders of the URLs and hosts evaluated.
func (h *Handler) webhookOptions() (realtime.WebhookOptions, error) {
	if len(h.Webhooks) == 0 {
		return realtime.WebhookOptions{}, nil
	}
	if h.WebSocket.AppKey == "" {
		return realtime.WebhookOptions{}, fmt.Errorf("recordsync: webhooks need the websocket hub (app_key)")
	}
	o := realtime.WebhookOptions{
		AppKey: h.WebSocket.AppKey, AppSecret: h.WebSocket.AppSecret,
		Logger: h.logger, Observer: webhookObserver{},
	}
	repl := caddy.NewReplacer()
	for i, wc := range h.Webhooks {
		if len(wc.URLs) == 0 || len(wc.Events) == 0 {
			return o, fmt.Errorf("recordsync: webhooks #%d needs urls and events", i+1)
		}
		if wc.Batch > 0 && (o.Batch == 0 || time.Duration(wc.Batch) < o.Batch) {
			o.Batch = time.Duration(wc.Batch)
		}
		host := repl.ReplaceKnown(wc.Host, "")
		for _, u := range wc.URLs {
			t := realtime.WebhookTarget{
				URL: repl.ReplaceKnown(u, ""), Host: host, Events: wc.Events,
				MaxEvents: wc.MaxEvents, Queue: wc.Queue,
				RetryFor: time.Duration(wc.RetryFor), Timeout: time.Duration(wc.Timeout),
			}
			if err := realtime.ValidateWebhookTarget(t); err != nil {
				return o, fmt.Errorf("recordsync: %w", err)
			}
			if h.Tenant == "" && strings.Contains(t.URL+t.Host, "{tenant}") {
				return o, fmt.Errorf("recordsync: webhook %s: {tenant} needs tenant", u)
			}
			o.Targets = append(o.Targets, t)
		}
	}
	return o, nil
}

// webhookObserver feeds the webhooks' counts into the metrics.
type webhookObserver struct{}

func (webhookObserver) Events(result string, n int) {
	webhookMetrics.events.WithLabelValues(result).Add(float64(n))
}
func (webhookObserver) Request(result string) { webhookMetrics.requests.WithLabelValues(result).Inc() }
func (webhookObserver) OccupancyError()       { webhookMetrics.occupancyErrors.Inc() }

var webhookMetrics = struct {
	events          *prometheus.CounterVec
	requests        *prometheus.CounterVec
	occupancyErrors prometheus.Counter
}{
	events: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "webhook_events_total",
		Help: "Webhook events by result (sent: in a POST answered 2xx; failed: its POST given up after retry_for, or at shutdown; dropped: never sent, the queue being full or no URL for its tenant).",
	}, []string{"result"}),
	requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "webhook_requests_total",
		Help: "Webhook POST attempts by result (2xx, status: another status, error: no answer).",
	}, []string{"result"}),
	occupancyErrors: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "webhook_occupancy_errors_total",
		Help: "Exchanges with the cluster's Redis about which instances hold which channels and members that failed (the changes wait and are tried again).",
	}),
}

func registerWebhookMetrics(reg *prometheus.Registry) {
	registerCollectors(reg, webhookMetrics.events, webhookMetrics.requests, webhookMetrics.occupancyErrors)
}
