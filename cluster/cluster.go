// Package cluster lets several recordsync instances (Caddy processes behind
// one load balancer) behave as one, over the Redis that Laravel teams already
// run: every publish reaches the subscribers of every instance exactly once,
// versions learned on one instance are known to all, conditional writes to
// one record are serialised cluster-wide (Locker), presence is cluster-wide
// (Bus), and the open websockets of every instance are known to all (Sockets),
// so that any instance can sign a channel authorisation for a socket held by
// another one, for that socket's tenant only.
//
// The package does not import Caddy; caddymodule builds a Cluster from the
// `cluster redis://...` subdirective and hands its parts to the realtime hub
// and the proxy through their own small interfaces.
//
// Redis is shared infrastructure: what an instance reads back from it (bus
// messages, socket registry entries, the versions lock holders leave) is
// used only when it is signed with the cluster's keys, derived from a
// secret the instances share (Options.Secret), and not over its size bound
// (see deriveKeys and the Max*Bytes bounds); the rest is dropped and
// counted (Observer.Dropped).
//
// When Redis is unreachable an instance keeps serving on its own: publishes
// still reach its local subscribers, writes are serialised locally, and what
// could not be shared is counted; it reconnects with backoff and recovers by
// itself.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Options configure a Cluster.
type Options struct {
	// URL is the Redis URL, e.g. "redis://127.0.0.1:6379/0".
	URL string
	// Name namespaces the cluster's Redis keys and channels: instances with
	// the same Name (and Redis) form one cluster. Default: DefaultName("",
	// URL), "default-db{N}" with the URL's database number N.
	Name string
	// Secret authenticates what the instances read back from Redis (bus
	// messages, socket registry entries, the versions lock holders leave):
	// every instance of the cluster needs the same one. Required
	// (ErrNoSecret): caddymodule derives it from the websocket app_secret
	// unless the cluster's secret is set.
	Secret string
	// Logger receives connection trouble (warn) and recoveries (info).
	Logger *zap.Logger
	// Observer receives the refusals (Observer.Dropped) of the parts that
	// have no observer of their own: the Locker's. May be nil.
	Observer Observer
}

// Cluster is this instance's membership in a cluster. Safe for concurrent use.
type Cluster struct {
	client   *redis.Client
	name     string
	prefix   string // "recordsync:{name}:"
	instance string
	keys     clusterKeys
	obs      Observer
	log      *zap.Logger
}

// DefaultName is the cluster name of instances whose name is not set
// explicitly: base (default "default"; each run of white space in it
// becomes one "_") and the database number of the Redis URL, e.g.
// "default-db1" for redis://host:6379/1.
//
// Redis pub/sub ignores the database number (PUBLISH on /1 reaches
// subscribers on /0: https://redis.io/docs/latest/develop/interact/pubsub/,
// "Database & Scoping"), so the channel of a cluster named without it would
// be shared by a staging on /1 and a production on /0. With it they are two
// channels; an explicit name is kept as given.
func DefaultName(base, url string) (string, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return "", fmt.Errorf("cluster: %w", err)
	}
	if base = strings.Join(strings.Fields(base), "_"); base == "" {
		base = "default"
	}
	return base + "-db" + strconv.Itoa(ro.DB), nil
}

// New connects lazily: it parses the URL and returns at once, so a Caddy
// start does not fail because Redis is briefly down.
func New(opts Options) (*Cluster, error) {
	if opts.URL == "" {
		return nil, errors.New("cluster: a Redis URL is required")
	}
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if opts.Name == "" {
		if opts.Name, err = DefaultName("", opts.URL); err != nil {
			return nil, err
		}
	}
	if strings.ContainsAny(opts.Name, " \t\r\n") {
		return nil, fmt.Errorf("cluster: name %q must not contain spaces", opts.Name)
	}
	keys, err := deriveKeys(opts.Secret, opts.Name, ro.DB)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	return &Cluster{
		client:   redis.NewClient(ro),
		name:     opts.Name,
		prefix:   "recordsync:" + opts.Name + ":",
		instance: hex.EncodeToString(id[:]),
		keys:     keys,
		obs:      opts.Observer,
		log:      opts.Logger,
	}, nil
}

// Name is the cluster's name (Options.Name, or its default).
func (c *Cluster) Name() string { return c.name }

// Instance is this instance's random id, unique in the cluster.
func (c *Cluster) Instance() string { return c.instance }

// Client is the Redis client the parts of the cluster share.
func (c *Cluster) Client() *redis.Client { return c.client }

// Key returns the Redis key or channel name for parts, in this cluster's
// namespace: Key("lock", "a", "flow", "1") → "recordsync:default-db0:lock:a:flow:1".
// Parts are joined with ':' as they are: a part that comes from outside
// (a tenant, type or id, which may contain ':') goes through RecordKey,
// which escapes it.
func (c *Cluster) Key(parts ...string) string { return c.prefix + strings.Join(parts, ":") }

// Ping checks that Redis answers.
func (c *Cluster) Ping(ctx context.Context) error { return c.client.Ping(ctx).Err() }

// Close closes the Redis client. Parts built on the Cluster must be closed first.
func (c *Cluster) Close() error { return c.client.Close() }
