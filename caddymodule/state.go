package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/recordsync/recordsync/engine"
	"github.com/recordsync/recordsync/versioncache"
)

// pool holds the state that outlives a config load, keyed by the state's
// name (Handler.stateName: the handler's name, else its site's).
// A reload provisions the new config (LoadOrNew: the same state) before it
// cleans up the old one (Delete), so the cache and the sockets survive; the
// state is destroyed when the last config holding it is cleaned up.
var pool = caddy.NewUsagePool()

// pooled is an Engine as the pool holds it.
type pooled struct{ *engine.Engine }

// Destruct closes the Engine when the last config holding it is cleaned up.
func (p pooled) Destruct() error {
	p.Close()
	return nil
}

// loadEngine returns the Engine of name, made with opts when the pool has
// none (a reload keeps the running one).
func loadEngine(name string, opts engine.Options, logger *zap.Logger) (*engine.Engine, error) {
	val, loaded, err := pool.LoadOrNew(name, func() (caddy.Destructor, error) {
		e, err := engine.Open(opts)
		if err != nil {
			return nil, fmt.Errorf("recordsync: %w", err)
		}
		return pooled{e}, nil
	})
	if err != nil {
		return nil, err
	}
	if loaded {
		logger.Debug("reusing the version cache and hub of the previous config", zap.String("name", name))
	}
	return val.(pooled).Engine, nil
}

func (h *Handler) cacheOptions() versioncache.Options {
	return versioncache.Options{MaxEntries: h.Cache.Size, TTL: time.Duration(h.Cache.TTL), FieldVersions: h.Cache.FieldVersions}
}
