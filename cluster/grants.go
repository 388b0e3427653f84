package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/recordsync/recordsync/internal/redissub"
)

// Grants is the cluster-wide part of the grant memory: which channels the
// app granted to which caller, in which tenant, so that a caller's new
// socket on any instance (a reconnect storm after an instance died) is
// granted without asking the app again. The engine keeps a local cache in
// front of it and decides what is remembered; Grants stores, reads back
// and ends grants in Redis, and tells every instance when one ends.
//
// Layout: one hash per caller, Key("grants", callerKey) with callerKey =
// CallerKey(site, caller) (an HMAC under the cluster's grants key: the
// site, its app credentials and the caller's hashed credential are never
// written), a field per GrantField(tenant, channel), each value
// "{expires_unix_ms} {signature} {channel_data}". The signature (HMAC-SHA256
// under the grants key) covers the caller key, the field, the expiry and
// the channel data, so that a value copied to another caller, tenant or
// channel, or written by anything but an instance of this cluster, does not
// verify; a value is read only up to MaxGrantBytes (HSTRLEN first, in one
// script). The hash expires with its newest field; older fields expire by
// their own time (the instances' clocks must agree to well under the
// grant's lifetime, as NTP keeps them), and a caller holds at most
// MaxGrantsPerCaller fields: past that the hash is emptied first
// (forgetting is always safe).
//
// Ends: Forget deletes one field, or the whole hash, and publishes
// "{signature} {callerKey} {field}" on Key("grants") so that every
// instance drops its local copy (GrantsOptions.Forgotten). A forget that
// cannot reach Redis is tried again in the background until its deadline
// (the grants it ends have expired by then). While this instance is not
// subscribed to those messages it may miss one: GrantsOptions.Reset tells
// the caller to drop every local copy, and Subscribed is false until the
// subscription is back.
//
// Safe for concurrent use.
type Grants struct {
	c       *Cluster
	opts    GrantsOptions
	obs     Observer
	log     *zap.Logger
	channel string
	// subClient is a dedicated client for the subscription.
	subClient *redis.Client
	sub       *redissub.Subscriber
	// up is set while the subscription is confirmed.
	up atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	kick   chan struct{}
	once   sync.Once

	// mu guards pending: forgets to try again, each until its deadline.
	mu      sync.Mutex
	pending map[forgetKey]time.Time
}

type forgetKey struct{ callerKey, field string }

// Bounds and defaults of the grant memory in Redis.
const (
	// MaxGrantBytes bounds one stored grant (expiry, signature and
	// channel_data) and one forget message: a longer grant is not stored,
	// and one read back is refused unread (ReasonOversized).
	MaxGrantBytes = 8 << 10
	// MaxGrantFieldBytes bounds a field (tenant and channel): a grant for a
	// longer one is not stored.
	MaxGrantFieldBytes = 1 << 10
	// MaxGrantsPerCaller bounds the fields of one caller's hash.
	MaxGrantsPerCaller = 512
	// DefaultGrantOpTimeout bounds one read or write of the grant memory.
	// What it saves is a request to the app, which during a reconnect
	// storm waits longer than this for a PHP worker; a Redis that is down
	// refuses at once, so only a slow one is waited for.
	DefaultGrantOpTimeout = time.Second
	// maxForgetsPending bounds the forgets waiting for Redis; past it a
	// forget is dropped (counted as NotShared) and its grants end only by
	// their expiry on the other instances.
	maxForgetsPending = 1 << 14
)

// DroppedGrant is where a refusal passed to Observer.Dropped was read: a
// remembered grant or a grant's end message.
const DroppedGrant = "grant"

// ErrGrantTooLarge is returned by Put for a grant over MaxGrantBytes or a
// field over MaxGrantFieldBytes: it is not stored.
var ErrGrantTooLarge = errors.New("cluster: grant too large to remember")

// GrantsOptions configure Grants.
type GrantsOptions struct {
	// Forgotten is called, on the subscription's goroutine (it must not
	// block), for each grant ended by any instance of the cluster, this one
	// included: field "" ends all of callerKey's grants.
	Forgotten func(callerKey, field string)
	// Reset is called when the subscription to ends comes up or goes down:
	// an end may have been missed, so every local copy must go. Subscribed
	// is false before a Reset of a subscription going down, and true only
	// after the Reset of one coming up.
	Reset func()
	// OpTimeout bounds one Get, Put or Forget. Default:
	// DefaultGrantOpTimeout.
	OpTimeout time.Duration
	// MinBackoff and MaxBackoff bound the waits between tries of a forget
	// that failed and of the subscription. Defaults: redissub's.
	MinBackoff, MaxBackoff time.Duration
	// Observer counts refused values (Dropped with DroppedGrant) and ends
	// that could not be shared (NotShared). Default: the Cluster's.
	Observer Observer
}

// NewGrants starts the grant memory of c; it does not wait for Redis.
// Close it before c.
func NewGrants(c *Cluster, opts GrantsOptions) *Grants {
	if opts.Forgotten == nil {
		opts.Forgotten = func(string, string) {}
	}
	if opts.Reset == nil {
		opts.Reset = func() {}
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = DefaultGrantOpTimeout
	}
	if opts.Observer == nil {
		opts.Observer = c.obs
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Grants{
		c:         c,
		opts:      opts,
		obs:       opts.Observer,
		log:       c.log.With(zap.String("instance", c.instance)),
		channel:   c.Key("grants"),
		subClient: redis.NewClient(redissub.ClientOptions(c.client.Options())),
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
		kick:      make(chan struct{}, 1),
		pending:   make(map[forgetKey]time.Time),
	}
	g.sub = redissub.Start(redissub.Options{
		Subscribe: func(ctx context.Context) *redis.PubSub { return g.subClient.Subscribe(ctx, g.channel) },
		Handle:    func(m *redis.Message) { g.handle(m.Payload) },
		Up: func() {
			g.opts.Reset()
			g.up.Store(true)
		},
		Down: func(err error) {
			g.up.Store(false)
			g.opts.Reset()
			if ce := g.log.Check(zap.DebugLevel, "cluster: grant ends unheard; local grants dropped until subscribed again"); ce != nil {
				ce.Write(zap.Error(err))
			}
		},
		MinBackoff: opts.MinBackoff,
		MaxBackoff: opts.MaxBackoff,
	})
	go g.retry()
	return g
}

// Subscribed reports whether this instance hears every end of a grant:
// only then may it answer from a local copy.
func (g *Grants) Subscribed() bool { return g.up.Load() }

// CallerKey names a caller of site in Redis and in end messages: the
// HMAC of both under the cluster's grants key, so that neither is
// written and a caller of one site is never one of another.
func (g *Grants) CallerKey(site, caller string) string {
	return mac(g.c.keys.grants, "caller", site, caller)
}

// GrantField is the field of a grant of channel in tenant.
func GrantField(tenant, channel string) string { return tenant + "\x00" + channel }

func (g *Grants) key(callerKey string) string { return g.c.Key("grants", callerKey) }

// getGrantScript returns the field ARGV[1] of KEYS[1] when it is at most
// ARGV[2] bytes long, 0 when it is longer, nil when there is none.
var getGrantScript = redis.NewScript(`
local n = redis.call('HSTRLEN', KEYS[1], ARGV[1])
if n == 0 then return false end
if n > tonumber(ARGV[2]) then return 0 end
return redis.call('HGET', KEYS[1], ARGV[1])
`)

// putGrantScript sets the field ARGV[1] of KEYS[1] to ARGV[2], emptying
// the hash first when it holds ARGV[3] fields and not this one, and makes
// the hash live at least ARGV[4] ms.
var putGrantScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
	redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then
	redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`)

// Get returns the grant remembered for callerKey and field, when one
// signed by this cluster for exactly those is there and has not expired.
// err is set when Redis could not be asked in time: the caller asks the
// app.
func (g *Grants) Get(callerKey, field string) (channelData string, expires time.Time, ok bool, err error) {
	ctx, cancel := context.WithTimeout(g.ctx, g.opts.OpTimeout)
	defer cancel()
	v, err := getGrantScript.Run(ctx, g.c.client, []string{g.key(callerKey)}, field, MaxGrantBytes).Result()
	if errors.Is(err, redis.Nil) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, err
	}
	s, isString := v.(string)
	if !isString {
		g.obs.Dropped(DroppedGrant, ReasonOversized)
		return "", time.Time{}, false, nil
	}
	exp, rest, ok1 := strings.Cut(s, " ")
	sig, data, ok2 := strings.Cut(rest, " ")
	ms, perr := strconv.ParseInt(exp, 10, 64)
	if !ok1 || !ok2 || perr != nil || !validMAC(g.c.keys.grants, sig, "grant", callerKey, field, exp, data) {
		g.obs.Dropped(DroppedGrant, ReasonUnauthenticated)
		return "", time.Time{}, false, nil
	}
	expires = time.UnixMilli(ms)
	if !time.Now().Before(expires) {
		return "", time.Time{}, false, nil
	}
	return data, expires, true, nil
}

// Put remembers a grant for callerKey and field until expires.
func (g *Grants) Put(callerKey, field, channelData string, expires time.Time) error {
	ttl := time.Until(expires).Milliseconds()
	if ttl <= 0 {
		return nil
	}
	exp := strconv.FormatInt(expires.UnixMilli(), 10)
	v := exp + " " + mac(g.c.keys.grants, "grant", callerKey, field, exp, channelData) + " " + channelData
	if len(v) > MaxGrantBytes || len(field) > MaxGrantFieldBytes {
		return ErrGrantTooLarge
	}
	ctx, cancel := context.WithTimeout(g.ctx, g.opts.OpTimeout)
	defer cancel()
	return putGrantScript.Run(ctx, g.c.client, []string{g.key(callerKey)}, field, v, MaxGrantsPerCaller, ttl).Err()
}

// Forget ends the grant of callerKey and field (field "": all of
// callerKey's grants) cluster-wide: it is deleted from Redis and every
// instance is told to drop its local copy. When Redis cannot be asked in
// time the forget is tried again in the background until until (when the
// grants it ends have expired anyway), and the error is returned.
func (g *Grants) Forget(callerKey, field string, until time.Time) error {
	err := g.forgetNow(callerKey, field)
	if err == nil {
		return nil
	}
	g.mu.Lock()
	k := forgetKey{callerKey, field}
	if cur, ok := g.pending[k]; ok || len(g.pending) < maxForgetsPending {
		if until.After(cur) {
			g.pending[k] = until
		}
	} else {
		g.obs.NotShared()
	}
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default:
	}
	return err
}

// forgetNow deletes and announces one end, in one transaction.
func (g *Grants) forgetNow(callerKey, field string) error {
	ctx, cancel := context.WithTimeout(g.ctx, g.opts.OpTimeout)
	defer cancel()
	msg := mac(g.c.keys.grants, "forget", callerKey, field) + " " + callerKey + " " + field
	_, err := g.c.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if field == "" {
			p.Del(ctx, g.key(callerKey))
		} else {
			p.HDel(ctx, g.key(callerKey), field)
		}
		p.Publish(ctx, g.channel, msg)
		return nil
	})
	return err
}

// retry tries the pending forgets again, with backoff, until each works
// or its deadline passes.
func (g *Grants) retry() {
	defer close(g.done)
	backoff := redissub.NewBackoff(g.opts.MinBackoff, g.opts.MaxBackoff)
	for {
		var t *time.Timer
		var wait <-chan time.Time
		g.mu.Lock()
		n := len(g.pending)
		g.mu.Unlock()
		if n > 0 {
			t = time.NewTimer(backoff.Next())
			wait = t.C
		}
		select {
		case <-g.ctx.Done():
			if t != nil {
				t.Stop()
			}
			return
		case <-g.kick:
			if t != nil {
				t.Stop()
			}
			continue
		case <-wait:
		}
		g.mu.Lock()
		todo := make(map[forgetKey]time.Time, len(g.pending))
		for k, until := range g.pending {
			todo[k] = until
		}
		g.mu.Unlock()
		failed := false
		now := time.Now()
		for k, until := range todo {
			if now.After(until) {
				g.drop(k, until)
				continue
			}
			if err := g.forgetNow(k.callerKey, k.field); err != nil {
				failed = true
				break
			}
			g.drop(k, until)
		}
		if !failed {
			backoff.Reset()
		}
	}
}

// drop removes k from the pending forgets unless it was renewed since.
func (g *Grants) drop(k forgetKey, until time.Time) {
	g.mu.Lock()
	if cur, ok := g.pending[k]; ok && !cur.After(until) {
		delete(g.pending, k)
	}
	g.mu.Unlock()
}

// handle reads one end message: bounded, signed by this cluster.
func (g *Grants) handle(payload string) {
	if len(payload) > MaxGrantBytes {
		g.obs.Dropped(DroppedGrant, ReasonOversized)
		return
	}
	sig, rest, ok1 := strings.Cut(payload, " ")
	callerKey, field, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !validMAC(g.c.keys.grants, sig, "forget", callerKey, field) {
		g.obs.Dropped(DroppedGrant, ReasonUnauthenticated)
		return
	}
	g.opts.Forgotten(callerKey, field)
}

// Close stops the subscription and the retries (forgets still pending are
// dropped: their grants expire). It does not close the Cluster. Idempotent.
func (g *Grants) Close() {
	g.once.Do(func() {
		g.cancel()
		g.sub.Close(5 * time.Second)
		<-g.done
		g.up.Store(false)
		_ = g.subClient.Close()
	})
}
