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
		name = h.Name
	}
	return engine.ClusterKey{URL: url, Name: name, InstanceTimeout: time.Duration(h.Cluster.Timeout)}, nil
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
}

func registerClusterMetrics(reg *prometheus.Registry) {
	registerCollectors(reg, clusterMetrics.messages, clusterMetrics.notShared, clusterMetrics.up,
		clusterMetrics.socketLookups, clusterMetrics.notRegistered, clusterMetrics.socketTaken)
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

// Interface guard
var _ cluster.Observer = clusterObserver{}
