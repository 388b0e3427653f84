package caddymodule

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/recordsync/recordsync/proxy"
	"github.com/recordsync/recordsync/versioncache"
)

// metrics are created once per process and registered with the registry of
// every config load (Caddy makes a new registry per load), so counters keep
// counting across reloads.
var metrics = struct {
	learned          *prometheus.CounterVec
	conflicts        *prometheus.CounterVec
	polls            *prometheus.CounterVec
	cacheEntries     prometheus.Gauge
	writersWaiting   prometheus.Gauge
	writeWaitTimeout prometheus.Counter
	tenantMissing    prometheus.Counter

	connections   prometheus.Gauge
	subscriptions prometheus.Gauge
	channels      prometheus.Gauge
	published     prometheus.Counter
	delivered     prometheus.Counter
	dropped       *prometheus.CounterVec
	slowConsumers prometheus.Counter
	encoded       prometheus.Counter
	refused       *prometheus.CounterVec

	ingressReceived *prometheus.CounterVec
	ingressDropped  *prometheus.CounterVec
	ingressUp       *prometheus.GaugeVec
	httpAPIRequests *prometheus.CounterVec

	clusterLockWait      *prometheus.HistogramVec
	clusterLockFallbacks prometheus.Counter
	clusterLockExpired   prometheus.Counter
	authSignatures       *prometheus.CounterVec
	methodOverrides      *prometheus.CounterVec
	authUpstream         *prometheus.CounterVec
	proxyRefused         *prometheus.CounterVec
	mergedPatches        prometheus.Counter
}{
	learned: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "versions_learned_total",
		Help: "Record versions learned, by where they were read (response, conflict_response, poll, event).",
	}, []string{"source"}),
	conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "conflicts_total",
		Help: "Stale writes, by who answered them (cache: recordsync without the upstream; upstream: the application).",
	}, []string{"answered_by"}),
	mergedPatches: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "merged_patches_total",
		Help: "Stale PATCHes whose fields nobody else changed, forwarded on the current version (merge_patches).",
	}),
	polls: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "version_polls_total",
		Help: "Version polls, by who answered them (cache or upstream).",
	}, []string{"answered_by"}),
	cacheEntries: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "recordsync", Name: "cache_entries",
		Help: "About how many record versions the cache holds.",
	}),
	writersWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "recordsync", Name: "writers_waiting",
		Help: "Conditional writes waiting for an earlier write to the same record.",
	}),
	writeWaitTimeout: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "write_wait_timeouts_total",
		Help: "Conditional writes answered 503 because their record stayed busy for write_wait, or whose client went away while waiting.",
	}),
	tenantMissing: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "tenant_missing_total",
		Help: "Requests passed through uninspected (or websockets refused) because their tenant key was empty.",
	}),
	connections: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "recordsync", Name: "ws_connections",
		Help: "Open websocket connections.",
	}),
	subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "recordsync", Name: "ws_subscriptions",
		Help: "Channel subscriptions of all open connections.",
	}),
	channels: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "recordsync", Name: "ws_channels",
		Help: "Channels with at least one subscriber.",
	}),
	published: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "events_published_total",
		Help: "Events published to the hub.",
	}),
	delivered: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "events_delivered_total",
		Help: "Event frames queued to subscribers.",
	}),
	dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "events_dropped_total",
		Help: "Events or frames not delivered, by reason (cache_evicted: a cache channel's last event forgotten before its expiry to stay within the cache's bounds).",
	}, []string{"reason"}),
	refused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "ws_refused_total",
		Help: "What sockets asked for and were refused, by reason (connection, message, signature, app, channel, limit, signin: a pusher:signin refused or a user channel of another user; api_signature, api_tenant: Pusher HTTP API requests with a bad signature, or a signature already used for another tenant); refused client events are in events_dropped_total.",
	}, []string{"reason"}),
	encoded: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "ws_frames_encoded_total",
		Help: "Frames encoded by publishes: one per publish that found subscribers, however many sockets it reached.",
	}),
	slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "slow_consumer_disconnects_total",
		Help: "Connections closed (4100) because their send queue overflowed.",
	}),
	ingressReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "ingress_messages_total",
		Help: "Messages taken in by an ingress (redis).",
	}, []string{"ingress"}),
	ingressDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "ingress_dropped_total",
		Help: "Ingress messages not published, by reason (malformed, no_tenant, bad_channel, too_large).",
	}, []string{"ingress", "reason"}),
	ingressUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "recordsync", Name: "ingress_up",
		Help: "1 while an ingress (redis) is connected and subscribed.",
	}, []string{"ingress"}),
	httpAPIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "http_api_requests_total",
		Help: "Pusher HTTP API requests, by status code.",
	}, []string{"code"}),
	clusterLockWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "recordsync", Name: "cluster_lock_wait_seconds",
		Help:    "Time a conditional write spent asking for its record's cluster-wide lock, by outcome (acquired, fallback, timeout).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"outcome"}),
	clusterLockFallbacks: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "cluster_lock_fallbacks_total",
		Help: "Conditional writes serialised by this instance only because the cluster lock (Redis) could not be asked.",
	}),
	clusterLockExpired: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "cluster_lock_expired_total",
		Help: "Conditional writes whose cluster-wide lock expired before they finished (raise cluster_lock_timeout above the slowest upstream write).",
	}),
	authSignatures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "auth_signatures_total",
		Help: "Answers of the app's channel authorisation endpoint, by what recordsync did (signed: an unsigned grant signed; passed: as the app gave it; remembered: a grant of the grant memory signed without the app; unsigned: an unsigned grant left unsigned, the request not read as PHP read it; refused: a 2xx answered 403, the socket not open in the request's tenant or the request not read as PHP read it).",
	}, []string{"result"}),
	methodOverrides: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "method_overrides_total",
		Help: "POSTs to record routes that Laravel routes as another method (write: read as PUT/PATCH and guarded; unread: the override could not be read as Laravel reads it, passed through unguarded).",
	}, []string{"outcome"}),
	authUpstream: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "auth_upstream_requests_total",
		Help: "auth_upstream requests to the app, by result (allowed, refused, not_a_grant: a 2xx that is no grant, error, busy); cache hits are not counted.",
	}, []string{"result"}),
	proxyRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "recordsync", Name: "proxy_refused_total",
		Help: "What the proxy declined to take from a request or an answer, by reason (credential_basic, credential_not_token, session_unverified: not the caller; session_unread: cookies not read for the session (too many encrypted ones, or a header PHP may read otherwise); not_the_record: a 2xx that authorises nobody; body_unread: a conditional write passed without a turn; turn_expired: a write turn given on after twice write_wait; inertia_unfollowed: an Inertia write's redirect not followed to the record's page in time; inertia_page: an Inertia route's answer with no readable page or record; version_too_long, updated_by_id_too_long, updated_by_name_truncated: learned strings over their bound).",
	}, []string{"reason"}),
}

func registerMetrics(reg *prometheus.Registry) {
	registerCollectors(reg,
		metrics.learned, metrics.conflicts, metrics.mergedPatches, metrics.polls, metrics.cacheEntries,
		metrics.writersWaiting, metrics.writeWaitTimeout, metrics.tenantMissing,
		metrics.connections, metrics.subscriptions, metrics.channels,
		metrics.published, metrics.delivered, metrics.dropped, metrics.slowConsumers, metrics.encoded, metrics.refused,
		metrics.ingressReceived, metrics.ingressDropped, metrics.ingressUp, metrics.httpAPIRequests,
		metrics.clusterLockWait, metrics.clusterLockFallbacks, metrics.clusterLockExpired,
		metrics.authSignatures, metrics.authUpstream, metrics.methodOverrides,
		metrics.proxyRefused,
	)
	registerWebhookMetrics(reg)
	registerGrantMetrics(reg)
}

// registerCollectors registers cs with reg (nothing without a registry).
// One already registered there (an earlier provisioning of the module, the
// collectors being package-level) is fine; any other error panics.
func registerCollectors(reg *prometheus.Registry, cs ...prometheus.Collector) {
	if reg == nil {
		return
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				panic(err) // a programming error: two collectors with one name
			}
		}
	}
}

// proxyObserver feeds the proxy's decisions into the metrics.
type proxyObserver struct {
	store *versioncache.Store
}

func (o proxyObserver) Learned(source string) {
	metrics.learned.WithLabelValues(source).Inc()
	metrics.cacheEntries.Set(float64(o.store.Len()))
}
func (proxyObserver) ConflictFromCache() { metrics.conflicts.WithLabelValues("cache").Inc() }
func (proxyObserver) UpstreamConflict()  { metrics.conflicts.WithLabelValues("upstream").Inc() }
func (proxyObserver) MergedPatch()       { metrics.mergedPatches.Inc() }
func (proxyObserver) Poll(fromCache bool) {
	if fromCache {
		metrics.polls.WithLabelValues("cache").Inc()
	} else {
		metrics.polls.WithLabelValues("upstream").Inc()
	}
}
func (proxyObserver) WritersWaiting(delta int) { metrics.writersWaiting.Add(float64(delta)) }
func (proxyObserver) WriteWaitTimeout()        { metrics.writeWaitTimeout.Inc() }
func (proxyObserver) TenantMissing()           { metrics.tenantMissing.Inc() }
func (proxyObserver) ClusterLock(outcome string, waited time.Duration) {
	metrics.clusterLockWait.WithLabelValues(outcome).Observe(waited.Seconds())
	if outcome == proxy.LockFallback {
		metrics.clusterLockFallbacks.Inc()
	}
}
func (proxyObserver) ClusterLockExpired() { metrics.clusterLockExpired.Inc() }
func (proxyObserver) AuthSignature(result string) {
	metrics.authSignatures.WithLabelValues(result).Inc()
}
func (proxyObserver) MethodOverride(outcome string) {
	metrics.methodOverrides.WithLabelValues(outcome).Inc()
}
func (proxyObserver) Refused(reason string) { metrics.proxyRefused.WithLabelValues(reason).Inc() }

// hubObserver feeds the hub's activity into the metrics.
type hubObserver struct {
	store *versioncache.Store
}

func (hubObserver) Connections(delta int)   { metrics.connections.Add(float64(delta)) }
func (hubObserver) Subscriptions(delta int) { metrics.subscriptions.Add(float64(delta)) }
func (hubObserver) Channels(delta int)      { metrics.channels.Add(float64(delta)) }
func (hubObserver) Published(n int)         { metrics.published.Add(float64(n)) }
func (hubObserver) Delivered(n int)         { metrics.delivered.Add(float64(n)) }
func (hubObserver) Dropped(reason string)   { metrics.dropped.WithLabelValues(reason).Inc() }
func (hubObserver) SlowConsumer()           { metrics.slowConsumers.Inc() }
func (hubObserver) Encoded()                { metrics.encoded.Inc() }
func (hubObserver) Refused(reason string)   { metrics.refused.WithLabelValues(reason).Inc() }
func (o hubObserver) Learned() {
	metrics.learned.WithLabelValues("event").Inc()
	if o.store != nil {
		metrics.cacheEntries.Set(float64(o.store.Len()))
	}
}
