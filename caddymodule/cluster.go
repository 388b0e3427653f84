package caddymodule

import (
	"errors"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/recordsync/recordsync/cluster"
	"github.com/recordsync/recordsync/engine"
)

// clusterKey maps the cluster settings onto the Engine's cluster
// membership; the zero key without cluster.url.
func (h *Handler) clusterKey(ctx caddy.Context) (engine.ClusterKey, error) {
	registerClusterMetrics(ctx.GetMetricsRegistry())
	url := caddy.NewReplacer().ReplaceKnown(h.Cluster.URL, "")
	if url == "" {
		if h.Cluster.URL != "" {
			return engine.ClusterKey{}, errors.New("recordsync: cluster is empty after its placeholders were replaced")
		}
		return engine.ClusterKey{}, nil
	}
	name := h.Cluster.Name
	if name == "" {
		var err error
		if name, err = cluster.DefaultName(h.Name, url); err != nil {
			return engine.ClusterKey{}, err
		}
	}
	secret := caddy.NewReplacer().ReplaceKnown(h.Cluster.Secret, "")
	if secret == "" {
		secret = h.WebSocket.AppSecret
	}
	if secret == "" {
		return engine.ClusterKey{}, errors.New("recordsync: cluster needs a secret its instances share, to authenticate what they read back from Redis: set websocket's app_secret or the cluster's secret (the same on every instance)")
	}
	return engine.ClusterKey{URL: url, Name: name, Secret: secret, InstanceTimeout: time.Duration(h.Cluster.Timeout)}, nil
}

// clusterMetrics are the cluster's metrics, registered like the others
// (metrics.go).
var clusterMetrics = struct {
	messages      *prometheus.CounterVec
	notShared     prometheus.Counter
	up            prometheus.Gauge
	socketLookups *prometheus.CounterVec
	notRegistered prometheus.Counter
	socketTaken   prometheus.Counter
	dropped       *prometheus.CounterVec
}{
	messages: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "cluster_messages_total",
		Help: "Cluster bus messages, by direction (in: from other instances, out: sent) and kind (event, saved, presence, hello, hb, bye; other_protocol: from an instance speaking another bus protocol, ignored).",
	}, []string{"direction", "kind"}),
	notShared: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "cluster_not_shared_total",
		Help: "Messages that could not be shared with the other instances (Redis unreachable, or the bus queue full); local subscribers still got them.",
	}),
	up: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "recordsync", Name: "cluster_up",
		Help: "1 while the cluster bus is subscribed and publishing.",
	}),
	socketLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "cluster_socket_lookups_total",
		Help: "Lookups of a socket held by another instance, to sign a /broadcasting/auth answer, by result (found, unknown, error: Redis could not be asked in time, the answer was not signed).",
	}, []string{"result"}),
	notRegistered: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "cluster_sockets_not_registered_total",
		Help: "Socket registry writes (open sockets, closed sockets) that Redis did not take; the next refresh that works writes every open socket again.",
	}),
	socketTaken: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "cluster_socket_ids_taken_total",
		Help: "New sockets whose id another instance already held; they were closed with 4200 so that their clients reconnect.",
	}),
	dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "cluster_dropped_total",
		Help: "What was read back from Redis and refused before use, by source (bus: a message, never handled; socket: a socket registry entry, never signed for; lock: the version a lock holder left, not used) and reason (oversized, unauthenticated: not signed with this cluster's secret, malformed, replayed).",
	}, []string{"source", "reason"}),
}

func registerClusterMetrics(reg *prometheus.Registry) {
	registerCollectors(reg, clusterMetrics.messages, clusterMetrics.notShared, clusterMetrics.up,
		clusterMetrics.socketLookups, clusterMetrics.notRegistered, clusterMetrics.socketTaken, clusterMetrics.dropped)
}

// clusterObserver feeds the cluster's bus and socket registry into the metrics.
type clusterObserver struct{}

func (clusterObserver) Message(direction, kind string) {
	clusterMetrics.messages.WithLabelValues(direction, kind).Inc()
}
func (clusterObserver) NotShared() { clusterMetrics.notShared.Inc() }
func (clusterObserver) Up(up bool) {
	v := 0.0
	if up {
		v = 1
	}
	clusterMetrics.up.Set(v)
}

func (clusterObserver) Lookup(result string) {
	clusterMetrics.socketLookups.WithLabelValues(result).Inc()
}
func (clusterObserver) NotRegistered(n int) {
	if n > 0 {
		clusterMetrics.notRegistered.Add(float64(n))
	}
}
func (clusterObserver) Taken() { clusterMetrics.socketTaken.Inc() }
func (clusterObserver) Dropped(source, reason string) {
	clusterMetrics.dropped.WithLabelValues(source, reason).Inc()
}

// Interface guard
var _ cluster.Observer = clusterObserver{}
