package engine

import (
	"fmt"
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

	redis   kept[RedisKey, *laravel.RedisIngress]
	cluster kept[ClusterKey, *membership]
	auth    kept[AuthKey, *laravel.UpstreamAuthorizer]
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
	e := &Engine{store: store, memory: memory}
	if o.Hub != nil {
		hubOpts := *o.Hub
		hubOpts.Versions = store
		if e.hub, err = realtime.NewHub(hubOpts); err != nil {
			memory.Close()
			store.Close()
			return nil, err
		}
	}
	return e, nil
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
	// InstanceTimeout is cluster.LinkOptions.InstanceTimeout.
	InstanceTimeout time.Duration
}

// membership is the Engine's Cluster and its Link.
type membership struct {
	c    *cluster.Cluster
	link *cluster.Link
}

func (m *membership) close() {
	if m.link != nil {
		m.link.Close()
	}
	_ = m.c.Close()
}

// SetCluster joins, keeps or leaves the cluster to match key (URL "" for
// none); link's InstanceTimeout is taken from key.
func (e *Engine) SetCluster(key ClusterKey, link cluster.LinkOptions, logger *zap.Logger) error {
	cur, old, err := e.cluster.set(key, func() (*membership, error) {
		c, err := cluster.New(cluster.Options{URL: key.URL, Name: key.Name, Logger: logger})
		if err != nil {
			return nil, err
		}
		return &membership{c: c}, nil
	})
	// The old membership leaves before the new one joins: both set the
	// cache's and the hub's hooks.
	if old != nil {
		old.close()
	}
	if err != nil || cur == nil || cur.link != nil {
		return err
	}
	link.InstanceTimeout = key.InstanceTimeout
	cur.link = cluster.Join(cur.c, e.store, e.hub, link)
	if logger != nil {
		logger.Info("recordsync: joined the cluster", zap.String("cluster_name", key.Name), zap.String("instance", cur.c.Instance()))
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
	Path, URL   string
	TTL         time.Duration
	Concurrency int
	Timeout     time.Duration
}

// SetAuthUpstream makes the authoriser match opts (Path "" for none) and
// returns it as the hub's Authorizer (nil for none). release closes the
// one it replaced: call it once the hub uses the new one.
func (e *Engine) SetAuthUpstream(opts laravel.UpstreamAuthOptions) (auth realtime.Authorizer, release func(), err error) {
	key := AuthKey{Path: opts.Path, URL: opts.URL, TTL: opts.TTL, Concurrency: opts.Concurrency, Timeout: opts.Timeout}
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
	return cur, release, nil
}
