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
	"github.com/recordsync/recordsync/realtime"
	"github.com/recordsync/recordsync/versioncache"
)

// clusterConfig is what makes two cluster memberships the same: a reload
// with the same URL and name keeps the running one.
type clusterConfig struct {
	url, name string
	// timeout is cluster.BusOptions.InstanceTimeout (0: the default); the
	// heartbeat is a fifth of it.
	timeout time.Duration
}

// clusterState is the shared state's membership of a cluster (issue 6):
// the Cluster (Redis client, namespace, instance id) and the bus that
// shares events, versions and presence. It survives reloads with the rest
// of the shared state.
type clusterState struct {
	// clusterMu guards clus, bus, sockets and clusterCfg.
	clusterMu  sync.Mutex
	clus       *cluster.Cluster
	bus        *cluster.Bus
	sockets    *cluster.Sockets // nil without a hub
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
	bus := cluster.NewBus(c, cluster.BusOptions{
		Handler:           s.fromBus,
		Share:             s.sharePresence,
		InstanceGone:      s.instanceGone,
		InstanceTimeout:   cfg.timeout,
		HeartbeatInterval: cfg.timeout / 5,
		Observer:          clusterObserver{},
	})
	s.clus, s.bus, s.clusterCfg = c, bus, cfg
	s.store.SetOnAdvance(func(k versioncache.Key, e versioncache.Entry) {
		bus.Publish(cluster.Message{Kind: cluster.KindVersion, Tenant: k.Tenant, Type: k.Type, ID: k.ID,
			Version: e.Version, UpdatedByID: e.UpdatedByID, UpdatedByName: e.UpdatedByName})
	})
	if s.hub != nil {
		s.hub.SetCluster(hubBus{bus})
		// Which tenant each open socket of the cluster belongs to, for
		// signing /broadcasting/auth answers of sockets held elsewhere.
		hub := s.hub
		s.sockets = cluster.NewSockets(c, cluster.SocketsOptions{
			TTL:      cfg.timeout,
			Refresh:  cfg.timeout / 5,
			Taken:    hub.SocketIDTaken,
			Observer: clusterObserver{},
		})
		hub.SetSocketDirectory(s.sockets)
	}
	logger.Info("recordsync: joined the cluster", zap.String("cluster_name", cfg.name), zap.String("instance", c.Instance()))
	return nil
}

// closeCluster leaves the cluster (Destruct).
func (s *sharedState) closeCluster() {
	s.clusterMu.Lock()
	defer s.clusterMu.Unlock()
	s.closeClusterLocked()
}

// closeClusterLocked stops sharing, closes the bus (the other instances are
// told, so this one's presence members leave at once) and the Cluster.
// clusterMu held.
func (s *sharedState) closeClusterLocked() {
	if s.clus == nil {
		return
	}
	s.store.SetOnAdvance(nil)
	if s.hub != nil {
		s.hub.SetSocketDirectory(nil)
		s.hub.SetCluster(nil)
	}
	if s.sockets != nil {
		s.sockets.Close()
		s.sockets = nil
	}
	s.bus.Close()
	_ = s.clus.Close()
	s.clus, s.bus, s.clusterCfg = nil, nil, clusterConfig{}
}

// fromBus applies a message of another instance.
func (s *sharedState) fromBus(m cluster.Message) {
	switch m.Kind {
	case cluster.KindVersion:
		if m.Type == "" || m.ID == "" || m.Version == "" {
			return
		}
		// Quiet: learned from the cluster, not shared again.
		s.store.AdvanceQuiet(versioncache.Key{Tenant: m.Tenant, Type: m.Type, ID: m.ID},
			versioncache.Entry{Version: m.Version, UpdatedByID: m.UpdatedByID, UpdatedByName: m.UpdatedByName})
	case cluster.KindEvent:
		if s.hub != nil {
			s.hub.PublishLocal(realtime.Event{Tenant: m.Tenant, Channel: m.Channel, Name: m.Name, Data: []byte(m.Data),
				ExceptSocket: m.ExceptSocket, Version: m.Version, ClientEvent: m.Client, UserID: m.UserID})
		}
	case cluster.KindPresence:
		if s.hub == nil {
			return
		}
		ch := realtime.PresenceChange{Op: m.Op, Tenant: m.Tenant, Channel: m.Channel, UserID: m.UserID, Info: []byte(m.Info)}
		if m.Op == cluster.PresenceSync {
			ch.Members = make([]realtime.PresenceMember, len(m.Members))
			for i, mm := range m.Members {
				ch.Members[i] = realtime.PresenceMember{Tenant: mm.Tenant, Channel: mm.Channel, UserID: mm.UserID, Info: []byte(mm.Info)}
			}
		}
		s.hub.RemotePresence(m.Instance, ch)
	}
}

func (s *sharedState) sharePresence() {
	if s.hub != nil {
		s.hub.SharePresence()
	}
}

func (s *sharedState) instanceGone(instance string) {
	if s.hub != nil {
		s.hub.InstanceGone(instance)
	}
}

// hubBus is the hub's realtime.ClusterBus: realtime.Event and presence
// changes become cluster.Messages (the one place where they do).
type hubBus struct{ bus *cluster.Bus }

func (b hubBus) Publish(ev realtime.Event) {
	b.bus.Publish(cluster.Message{Kind: cluster.KindEvent, Tenant: ev.Tenant, Channel: ev.Channel, Name: ev.Name,
		Data: string(ev.Data), ExceptSocket: ev.ExceptSocket, Version: ev.Version, Client: ev.ClientEvent, UserID: ev.UserID})
}

func (b hubBus) PublishPresence(ch realtime.PresenceChange) {
	m := cluster.Message{Kind: cluster.KindPresence, Op: ch.Op, Tenant: ch.Tenant, Channel: ch.Channel, UserID: ch.UserID, Info: string(ch.Info)}
	if ch.Op == realtime.PresenceSync {
		m.Members = make([]cluster.Member, len(ch.Members))
		for i, mm := range ch.Members {
			m.Members[i] = cluster.Member{Tenant: mm.Tenant, Channel: mm.Channel, UserID: mm.UserID, Info: string(mm.Info)}
		}
	}
	b.bus.Publish(m)
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
		Help: "Cluster bus messages, by direction (in: from other instances, out: sent) and kind (event, version, presence, hello, hb, bye).",
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
	_ realtime.ClusterBus      = hubBus{}
	_ realtime.SocketDirectory = (*cluster.Sockets)(nil)
	_ cluster.SocketsObserver  = clusterObserver{}
)
