package caddymodule

import (
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/proxy"
	"github.com/recordsync/recordsync/realtime"
	"github.com/recordsync/recordsync/versioncache"
)

// pool holds the state that outlives a config load, keyed by Handler.Name.
// A reload provisions the new config (LoadOrNew: the same state) before it
// cleans up the old one (Delete), so the cache and the sockets survive; the
// state is destroyed when the last config holding it is cleaned up.
var pool = caddy.NewUsagePool()

// sharedState is the version cache and the websocket hub of one name.
type sharedState struct {
	store  *versioncache.Store
	memory *proxy.Memory
	hub    *realtime.Hub // nil when made without app credentials

	// redisMu guards redis and redisOpts: the Redis ingress feeding hub,
	// kept across reloads while its options stay the same.
	redisMu   sync.Mutex
	redis     *laravel.RedisIngress
	redisOpts laravel.RedisOptions

	// clusterState is the membership of a cluster (cluster.go).
	clusterState
	// authMu guards auth and authOpts: the auth_upstream authorizer (and
	// its cache), kept across reloads while its options stay the same.
	authMu   sync.Mutex
	auth     *realtime.UpstreamAuthorizer
	authOpts realtime.UpstreamAuthOptions
}

// setRedis makes the state's Redis ingress match opts (URL "" for none): an
// ingress with the same URL, prefix, pattern and tenancy is kept (a reload
// does not drop its subscription); a different one is closed and a new one
// started. Every block sharing a name should give the same redis settings.
func (s *sharedState) setRedis(opts laravel.RedisOptions) error {
	s.redisMu.Lock()
	defer s.redisMu.Unlock()
	same := func(a, b laravel.RedisOptions) bool {
		return a.URL == b.URL && a.Prefix == b.Prefix && a.TenantPattern == b.TenantPattern && a.Tenanted == b.Tenanted
	}
	if s.redis != nil && same(s.redisOpts, opts) {
		return nil
	}
	if opts.URL != "" {
		// Validate before dropping the running one.
		in, err := laravel.NewRedisIngress(s.hub, opts)
		if err != nil {
			return err
		}
		if s.redis != nil {
			s.redis.Close()
		}
		s.redis, s.redisOpts = in, opts
		return nil
	}
	if s.redis != nil {
		s.redis.Close()
		s.redis, s.redisOpts = nil, laravel.RedisOptions{}
	}
	return nil
}

// Destruct closes the Redis ingress, the hub (every socket gets 4200,
// "reconnect now"), the auth_upstream authorizer and the cache. Called by the pool when the last user is
// gone.
func (s *sharedState) Destruct() error {
	_ = s.setRedis(laravel.RedisOptions{})
	if s.hub != nil {
		s.hub.Close()
	}
	s.closeCluster()
	if _, old, _ := s.setAuthUpstream(realtime.UpstreamAuthOptions{}); old != nil {
		old.Close()
	}
	s.memory.Close()
	s.store.Close()
	return nil
}

func loadState(name string, cacheOpts versioncache.Options, hubOpts realtime.Options, withHub bool, logger *zap.Logger) (*sharedState, error) {
	val, loaded, err := pool.LoadOrNew(name, func() (caddy.Destructor, error) {
		store, err := versioncache.New(cacheOpts)
		if err != nil {
			return nil, fmt.Errorf("recordsync: version cache: %w", err)
		}
		memory, err := proxy.NewMemory(0)
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("recordsync: %w", err)
		}
		s := &sharedState{store: store, memory: memory}
		if withHub {
			hubOpts.Versions = store
			s.hub, err = realtime.NewHub(hubOpts)
			if err != nil {
				memory.Close()
				store.Close()
				return nil, fmt.Errorf("recordsync: %w", err)
			}
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	if loaded {
		logger.Debug("reusing the version cache and hub of the previous config", zap.String("name", name))
	}
	return val.(*sharedState), nil
}

func (h *Handler) cacheOptions() versioncache.Options {
	return versioncache.Options{MaxEntries: h.CacheSize, TTL: time.Duration(h.CacheTTL)}
}
