package engine

import (
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/recordsync/recordsync/cluster"
	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/proxy"
	"github.com/recordsync/recordsync/realtime"
	"github.com/recordsync/recordsync/versioncache"
)

// Options are what an Engine is made with; they define it for its life.
type Options struct {
	// Name is the state's name (caddymodule's); the grant memory binds
	// its grants to it.
	Name  string
	Cache versioncache.Options
	// Hub configures the websocket hub; nil makes an Engine without one.
	// Its Versions is set to the Engine's cache.
	Hub *realtime.Options
}

// Engine is one named recordsync instance's long-lived state. Its methods
// are safe for concurrent use.
type Engine struct {
	store  *versioncache.Store
	memory *proxy.Memory
	hub    *realtime.Hub // nil without a hub
	// monitor taps the hub and the proxy for the live console (console.go).
	monitor *monitor
	// hooks are the webhooks (webhooks.go).
	hooks webhooks

	// noFields: the cache keeps no field fingerprints (Cache.FieldVersions < 0).
	noFields bool
	// printer fingerprints record fields (versioncache.Printer), keyed by
	// the cluster's secret so that every instance's prints compare, or
	// with a random key of its own out of a cluster.
	printer kept[string, *versioncache.Printer]

	redis   kept[RedisKey, *laravel.RedisIngress]
	cluster kept[ClusterKey, *membership]
	auth    kept[AuthKey, *laravel.UpstreamAuthorizer]
	// grants is the grant memory of both authorisation paths (grants.go).
	grants *grantMemory
}

// Open makes an Engine.
func Open(o Options) (*Engine, error) {
	store, err := versioncache.New(o.Cache)
	if err != nil {
		return nil, fmt.Errorf("version cache: %w", err)
	}
	memory, err := proxy.NewMemory(0)
	if err != nil {
		store.Close()
		return nil, err
	}
	e := &Engine{store: store, memory: memory, noFields: o.Cache.FieldVersions < 0, monitor: newMonitor(), grants: newGrantMemory(o.Name)}
	if o.Hub != nil {
		hubOpts := *o.Hub
		hubOpts.Versions = store
		hubOpts.Activity = withMonitor(hubOpts.Activity, e.monitor)
		if e.hub, err = realtime.NewHub(hubOpts); err != nil {
			memory.Close()
			store.Close()
			return nil, err
		}
	}
	return e, nil
}

// fieldPrinter returns the Printer of the current cluster membership's
// secret (a new secret, a new key: prints of the old key then differ from
// every new one, which names fields as changed once and never makes a
// merge safe), or the Engine's own outside a cluster.
func (e *Engine) fieldPrinter() *versioncache.Printer {
	ck, _ := e.cluster.current()
	key := "local"
	if ck.Secret != "" {
		key = "cluster\x00" + ck.Secret
	}
	p, _, _ := e.printer.set(key, func() (*versioncache.Printer, error) {
		if ck.Secret == "" {
			return versioncache.NewPrinter(nil), nil
		}
		return versioncache.NewPrinter([]byte(ck.Secret)), nil
	})
	return p
}

// Store is the version cache.
func (e *Engine) Store() *versioncache.Store { return e.store }

// Memory is the proxy's memory (authorisations, write turns).
func (e *Engine) Memory() *proxy.Memory { return e.memory }

// Hub is the websocket hub, nil without one.
func (e *Engine) Hub() *realtime.Hub { return e.hub }

// Close closes the Redis ingress, the hub (every socket gets 4200,
// "reconnect now"), the cluster membership, the authoriser and the cache.
func (e *Engine) Close() {
	_ = e.SetRedis(RedisKey{}, nil, nil)
	if e.hub != nil {
		e.hub.Close()
	}
	e.closeWebhooks()
	_ = e.SetCluster(ClusterKey{}, cluster.LinkOptions{}, nil)
	if _, release, _ := e.SetAuthUpstream(laravel.UpstreamAuthOptions{}); release != nil {
		release()
	}
	e.memory.Close()
	e.store.Close()
}

// RedisKey is what makes two Redis ingresses the same: a reload with the
// same key keeps the running one (its subscription is not dropped).
type RedisKey struct {
	URL, Prefix, TenantPattern string
	Tenanted                   bool
}

// SetRedis makes the Redis ingress match key (URL "" for none), made with
// opts (the key's fields are taken from key). It needs the hub.
func (e *Engine) SetRedis(key RedisKey, logger *zap.Logger, obs laravel.IngressObserver) error {
	if key.URL != "" && e.hub == nil {
		return fmt.Errorf("redis needs app_key (the websocket hub)")
	}
	_, old, err := e.redis.set(key, func() (*laravel.RedisIngress, error) {
		return laravel.NewRedisIngress(e.hub, laravel.RedisOptions{
			URL: key.URL, Prefix: key.Prefix, TenantPattern: key.TenantPattern, Tenanted: key.Tenanted,
			Logger: logger, Observer: obs,
		})
	})
	if old != nil {
		old.Close()
	}
	return err
}

// ClusterKey is what makes two cluster memberships the same.
type ClusterKey struct {
	URL, Name string
	// Secret is cluster.Options.Secret: a new secret is a new membership.
	Secret string
	// InstanceTimeout is cluster.LinkOptions.InstanceTimeout.
	InstanceTimeout time.Duration
}

// membership is the Engine's Cluster and its Link.
type membership struct {
	c    *cluster.Cluster
	link *cluster.Link
	// grants is the cluster-wide grant memory (grants.go).
	grants *cluster.Grants
	// timeout is the key's InstanceTimeout; occ the webhooks' Occupancy
	// (webhooks.go), made once.
	timeout time.Duration
	occOnce sync.Once
	occ     realtime.Occupancy
}

func (m *membership) close() {
	if m.grants != nil {
		m.grants.Close()
	}
	if m.link != nil {
		m.link.Close()
	}
	_ = m.c.Close()
}

// SetCluster joins, keeps or leaves the cluster to match key (URL "" for
// none); link's InstanceTimeout is taken from key.
func (e *Engine) SetCluster(key ClusterKey, link cluster.LinkOptions, logger *zap.Logger) error {
	cur, old, err := e.cluster.set(key, func() (*membership, error) {
		c, err := cluster.New(cluster.Options{URL: key.URL, Name: key.Name, Secret: key.Secret, Logger: logger, Observer: link.Observer})
		if err != nil {
			return nil, err
		}
		return &membership{c: c, timeout: key.InstanceTimeout}, nil
	})
	// The old membership leaves before the new one joins: both set the
	// cache's and the hub's hooks. The webhooks leave its occupancy first.
	if old != nil {
		e.webhookOccupancy(cur)
		if old.grants != nil {
			e.grants.dropRemote(old.grants)
		}
		old.close()
	}
	if err != nil || cur == nil || cur.link != nil {
		return err
	}
	link.InstanceTimeout = key.InstanceTimeout
	cur.link = cluster.Join(cur.c, e.store, e.hub, link)
	cur.grants = cluster.NewGrants(cur.c, cluster.GrantsOptions{Forgotten: e.grants.forgotten, Reset: e.grants.reset, Observer: link.Observer})
	e.grants.setRemote(cur.grants)
	if logger != nil {
		logger.Info("recordsync: joined the cluster", zap.String("cluster_name", cur.c.Name()), zap.String("instance", cur.c.Instance()))
	}
	return nil
}

// Cluster is the Engine's Cluster, nil when it is in none. Parts built on
// it (the cluster-wide write lock) take it from here.
func (e *Engine) Cluster() *cluster.Cluster {
	if m := e.cluster.get(); m != nil {
		return m.c
	}
	return nil
}

// Link is the Engine's cluster membership, nil when it is in none.
func (e *Engine) Link() *cluster.Link {
	if m := e.cluster.get(); m != nil {
		return m.link
	}
	return nil
}

// AuthKey is what makes two auth_upstream authorisers the same (the cache
// of the app's answers survives a reload with the same key).
type AuthKey struct {
	Path, URL    string
	TTL          time.Duration
	Concurrency  int
	Timeout      time.Duration
	NoGrantCache bool
}

// SetAuthUpstream makes the authoriser match opts (Path "" for none) and
// returns it as the hub's Authorizer (nil for none). release closes the
// one it replaced: call it once the hub uses the new one.
func (e *Engine) SetAuthUpstream(opts laravel.UpstreamAuthOptions) (auth realtime.Authorizer, release func(), err error) {
	key := AuthKey{Path: opts.Path, URL: opts.URL, TTL: opts.TTL, Concurrency: opts.Concurrency, Timeout: opts.Timeout, NoGrantCache: opts.NoGrantCache}
	cur, old, err := e.auth.set(key, func() (*laravel.UpstreamAuthorizer, error) {
		return laravel.NewUpstreamAuthorizer(opts)
	})
	release = func() {
		if old != nil {
			old.Close()
		}
	}
	if err != nil || cur == nil {
		return nil, release, err // a nil *UpstreamAuthorizer must not become a non-nil interface
	}
	if opts.NoGrantCache {
		// The grant memory remembers its grants (grants.go).
		return &grantAuthorizer{inner: cur, m: e.grants}, release, nil
	}
	return cur, release, nil
}

// Config is what a configuration load applies to a running Engine: the
// hub's settings (applied live) and the parts kept by identity.
type Config struct {
	// Hub is the hub's settings; ignored without a hub. Its Versions and
	// Authorizer are the Engine's.
	Hub realtime.Options
	// AuthUpstream configures the auth_upstream authoriser (Path "" for
	// none); it needs the hub.
	AuthUpstream laravel.UpstreamAuthOptions
	// Redis is the Redis ingress (URL "" for none), with its logger and
	// metrics; it needs the hub.
	Redis         RedisKey
	RedisObserver laravel.IngressObserver
	// Cluster is the cluster membership (URL "" for none) and its
	// observers.
	Cluster     ClusterKey
	ClusterLink cluster.LinkOptions
	// Webhooks are the webhooks (no Targets: none); they need the hub. In
	// a cluster they decide occupancy and membership cluster-wide.
	Webhooks realtime.WebhookOptions
	// GrantTTL is how long the grant memory remembers the app's channel
	// grants (grants.go): 0 DefaultGrantTTL, negative off. GrantObserver
	// counts what it does (nil: nothing).
	GrantTTL      time.Duration
	GrantObserver GrantObserver
	Logger        *zap.Logger
}

// Apply makes the Engine match c: the hub takes its new settings (with the
// authoriser c asks for), and the Redis ingress, the cluster membership and
// the authoriser are kept or replaced by their identity. Errors name the
// setting at fault.
func (e *Engine) Apply(c Config) error {
	if e.hub == nil && c.AuthUpstream.Path != "" {
		return fmt.Errorf("auth_upstream needs app_key (the websocket hub)")
	}
	hooks, freshHooks, retireHooks, err := e.setWebhooks(c.Webhooks)
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	if e.hub != nil {
		e.grants.configure(c.GrantTTL, siteOf(e.grants.name, c.Hub.AppID, c.Hub.AppKey, c.Hub.AppSecret), c.GrantObserver)
		au := c.AuthUpstream
		au.NoGrantCache = au.Path != "" && c.GrantTTL >= 0
		auth, release, err := e.SetAuthUpstream(au)
		if err != nil {
			return err
		}
		hubOpts := c.Hub
		hubOpts.Versions, hubOpts.Authorizer = e.store, auth
		hubOpts.Activity = withMonitor(realtime.Activities(hubOpts.Activity, hooks), e.monitor)
		err = e.hub.Update(hubOpts)
		release() // the hub no longer uses a replaced authoriser
		if err != nil {
			return err
		}
		if h, ok := hooks.(*realtime.Webhooks); ok && freshHooks {
			h.Seed() // now that the hub tells them of every change
		}
	}
	if retireHooks != nil {
		retireHooks.Close()
	}
	if err := e.SetRedis(c.Redis, c.Logger, c.RedisObserver); err != nil {
		return err
	}
	if err := e.SetCluster(c.Cluster, c.ClusterLink, c.Logger); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	e.webhookOccupancy(e.cluster.get())
	return nil
}

// NewProxy builds the proxy of a configuration on the Engine: its cache and
// memory, the hub as its Publisher and Signer (without a hub, the cluster's
// Link as its Publisher), and, in
// a cluster, a cluster-wide Locker with lockTimeout (0: the default). The
// Locker holds no goroutines and is made per configuration: after a reload
// its first write asks Redis again, whatever the old one had seen.
func (e *Engine) NewProxy(o proxy.Options, lockTimeout time.Duration) (*proxy.Handler, error) {
	o.Store, o.Memory = e.store, e.memory
	o.Edge = e.monitor
	if !e.noFields {
		o.Printer = e.fieldPrinter()
	}
	// The hub publishes saves (and hands them to the cluster); without one
	// the cluster's Link shares them with the other instances itself.
	// A nil pointer must not become a non-nil interface.
	if e.hub != nil {
		o.Publisher, o.Signer = e.hub, e.hub
		if e.grants.enabled() {
			o.Grants = proxyGrants{e.grants}
		}
	} else if l := e.Link(); l != nil {
		o.Publisher = l
	}
	if c := e.Cluster(); c != nil {
		l, err := cluster.NewLocker(c, cluster.LockOptions{Timeout: lockTimeout})
		if err != nil {
			return nil, fmt.Errorf("cluster_lock_timeout: %w", err)
		}
		writeWait := o.WriteWait
		if writeWait == 0 {
			writeWait = proxy.DefaultWriteWait
		}
		if l.Timeout() > writeWait && o.Logger != nil {
			o.Logger.Warn("cluster_lock_timeout is longer than write_wait: writers queued behind a crashed instance's lock give up (503) before it expires",
				zap.Duration("cluster_lock_timeout", l.Timeout()), zap.Duration("write_wait", writeWait))
		}
		o.Locker = l
	}
	p, err := proxy.New(o)
	if err == nil && o.Grants != nil {
		e.grants.setCaller(p.UpgradeCaller)
	}
	return p, err
}
