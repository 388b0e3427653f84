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
)

// Defaults of SocketsOptions.
const (
	// DefaultSocketTTL is how long a socket's entry outlives the last
	// refresh of its instance: a crashed instance's sockets are forgotten
	// after at most this long.
	DefaultSocketTTL = DefaultInstanceTimeout
	// DefaultSocketRefresh is how often an instance refreshes the entries
	// of its open sockets (its heartbeat).
	DefaultSocketRefresh = DefaultHeartbeatInterval
	// DefaultSocketLookupTimeout bounds one Lookup (a GET).
	DefaultSocketLookupTimeout = 250 * time.Millisecond
	// socketOpTimeout bounds one pipelined write round of the registry.
	socketOpTimeout = 2 * time.Second
	// socketBatch bounds the commands of one pipeline.
	socketBatch = 1024
	// maxGonePending bounds the removals waiting for Redis; past it (a long
	// outage with churn) they are dropped and left to expire.
	maxGonePending = 1 << 16
)

// Results passed to Observer.Lookup.
const (
	LookupFound   = "found"   // another instance has the socket open
	LookupUnknown = "unknown" // no open socket of any instance has that id
	LookupError   = "error"   // Redis could not be asked in time
)

// SocketsOptions configure a Sockets registry. Zero values mean the defaults.
type SocketsOptions struct {
	// TTL of an entry: DefaultSocketTTL.
	TTL time.Duration
	// Refresh is how often the entries of the open sockets are written
	// again; it must be well below TTL. Default: DefaultSocketRefresh, or
	// TTL/5 when TTL is given.
	Refresh time.Duration
	// LookupTimeout bounds one Lookup. Default: DefaultSocketLookupTimeout.
	LookupTimeout time.Duration
	// Taken is called (on the registry's goroutine; it must not block) with
	// the id of a socket added here that another instance already holds:
	// the caller closes that socket so that its client reconnects with a
	// new id. May be nil.
	Taken func(socketID string)
	// Observer receives metrics. May be nil.
	Observer Observer
}

// Sockets is the cluster-wide registry of open websockets: which tenant each
// socket id belongs to, whichever instance holds it. An instance signing a
// channel authorisation for a socket it does not hold (the auth request and
// the websocket went to different instances behind the load balancer) asks
// it whether the socket is an open one of the request's tenant.
//
// Each socket is one key, Key("socket", id) = "{instance} {signature}
// {tenant}" (the signature, an HMAC of the socket id, the instance and the
// tenant with the cluster's socket key, is what makes an entry one an
// instance of this cluster wrote for this socket id: see deriveKeys), written
// with SET NX EX TTL when the socket opens (so an id already held elsewhere
// is noticed), deleted (compare-and-delete: only this instance's entry) when
// it closes, and written again with SET EX TTL every Refresh: a crashed
// instance's entries expire after TTL. Writes are pipelined by one goroutine
// and never block Add or Remove. While Redis is unreachable the entries of
// new sockets wait for the next refresh that works (counted), and removals
// are left to expire.
//
// Safe for concurrent use.
type Sockets struct {
	c    *Cluster
	opts SocketsOptions
	obs  Observer
	log  *zap.Logger

	// mu guards open, fresh and gone.
	mu sync.Mutex
	// open are this instance's open sockets: id → their entry (value).
	open map[string]string
	// fresh and gone are the ids added and removed since the last write.
	fresh, gone []string

	kick   chan struct{}
	down   atomic.Bool
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// NewSockets starts the registry of c; it does not wait for Redis.
func NewSockets(c *Cluster, opts SocketsOptions) *Sockets {
	if opts.TTL <= 0 {
		opts.TTL = DefaultSocketTTL
		if opts.Refresh <= 0 {
			opts.Refresh = DefaultSocketRefresh
		}
	}
	if opts.Refresh <= 0 || opts.Refresh > opts.TTL/2 {
		opts.Refresh = max(opts.TTL/5, time.Millisecond)
	}
	if opts.LookupTimeout <= 0 {
		opts.LookupTimeout = DefaultSocketLookupTimeout
	}
	if opts.Taken == nil {
		opts.Taken = func(string) {}
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sockets{
		c:      c,
		opts:   opts,
		obs:    opts.Observer,
		log:    c.log.With(zap.String("instance", c.instance)),
		open:   make(map[string]string),
		kick:   make(chan struct{}, 1),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go s.run()
	return s
}

// SocketPrefix is the first number of this instance's socket ids ("N.M"):
// the first 32 bits of its random instance id. Two instances share it with
// a probability of 2⁻³², and even then the second, random number must
// collide too; the SET NX of Add catches what is left.
func (s *Sockets) SocketPrefix() uint32 {
	v, _ := strconv.ParseUint(s.c.instance[:8], 16, 32)
	return uint32(v)
}

func (s *Sockets) key(id string) string { return s.c.Key("socket", id) }

// value is what the entry of socketID holds: the instance id (hex, no
// spaces), the entry's signature (base64url, no spaces) and the tenant.
func (s *Sockets) value(socketID, tenant string) string {
	return s.c.instance + " " + mac(s.c.keys.socket, socketID, s.c.instance, tenant) + " " + tenant
}

// ours is the start of every entry of this instance.
func (s *Sockets) ours() string { return s.c.instance + " " }

// Add records an open socket of this instance. It never blocks: the entry
// is written by the registry's goroutine, at once.
func (s *Sockets) Add(socketID, tenant string) {
	v := s.value(socketID, tenant)
	if len(v) > MaxSocketEntryBytes {
		s.log.Warn("cluster: a socket's tenant is too long for the socket registry; other instances will not sign channel authorisations for it",
			zap.Int("bytes", len(v)), zap.Int("limit", MaxSocketEntryBytes))
	}
	s.mu.Lock()
	s.open[socketID] = v
	if len(s.fresh) < maxGonePending {
		// Past the bound (a long outage) the next refresh writes it.
		s.fresh = append(s.fresh, socketID)
	}
	s.mu.Unlock()
	s.wake()
}

// Remove forgets a socket of this instance (it closed). It never blocks.
func (s *Sockets) Remove(socketID string) {
	s.mu.Lock()
	if _, ok := s.open[socketID]; ok {
		delete(s.open, socketID)
		if len(s.gone) < maxGonePending {
			s.gone = append(s.gone, socketID)
		} else {
			s.obs.NotRegistered(1)
		}
	}
	s.mu.Unlock()
	s.wake()
}

func (s *Sockets) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// ErrSocketLookup wraps why Lookup could not ask Redis.
var ErrSocketLookup = errors.New("cluster: socket lookup failed")

// Lookup returns the tenant of socketID when another instance of the
// cluster has it open (one GETRANGE of at most MaxSocketEntryBytes + 1
// bytes, bounded by LookupTimeout). An entry of this instance is not found:
// this instance knows its own sockets, and an entry it still has in Redis is
// of a socket that closed. An entry over MaxSocketEntryBytes, or without
// this cluster's signature for this socket id (written by something else
// than an instance of this cluster, or copied from another socket's key),
// is not found either, and counted (Observer.Dropped). err is set when
// Redis could not be asked: the caller must then treat the socket as
// unknown.
func (s *Sockets) Lookup(socketID string) (tenant string, found bool, err error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.LookupTimeout)
	defer cancel()
	// GETRANGE answers "" for a missing key, and never more than the range.
	v, err := s.c.client.GetRange(ctx, s.key(socketID), 0, MaxSocketEntryBytes).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		s.obs.Lookup(LookupError)
		return "", false, errors.Join(ErrSocketLookup, err)
	}
	if v == "" {
		s.obs.Lookup(LookupUnknown)
		return "", false, nil
	}
	if len(v) > MaxSocketEntryBytes {
		s.obs.Dropped(DroppedSocket, ReasonOversized)
		s.obs.Lookup(LookupUnknown)
		return "", false, nil
	}
	inst, rest, ok1 := strings.Cut(v, " ")
	sig, tenant, ok2 := strings.Cut(rest, " ")
	if ok1 && inst == s.c.instance {
		s.obs.Lookup(LookupUnknown)
		return "", false, nil
	}
	if !ok1 || !ok2 || !validMAC(s.c.keys.socket, sig, socketID, inst, tenant) {
		s.obs.Dropped(DroppedSocket, ReasonUnauthenticated)
		s.obs.Lookup(LookupUnknown)
		if ce := s.log.Check(zap.DebugLevel, "cluster: socket registry entry without this cluster's signature; not signing for it"); ce != nil {
			ce.Write(zap.String("socket_id", socketID))
		}
		return "", false, nil
	}
	s.obs.Lookup(LookupFound)
	return tenant, true, nil
}

// BindAPISignature binds a signed HTTP API request's signature to tenant
// cluster-wide (realtime.SocketDirectory): Key("apisig", sig) = "{mac}
// {tenant}", SET NX EX ttl. ok is false when an entry of this cluster
// names another tenant; an entry without this cluster's signature (written
// by something else) is ignored and counted. err is set when Redis could not
// be asked in time.
func (s *Sockets) BindAPISignature(sig, tenant string, ttl time.Duration) (ok bool, err error) {
	if len(sig) > MaxSocketEntryBytes/2 || len(tenant) > MaxSocketEntryBytes/2 {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.LookupTimeout)
	defer cancel()
	key := s.c.Key("apisig", sig)
	set, err := s.c.client.SetNX(ctx, key, mac(s.c.keys.socket, "apisig", sig, tenant)+" "+tenant, ttl).Result()
	if err != nil {
		return false, err
	}
	if set {
		return true, nil
	}
	v, err := s.c.client.GetRange(ctx, key, 0, MaxSocketEntryBytes).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, err
	}
	m, first, cut := strings.Cut(v, " ")
	if !cut || len(v) > MaxSocketEntryBytes || !validMAC(s.c.keys.socket, m, "apisig", sig, first) {
		s.obs.Dropped(DroppedSocket, ReasonUnauthenticated)
		return true, nil
	}
	return first == tenant, nil
}

// Close stops the registry and removes this instance's entries (best
// effort, bounded), so that the others stop signing for its sockets at
// once. It does not close the Cluster. Idempotent.
func (s *Sockets) Close() {
	s.once.Do(func() {
		s.cancel()
		<-s.done
		s.mu.Lock()
		ids := make([]string, 0, len(s.open)+len(s.gone))
		for id := range s.open {
			ids = append(ids, id)
		}
		ids = append(ids, s.gone...)
		s.open, s.fresh, s.gone = map[string]string{}, nil, nil
		s.mu.Unlock()
		if len(ids) == 0 || s.down.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), socketOpTimeout)
		defer cancel()
		_ = s.write(ctx, nil, ids, nil)
	})
}

// run writes the entries: new and removed sockets as soon as they come,
// every open socket each Refresh. While Redis fails it waits a doubling,
// jittered backoff between attempts.
func (s *Sockets) run() {
	defer close(s.done)
	t := time.NewTicker(s.opts.Refresh)
	defer t.Stop()
	backoff := DefaultBusMinBackoff
	var retryAt time.Time
	for {
		refresh := false
		select {
		case <-s.ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
			refresh = true
		}
		if !retryAt.IsZero() && time.Now().Before(retryAt) {
			if refresh {
				// Still down: drop the removals (their entries expire)
				// and the claims (the first write that works writes every
				// open socket).
				s.mu.Lock()
				s.obs.NotRegistered(len(s.gone))
				s.fresh, s.gone = nil, nil
				s.mu.Unlock()
			}
			continue
		}
		s.mu.Lock()
		fresh, gone := s.fresh, s.gone
		s.fresh, s.gone = nil, nil
		if !retryAt.IsZero() {
			// After a failure a claim may have been written without its
			// answer arriving: write every open socket plainly.
			fresh = nil
		}
		values := make(map[string]string, len(fresh))
		for _, id := range fresh {
			if v, ok := s.open[id]; ok {
				values[id] = v
			}
		}
		var all map[string]string
		if refresh || !retryAt.IsZero() {
			// Every other open socket: its entry's TTL starts again.
			all = make(map[string]string, len(s.open))
			for id, v := range s.open {
				if _, claiming := values[id]; !claiming {
					all[id] = v
				}
			}
		}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(s.ctx, socketOpTimeout)
		err := s.write(ctx, values, gone, all)
		cancel()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			s.obs.NotRegistered(len(values) + len(gone) + len(all))
			if !s.down.Swap(true) {
				s.log.Warn("cluster: Redis unreachable; other instances cannot sign channel authorisations for this instance's sockets until it is back", zap.Error(err))
			}
			retryAt = time.Now().Add(jitter(backoff))
			backoff = min(backoff*2, DefaultBusMaxBackoff)
			continue
		}
		if s.down.Swap(false) {
			s.log.Info("cluster: socket registry written again")
		}
		retryAt, backoff = time.Time{}, DefaultBusMinBackoff
	}
}

// delIfOurs deletes KEYS[1] if its value starts with ARGV[1] (this
// instance's id and a space): a closed socket's entry is removed only if it
// is still this instance's.
const delIfOurs = `local v = redis.call('GET', KEYS[1]) if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

// write claims fresh (SET NX EX; an id held elsewhere is reported Taken),
// deletes gone (if still ours) and writes all (SET EX), in pipelines of at
// most socketBatch commands. fresh and all map socket ids to their entries.
func (s *Sockets) write(ctx context.Context, fresh map[string]string, gone []string, all map[string]string) error {
	type claim struct {
		id  string
		cmd *redis.BoolCmd
	}
	var claims []claim
	pipe := s.c.client.Pipeline()
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		_, err := pipe.Exec(ctx)
		n = 0
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for _, c := range claims {
			if ok, err := c.cmd.Result(); err == nil && !ok {
				s.taken(c.id)
			}
		}
		claims = claims[:0]
		return nil
	}
	add := func() error {
		n++
		if n >= socketBatch {
			return flush()
		}
		return nil
	}
	for id, v := range fresh {
		claims = append(claims, claim{id, pipe.SetNX(ctx, s.key(id), v, s.opts.TTL)})
		if err := add(); err != nil {
			return err
		}
	}
	ours := s.ours()
	for _, id := range gone {
		pipe.Eval(ctx, delIfOurs, []string{s.key(id)}, ours)
		if err := add(); err != nil {
			return err
		}
	}
	for id, v := range all {
		pipe.Set(ctx, s.key(id), v, s.opts.TTL)
		if err := add(); err != nil {
			return err
		}
	}
	return flush()
}

// taken handles an id another instance holds.
func (s *Sockets) taken(id string) {
	s.mu.Lock()
	_, open := s.open[id]
	delete(s.open, id)
	s.mu.Unlock()
	s.obs.Taken()
	s.log.Warn("cluster: a new socket's id is held by another instance; closing it so that its client reconnects", zap.String("socket_id", id))
	if open {
		s.opts.Taken(id)
	}
}
