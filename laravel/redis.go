package laravel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tidwall/gjson"
	"go.uber.org/zap"

	"github.com/recordsync/recordsync/internal/redissub"
	"github.com/recordsync/recordsync/pusher"
	"github.com/recordsync/recordsync/realtime"
)

// Publisher delivers an event to this instance's subscribers (the realtime
// hub's PublishLocal: the event already came through Redis, so it is not
// shared with the cluster again).
type Publisher interface {
	PublishLocal(realtime.Event)
}

// Defaults of RedisOptions.
const (
	// DefaultRedisPrefix is Laravel's database.redis.options.prefix up to
	// Laravel 12 ("laravel-database-" in 13).
	DefaultRedisPrefix = "laravel_database_"
	// defaultRedisPrefix13 is Laravel 13's.
	defaultRedisPrefix13 = "laravel-database-"
	// DefaultRedisMinBackoff and DefaultRedisMaxBackoff bound the wait
	// between reconnection attempts (doubling, jittered).
	DefaultRedisMinBackoff = redissub.DefaultMinBackoff
	DefaultRedisMaxBackoff = redissub.DefaultMaxBackoff
	// DefaultRedisPingInterval is how long a silent subscription waits
	// before it pings Redis to find a dead connection.
	DefaultRedisPingInterval = redissub.DefaultPingInterval
	// MaxRedisMessageBytes bounds one message; a longer one is dropped.
	MaxRedisMessageBytes = 64 << 10
)

// TenantPlaceholder marks where RedisOptions.TenantPattern carries the tenant.
const TenantPlaceholder = "{tenant}"

// Reasons passed to IngressObserver.Dropped.
const (
	// IngressMalformed: not a JSON object with a string "event", or a bad
	// "data" / "socket".
	IngressMalformed = "malformed"
	// IngressNoTenant: tenancy is on and the message's channel carries no
	// readable tenant. Never broadcast to every tenant.
	IngressNoTenant = "no_tenant"
	// IngressBadChannel: the channel has not the prefix, or its name is not
	// a legal Pusher channel name.
	IngressBadChannel = "bad_channel"
	// IngressTooLarge: the message is over MaxRedisMessageBytes.
	IngressTooLarge = "too_large"
)

// IngressObserver receives an ingress's metrics; methods must be safe for
// concurrent use.
type IngressObserver interface {
	// Received counts messages taken in by the ingress ("redis").
	Received(ingress string)
	// Dropped counts messages not published, by reason (Ingress*).
	Dropped(ingress, reason string)
	// Up reports whether the ingress is connected.
	Up(ingress string, up bool)
}

type nopIngressObserver struct{}

func (nopIngressObserver) Received(string)           {}
func (nopIngressObserver) Dropped(string, string)    {}
func (nopIngressObserver) Up(ingress string, _ bool) {}

// RedisOptions configure a RedisIngress. Zero values mean the defaults.
type RedisOptions struct {
	// URL is the Redis server, e.g. "redis://127.0.0.1:6379/0" (go-redis's
	// ParseURL: redis://, rediss://, unix://). Required.
	URL string
	// Prefix is what Laravel puts before every channel name (its
	// database.redis.options.prefix). Default: DefaultRedisPrefix.
	Prefix string
	// TenantPattern, when set, replaces Prefix with a per-tenant prefix
	// holding TenantPlaceholder, e.g. "tenant{tenant}_laravel_database_":
	// the tenant of a message is read from its channel. Requires Tenanted.
	TenantPattern string
	// Tenanted is true when the site has tenancy: a message whose tenant
	// cannot be read is then dropped (IngressNoTenant), never sent to every
	// tenant. Without it every message is for the single tenant "".
	Tenanted bool
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts. Defaults: DefaultRedisMinBackoff, DefaultRedisMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// PingInterval: see DefaultRedisPingInterval.
	PingInterval time.Duration
	// Logger receives the ingress's logs. Default: zap.NewNop().
	Logger *zap.Logger
	// Observer receives metrics. May be nil.
	Observer IngressObserver
}

// redisRoute turns Redis channel names into (tenant, Pusher channel).
type redisRoute struct {
	prefix        string // without tenancy in the channel
	before, after string // around {tenant}, with a TenantPattern
	pattern       bool
	tenanted      bool
}

func newRedisRoute(o RedisOptions) (redisRoute, error) {
	r := redisRoute{prefix: o.Prefix, tenanted: o.Tenanted}
	if o.TenantPattern == "" {
		if r.prefix == "" {
			r.prefix = DefaultRedisPrefix
		}
		return r, nil
	}
	before, after, ok := strings.Cut(o.TenantPattern, TenantPlaceholder)
	if !ok || strings.Contains(after, TenantPlaceholder) {
		return r, fmt.Errorf("realtime: redis_tenant_pattern %q must hold %s once", o.TenantPattern, TenantPlaceholder)
	}
	if after == "" {
		return r, fmt.Errorf("realtime: redis_tenant_pattern %q must not end with %s: the tenant would have no end", o.TenantPattern, TenantPlaceholder)
	}
	if !o.Tenanted {
		return r, errors.New("realtime: redis_tenant_pattern needs tenancy (tenant)")
	}
	r.pattern, r.before, r.after = true, before, after
	return r, nil
}

// sharedDefault reports whether the route reads one of Laravel's default
// prefixes without a tenant pattern.
//
// Laravel's messages on Redis are not signed: the prefix is all that tells
// one app's broadcasts from another's. Laravel's config/database.php
// defaults database.redis.options.prefix to the slug of APP_NAME (default
// "Laravel", as in the skeleton's .env.example) followed by "_database_"
// ("-database-" in Laravel 13), so every app that kept its name shares it,
// and PUBLISH reaches the subscribers of every database of the server
// (https://redis.io/docs/latest/develop/interact/pubsub/, "Database &
// Scoping"): a staging on /1 and a production on /0 broadcast to each
// other. recordsync cannot see whether another app shares the server (one
// app alone on its Redis with the default prefix is common and right), so
// it warns instead of refusing.
func (r redisRoute) sharedDefault() bool {
	return !r.pattern && (r.prefix == DefaultRedisPrefix || r.prefix == defaultRedisPrefix13)
}

// psubscribe is the PSUBSCRIBE pattern: the prefix and "*", or the tenant
// pattern with "*" for the tenant and after it.
func (r redisRoute) psubscribe() string {
	if r.pattern {
		return globEscape(r.before) + "*" + globEscape(r.after) + "*"
	}
	return globEscape(r.prefix) + "*"
}

// globEscape escapes Redis glob characters.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '*', '?', '[', ']', '\\', '^':
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// split returns the tenant and channel of a Redis channel name, or the
// Drop reason.
func (r redisRoute) split(redisChannel string) (tenant, channel, reason string) {
	if r.pattern {
		rest, ok := strings.CutPrefix(redisChannel, r.before)
		if !ok {
			return "", "", IngressNoTenant
		}
		i := strings.Index(rest, r.after)
		if i <= 0 {
			return "", "", IngressNoTenant
		}
		tenant, channel = rest[:i], rest[i+len(r.after):]
	} else {
		var ok bool
		if channel, ok = strings.CutPrefix(redisChannel, r.prefix); !ok {
			return "", "", IngressBadChannel
		}
		if r.tenanted {
			return "", "", IngressNoTenant
		}
	}
	if !pusher.ValidChannelName(channel) {
		return "", "", IngressBadChannel
	}
	return tenant, channel, ""
}

// parseRedisMessage turns one message of Laravel's redis broadcaster,
// {"event":"...","data":{...,"socket":"123.456"|null},"socket":"123.456"|null},
// into a realtime.Event for channel of tenant. data (an object) becomes the
// payload's JSON text without its "socket" member (see withoutSocket); a
// string data is taken as the payload's text, as it is. The top-level
// "socket" is the socket that gets no copy. It returns the Drop reason when
// the message is unusable.
func parseRedisMessage(tenant, channel string, payload []byte) (realtime.Event, string) {
	if len(payload) > MaxRedisMessageBytes {
		return realtime.Event{}, IngressTooLarge
	}
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || payload[0] != '{' {
		return realtime.Event{}, IngressMalformed
	}
	var m struct {
		Event  string          `json:"event"`
		Data   json.RawMessage `json:"data"`
		Socket json.RawMessage `json:"socket"`
	}
	if err := json.Unmarshal(payload, &m); err != nil || m.Event == "" || len(m.Event) > realtime.MaxEventNameLength {
		return realtime.Event{}, IngressMalformed
	}
	ev := realtime.Event{Tenant: tenant, Channel: channel, Name: m.Event}
	data := bytes.TrimSpace(m.Data)
	switch {
	case len(data) == 0 || string(data) == "null":
	case data[0] == '"':
		var s string
		if json.Unmarshal(data, &s) != nil {
			return realtime.Event{}, IngressMalformed
		}
		ev.Data = []byte(s)
	case data[0] == '{':
		ev.Data = withoutSocket(data)
	case data[0] == '[':
		ev.Data = data
	default:
		return realtime.Event{}, IngressMalformed
	}
	if s := bytes.TrimSpace(m.Socket); len(s) > 0 && string(s) != "null" {
		var id string
		if json.Unmarshal(s, &id) != nil {
			return realtime.Event{}, IngressMalformed
		}
		ev.ExceptSocket = id
	}
	return ev, ""
}

// laravelSocketKey is the payload member Laravel adds to every broadcast.
const laravelSocketKey = "socket"

// withoutSocket returns obj, a valid JSON object, without its top-level
// "socket" members, whatever their values (null included).
//
// Laravel adds "socket" to every payload itself, after the app's own keys
// (Illuminate/Broadcasting/BroadcastEvent.php: array_merge($payload,
// ['socket' => data_get($event, 'socket')]), the saving request's
// X-Socket-ID under toOthers(), else null), so the key is Laravel's, never
// the app's. PusherBroadcaster.php pulls it out before sending, but
// RedisBroadcaster.php builds its message with 'data' => $payload before
// 'socket' => Arr::pull($payload, 'socket'), so the id stays in data.
// Delivered as is, every subscriber would learn the writer's socket id and
// could send it as X-Socket-ID to suppress that user's copy of a save.
//
// The member is cut out of the text, with one separating comma: every other
// byte stays as it was, key order included, and obj itself is returned
// (not copied) when it has no "socket". A key spelled with escapes
// ("sock\u0065t") is the same key to every JSON reader and is cut too; a
// "socket" inside a nested value is the app's and stays.
func withoutSocket(obj []byte) []byte {
	// A member is obj[start:end]: from its key's opening quote to just
	// past its value.
	type member struct {
		start, end int
		drop       bool
	}
	var members []member
	dropped := false
	gjson.ParseBytes(obj).ForEach(func(key, value gjson.Result) bool {
		m := member{start: key.Index, end: value.Index + len(value.Raw), drop: key.Str == laravelSocketKey}
		dropped = dropped || m.drop
		members = append(members, m)
		return true
	})
	if !dropped {
		return obj
	}
	// obj is '{' ws m0 sep0 m1 ... m(n-1) ws '}': keep the text before m0
	// and after m(n-1), and each kept member preceded, unless it is the first
	// kept, by the separator that followed the previous kept member.
	out := make([]byte, 0, len(obj))
	out = append(out, obj[:members[0].start]...)
	prev := -1
	for i, m := range members {
		if m.drop {
			continue
		}
		if prev >= 0 {
			out = append(out, obj[members[prev].end:members[prev+1].start]...)
		}
		out = append(out, obj[m.start:m.end]...)
		prev = i
	}
	return append(out, obj[members[len(members)-1].end:]...)
}

// RedisIngress subscribes to Laravel's redis broadcaster (PSUBSCRIBE) and
// publishes its messages to a Hub, the role laravel-echo-server had. It owns
// one goroutine (redissub, the subscriber the cluster bus uses too) that
// reconnects with a capped, jittered backoff when Redis goes away:
// deliveries resume with no restart. NewRedisIngress starts it, Close stops
// it; both are safe for concurrent use.
type RedisIngress struct {
	pub    Publisher
	client *redis.Client
	route  redisRoute
	opts   RedisOptions
	log    *zap.Logger
	obs    IngressObserver
	sub    *redissub.Subscriber
	outage *redissub.Outage

	closeOnce sync.Once
}

// ingressRedis names the Redis ingress in metrics.
const ingressRedis = "redis"

// NewRedisIngress validates opts and starts subscribing; it does not wait
// for Redis (an unreachable Redis is retried in the background).
func NewRedisIngress(pub Publisher, opts RedisOptions) (*RedisIngress, error) {
	if opts.URL == "" {
		return nil, errors.New("realtime: redis URL is required")
	}
	ropts, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("realtime: redis %q: %w", redactURL(opts.URL), err)
	}
	route, err := newRedisRoute(opts)
	if err != nil {
		return nil, err
	}
	// The backoff and ping defaults are redissub's, applied by it.
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Observer == nil {
		opts.Observer = nopIngressObserver{}
	}
	log := opts.Logger.With(zap.String("redis", redactURL(opts.URL)), zap.String("pattern", route.psubscribe()))
	if route.sharedDefault() {
		log.Warn("realtime: the redis ingress reads Laravel's default prefix: every app on this Redis server whose APP_NAME is Laravel's default broadcasts on these channels, whatever its database number (Redis pub/sub ignores it), and its events, private ones included, would reach this site's subscribers; give the app its own prefix (REDIS_PREFIX, database.redis.options.prefix) and set the redis prefix to it",
			zap.String("prefix", route.prefix))
	}
	r := &RedisIngress{
		pub:    pub,
		client: redis.NewClient(redissub.ClientOptions(ropts)),
		route:  route,
		opts:   opts,
		log:    log,
		obs:    opts.Observer,
		outage: redissub.NewOutage(log,
			"realtime: redis ingress lost its connection; retrying in the background",
			"realtime: redis ingress retry failed",
			"realtime: redis ingress subscribed again"),
	}
	r.obs.Up(ingressRedis, false)
	pattern := route.psubscribe()
	r.sub = redissub.Start(redissub.Options{
		Subscribe: func(ctx context.Context) *redis.PubSub { return r.client.PSubscribe(ctx, pattern) },
		Handle:    func(m *redis.Message) { r.handle(m.Channel, m.Payload) },
		Up: func() {
			if !r.outage.Up() {
				r.log.Info("realtime: redis ingress subscribed")
			}
			r.obs.Up(ingressRedis, true)
		},
		Down: func(err error) {
			r.obs.Up(ingressRedis, false)
			r.outage.Down(err)
		},
		PingInterval: opts.PingInterval,
		MinBackoff:   opts.MinBackoff,
		MaxBackoff:   opts.MaxBackoff,
	})
	return r, nil
}

// redactURL hides a password in a Redis URL for logs and errors.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		return scheme + "://***@" + rest[at+1:]
	}
	return s
}

// Close stops the ingress and waits for its goroutine (at most
// realtime.DefaultCloseWait). Idempotent.
func (r *RedisIngress) Close() {
	r.closeOnce.Do(func() {
		if !r.sub.Close(realtime.DefaultCloseWait) {
			r.log.Warn("recordsync: redis ingress still stopping after the close wait")
		}
		_ = r.client.Close()
	})
}

// handle publishes one message, or counts why not.
func (r *RedisIngress) handle(redisChannel, payload string) {
	r.obs.Received(ingressRedis)
	tenant, channel, reason := r.route.split(redisChannel)
	if reason == "" {
		var ev realtime.Event
		ev, reason = parseRedisMessage(tenant, channel, []byte(payload))
		if reason == "" {
			// Every instance of a cluster subscribes to the app's Redis
			// itself: sharing the message too would deliver it twice.
			ev.Source = realtime.SourceRedis
			r.pub.PublishLocal(ev)
			return
		}
	}
	r.obs.Dropped(ingressRedis, reason)
	if ce := r.log.Check(zap.DebugLevel, "recordsync: redis message dropped"); ce != nil {
		if len(redisChannel) > 256 {
			redisChannel = strings.ToValidUTF8(redisChannel[:256], "") + "…"
		}
		ce.Write(zap.String("channel", redisChannel), zap.String("reason", reason))
	}
}
