package caddymodule

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/recordsync/recordsync/cluster"
)

// clusterConfig is what makes two cluster memberships the same: a reload
// with the same URL and name keeps the running one.
type clusterConfig struct {
	url, name string
	// timeout is cluster.BusOptions.InstanceTimeout (0: the default); the
	// heartbeat is a fifth of it.
	timeout time.Duration
}

// clusterState is the shared state's membership of a cluster:
// the Cluster (Redis client, namespace, instance id) and the bus that
// shares events, versions and presence. It survives reloads with the rest
// of the shared state.
type clusterState struct {
	// clusterMu guards clus, link and clusterCfg.
	clusterMu  sync.Mutex
	clus       *cluster.Cluster
	link       *cluster.Link
	clusterCfg clusterConfig
}

// cluster returns the state's Cluster, nil when none is configured. Parts
// built on it (the cluster-wide write lock) take it from here.
func (s *sharedState) cluster() *cluster.Cluster {
	s.clusterMu.Lock()
	defer s.clusterMu.Unlock()
	return s.clus
}

// provisionCluster joins, keeps or leaves the cluster to match this config.
func (h *Handler) provisionCluster(ctx caddy.Context, state *sharedState) error {
	registerClusterMetrics(ctx.GetMetricsRegistry())
	url := caddy.NewReplacer().ReplaceKnown(h.Cluster, "")
	if url == "" && h.Cluster != "" {
		return errors.New("recordsync: cluster is empty after its placeholders were replaced")
	}
	name := h.ClusterName
	if name == "" {
		name = h.Name
	}
	cfg := clusterConfig{url: url, name: name, timeout: time.Duration(h.ClusterTimeout)}
	if url == "" {
		cfg = clusterConfig{}
	}
	if err := state.setCluster(cfg, h.logger); err != nil {
		return fmt.Errorf("recordsync: cluster: %w", err)
	}
	return nil
}

// setCluster makes the state's cluster match cfg (url "" for none): the
// same url and name keep the running membership; others replace it. Every
// block sharing a name should give the same cluster settings.
func (s *sharedState) setCluster(cfg clusterConfig, logger *zap.Logger) error {
	s.clusterMu.Lock()
	defer s.clusterMu.Unlock()
	if cfg == s.clusterCfg {
		return nil
	}
	if cfg.url == "" {
		s.closeClusterLocked()
		return nil
	}
	c, err := cluster.New(cluster.Options{URL: cfg.url, Name: cfg.name, Logger: logger})
	if err != nil {
		return err
	}
	s.closeClusterLocked()
	s.clus, s.clusterCfg = c, cfg
	s.link = cluster.Join(c, s.store, s.hub, cluster.LinkOptions{
		InstanceTimeout: cfg.timeout,
		BusObserver:     clusterObserver{},
		SocketsObserver: clusterObserver{},
	})
	logger.Info("recordsync: joined the cluster", zap.String("cluster_name", cfg.name), zap.String("instance", c.Instance()))
	return nil
}

// closeCluster leaves the cluster (Destruct).
func (s *sharedState) closeCluster() {
	s.clusterMu.Lock()
	defer s.clusterMu.Unlock()
	s.closeClusterLocked()
}

// closeClusterLocked leaves the cluster (cluster.Link.Close) and closes the
// Cluster. clusterMu held.
func (s *sharedState) closeClusterLocked() {
	if s.clus == nil {
		return
	}
	s.link.Close()
	_ = s.clus.Close()
	s.clus, s.link, s.clusterCfg = nil, nil, clusterConfig{}
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
		Help: "Cluster bus messages, by direction (in: from other instances, out: sent) and kind (event, version, presence, hello, hb, bye; other_protocol: from an instance speaking another bus protocol, ignored).",
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

// clusterObserver feeds the bus's activity into the metrics.
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

// Interface guards
var (
	_ cluster.BusObserver     = clusterObserver{}
	_ cluster.SocketsObserver = clusterObserver{}
)
