package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/recordsync/recordsync/proxy"
	"github.com/recordsync/recordsync/versioncache"
)

// Defaults of LockOptions.
const (
	// DefaultLockTimeout is the fencing timeout: how long a lock is held at
	// most. It bounds how long a crashed or partitioned instance keeps a
	// record locked; a write whose upstream takes longer loses the lock
	// (counted and logged) and is then protected by the app's own check only.
	// It should be longer than the slowest upstream write and not longer than
	// the proxy's write_wait (default also 10s), so that writers queued
	// behind a dead instance's lock get it before they give up.
	DefaultLockTimeout = 10 * time.Second
	// DefaultLockPollMin and DefaultLockPollMax bound the pause between two
	// attempts of a waiting Acquire (doubling, jittered, never past the
	// holder's remaining time).
	DefaultLockPollMin = 2 * time.Millisecond
	DefaultLockPollMax = 25 * time.Millisecond
	// DefaultLockVersionTTL is how long the last version learned under a
	// record's lock is kept in Redis for the next holder.
	DefaultLockVersionTTL = 10 * time.Minute
	// DefaultLockRetryMin and DefaultLockRetryMax bound how long the Locker
	// stops asking Redis after it failed (doubling per failed probe):
	// meanwhile Acquire answers ErrUnavailable at once.
	DefaultLockRetryMin = 250 * time.Millisecond
	DefaultLockRetryMax = 5 * time.Second
	// lockOpTimeout bounds one Redis round trip of the Locker.
	lockOpTimeout = time.Second
)

// ErrUnavailable is returned by Acquire when Redis cannot be asked: it
// failed just now, or it failed recently and the Locker waits before it
// probes again. The caller goes on with local serialisation only.
var ErrUnavailable = errors.New("cluster: redis unavailable")

// LockOptions configure a Locker. Zero values mean the defaults.
type LockOptions struct {
	// Timeout is the fencing timeout (the lock's PX). Default: DefaultLockTimeout.
	Timeout time.Duration
	// PollMin and PollMax bound the pause between attempts while waiting.
	// Defaults: DefaultLockPollMin, DefaultLockPollMax.
	PollMin, PollMax time.Duration
	// VersionTTL is how long the last learned version of a record is kept.
	// Default: DefaultLockVersionTTL.
	VersionTTL time.Duration
	// RetryMin and RetryMax bound the pause before Redis is asked again
	// after a failure. Defaults: DefaultLockRetryMin, DefaultLockRetryMax.
	RetryMin, RetryMax time.Duration
}

func (o *LockOptions) applyDefaults() error {
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"timeout", &o.Timeout, DefaultLockTimeout},
		{"poll_min", &o.PollMin, DefaultLockPollMin},
		{"poll_max", &o.PollMax, DefaultLockPollMax},
		{"version_ttl", &o.VersionTTL, DefaultLockVersionTTL},
		{"retry_min", &o.RetryMin, DefaultLockRetryMin},
		{"retry_max", &o.RetryMax, DefaultLockRetryMax},
	} {
		if *d.v < 0 {
			return fmt.Errorf("cluster lock: %s must not be negative, got %s", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if o.Timeout < time.Millisecond {
		return fmt.Errorf("cluster lock: timeout must be at least 1ms, got %s", o.Timeout)
	}
	o.PollMax = max(o.PollMax, o.PollMin)
	o.RetryMax = max(o.RetryMax, o.RetryMin)
	return nil
}

// Locker serialises writers of one record across every instance of the
// cluster with a Redis lock per record. Safe for concurrent use; it starts no
// goroutines.
//
// A lock is `SET lock:{tenant}:{type}:{id} {token}|{fence} NX PX {Timeout}`,
// taken by a Lua script that also INCRs the cluster's fence counter and reads
// the record's last learned version in the same round trip. Release is a Lua
// compare-and-delete: a holder never deletes a lock it no longer owns.
// Waiting is a jittered poll, never longer than the holder's remaining time,
// bounded by the caller's context.
//
// # What the lock and its fence guarantee
//
// While every holder finishes within Timeout, at most one writer per record
// is between Acquire and Release in the whole cluster, and each holder reads
// the version its predecessor learned (Lock.Latest) even when the event bus
// has not delivered it yet: with a guard that checks against that version, a
// stale conditional write never reaches the app, so no update is lost.
//
// A holder that stalls past Timeout (slow upstream, GC pause, partition)
// loses the lock to the next writer while its request may still be on its
// way to the app. recordsync cannot stop that request (the app's storage
// does not check the fence), so for that write the app's own optimistic
// check is the authority, as with no cluster at all. The fence is what makes
// the late holder harmless to the rest: its Release cannot delete the next
// holder's lock (Release reports it lost the lock, and it is logged), and the
// version it learned is stored only if no holder with a newer fence stored
// one, so the shared version never goes back in acquisition order. Fences
// start from Redis's clock in microseconds, so they keep growing across a
// Redis restart that lost the counter.
//
// When Redis fails, Acquire answers ErrUnavailable at once for a jittered,
// doubling pause (RetryMin..RetryMax), then lets one call probe; the outage
// is logged once when it starts and once when it ends. Serialisation across
// instances is then off: the caller serialises locally and the app's check
// is again the authority between instances.
//
// The version a holder leaves is signed (HMAC-SHA256 with the cluster's lock
// key, over the record's key, the version and who saved it) and each of its
// fields is bounded (MaxLockVersionBytes): the next holder takes it only
// when both hold, so what a client of the Redis writes there is never
// answered at the edge as the record's version (counted as DroppedLock).
//
// The keys of one record and the cluster-wide fence counter are touched by
// one script, so this needs a single Redis (or a primary with replicas), not
// Redis Cluster.
type Locker struct {
	c        *Cluster
	opts     LockOptions
	fenceKey string
	seq      atomic.Uint64
	log      *zap.Logger

	// isDown mirrors down for the lock-free check on the hot path.
	isDown atomic.Bool
	// outageMu guards down, retryAt and backoff: the Redis outage state.
	outageMu sync.Mutex
	down     bool
	retryAt  time.Time
	backoff  time.Duration
}

// NewLocker makes the cluster's record Locker.
func NewLocker(c *Cluster, opts LockOptions) (*Locker, error) {
	if err := opts.applyDefaults(); err != nil {
		return nil, err
	}
	return &Locker{c: c, opts: opts, fenceKey: c.Key("lock-fence"), log: c.log}, nil
}

// Timeout is the fencing timeout in effect.
func (l *Locker) Timeout() time.Duration { return l.opts.Timeout }

// Up reports whether the Locker currently asks Redis (false during an
// outage, until a probe succeeds).
func (l *Locker) Up() bool { return !l.isDown.Load() }

// acquireScript takes KEYS[1] (the lock) for ARGV[1] (the token) for ARGV[2]
// ms when it is free, with a new fence from KEYS[2], and returns
// {fence, version, by_id, by_name, signature, 0} of KEYS[3], or
// {fence, false, false, false, false, 1} when one of those is over ARGV[3]
// bytes (it is not sent); when another token holds it, {0, its remaining
// ms}. A retried call whose lock already carries the token gets its lock
// back (go-redis retries a call whose answer was lost).
var acquireScript = redis.NewScript(`
local fence
local cur = redis.call('GET', KEYS[1])
if cur then
	local p = ARGV[1] .. '|'
	if string.sub(cur, 1, #p) ~= p then
		return {0, redis.call('PTTL', KEYS[1])}
	end
	fence = tonumber(string.sub(cur, #p + 1))
else
	fence = redis.call('INCR', KEYS[2])
	if fence == 1 then
		local t = redis.call('TIME')
		fence = tonumber(t[1]) * 1000000 + tonumber(t[2])
		redis.call('SET', KEYS[2], string.format('%.0f', fence))
	end
	redis.call('SET', KEYS[1], ARGV[1] .. '|' .. string.format('%.0f', fence), 'PX', ARGV[2])
end
local v = redis.call('HMGET', KEYS[3], 'v', 'i', 'n', 'm')
for k = 1, 4 do
	if v[k] and #v[k] > tonumber(ARGV[3]) then
		return {fence, false, false, false, false, 1}
	end
end
return {fence, v[1], v[2], v[3], v[4], 0}
`)

// releaseScript deletes KEYS[1] when it still carries the token ARGV[1] and
// returns 1 then, else 0. When ARGV[3] (a version) is not empty it is stored
// in KEYS[2] with ARGV[4] (by_id), ARGV[5] (by_name) and ARGV[7] (their
// signature: see readLatest) for ARGV[6] ms, unless a holder with a fence not
// older than ARGV[2] stored one.
var releaseScript = redis.NewScript(`
local owned = 0
local cur = redis.call('GET', KEYS[1])
local p = ARGV[1] .. '|'
if cur and string.sub(cur, 1, #p) == p then
	redis.call('DEL', KEYS[1])
	owned = 1
end
if ARGV[3] ~= '' then
	local f = tonumber(redis.call('HGET', KEYS[2], 'f') or '0')
	if f < tonumber(ARGV[2]) then
		redis.call('HSET', KEYS[2], 'f', ARGV[2], 'v', ARGV[3], 'i', ARGV[4], 'n', ARGV[5], 'm', ARGV[7])
		redis.call('PEXPIRE', KEYS[2], ARGV[6])
	end
end
return owned
`)

// ownedScript returns 1 when KEYS[1] carries the token ARGV[1].
var ownedScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local p = ARGV[1] .. '|'
if cur and string.sub(cur, 1, #p) == p then return 1 end
return 0
`)

// Lock is a held record lock. Its methods are safe for concurrent use.
type Lock struct {
	l               *Locker
	lockKey, verKey string
	token           string
	fence           int64
	latest          versioncache.Entry
	acquired        time.Time

	released atomic.Bool
}

// Acquire takes k's lock, waiting while ctx lives. It returns ctx's error
// when ctx ends first and an error wrapping ErrUnavailable when Redis fails
// (or failed a moment ago).
func (l *Locker) Acquire(ctx context.Context, k versioncache.Key) (*Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !l.mayAsk() {
		return nil, ErrUnavailable
	}
	lk := &Lock{
		l:       l,
		lockKey: l.c.RecordKey("lock", k),
		verKey:  l.c.RecordKey("version", k),
		token:   l.c.instance + "." + strconv.FormatUint(l.seq.Add(1), 36),
	}
	pause := l.opts.PollMin
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		remaining, err := lk.try(ctx)
		if err != nil {
			if ctx.Err() != nil {
				// The script may have run: do not leave a lock behind.
				lk.abandon()
				return nil, ctx.Err()
			}
			l.failed(err)
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		l.succeeded()
		if lk.fence > 0 {
			return lk, nil
		}
		// Jittered in [pause/2, pause], never much past the holder's PTTL.
		d := pause/2 + rand.N(pause/2+1)
		if remaining > 0 && remaining < d {
			d = remaining + time.Millisecond
		}
		pause = min(2*pause, l.opts.PollMax)
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// try runs the acquire script once: on success lk.fence is set; otherwise
// remaining is the holder's remaining time (0 when unknown).
func (lk *Lock) try(ctx context.Context) (remaining time.Duration, err error) {
	opCtx, cancel := context.WithTimeout(ctx, lockOpTimeout)
	defer cancel()
	res, err := acquireScript.Run(opCtx, lk.l.c.client,
		[]string{lk.lockKey, lk.l.fenceKey, lk.verKey},
		lk.token, lk.l.opts.Timeout.Milliseconds(), MaxLockVersionBytes).Slice()
	if err != nil {
		return 0, err
	}
	if len(res) < 2 {
		return 0, fmt.Errorf("cluster lock: unexpected answer %v", res)
	}
	fence, _ := res[0].(int64)
	if fence == 0 {
		ms, _ := res[1].(int64)
		return time.Duration(max(ms, 0)) * time.Millisecond, nil
	}
	lk.fence = fence
	lk.acquired = time.Now()
	if len(res) == 6 {
		lk.readLatest(res[1:])
	}
	return 0, nil
}

// readLatest takes the version the last holder left, {version, by_id,
// by_name, signature, oversized}, when it is signed with this cluster's
// lock key for this record: what anything else wrote there (another
// secret, another cluster, a client of the Redis) is not known, and counted.
func (lk *Lock) readLatest(res []any) {
	if big, _ := res[4].(int64); big != 0 {
		lk.l.c.obs.Dropped(DroppedLock, ReasonOversized)
		return
	}
	var e versioncache.Entry
	e.Version, _ = res[0].(string)
	e.UpdatedByID, _ = res[1].(string)
	e.UpdatedByName, _ = res[2].(string)
	sig, _ := res[3].(string)
	if e.Version == "" {
		return
	}
	if !validMAC(lk.l.c.keys.lock, sig, lk.verKey, e.Version, e.UpdatedByID, e.UpdatedByName) {
		lk.l.c.obs.Dropped(DroppedLock, ReasonUnauthenticated)
		return
	}
	lk.latest = e
}

// abandon deletes the lock if a cancelled try took it after all.
func (lk *Lock) abandon() {
	ctx, cancel := context.WithTimeout(context.Background(), lockOpTimeout)
	defer cancel()
	_ = releaseScript.Run(ctx, lk.l.c.client, []string{lk.lockKey, lk.verKey},
		lk.token, 0, "", "", "", 0, "").Err()
}

// Fence is the lock's fencing number: larger for every later acquisition
// of any record in the cluster.
func (lk *Lock) Fence() int64 { return lk.fence }

// Latest is the last version stored by a holder of this record's lock (see
// Release), read when the lock was taken; ok is false when none is known.
func (lk *Lock) Latest() (e versioncache.Entry, ok bool) {
	return lk.latest, lk.latest.Version != ""
}

// Owned reports whether the lock still carries this holder's token (false
// once it expired, whoever holds it now).
func (lk *Lock) Owned(ctx context.Context) (bool, error) {
	if lk.released.Load() {
		return false, nil
	}
	opCtx, cancel := context.WithTimeout(ctx, lockOpTimeout)
	defer cancel()
	n, err := ownedScript.Run(opCtx, lk.l.c.client, []string{lk.lockKey}, lk.token).Int()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// Release gives the lock up and, when learned carries a version, stores it
// as the record's last learned version for the next holder (unless a holder
// with a newer fence stored one: see Locker). owned is false when the lock
// had expired before Release (the write overran Timeout; it is logged at
// warn). Only the first call does anything; Release never blocks for longer
// than one Redis round trip.
func (lk *Lock) Release(learned versioncache.Entry) (owned bool, err error) {
	if lk.released.Swap(true) {
		return true, nil
	}
	l := lk.l
	ctx, cancel := context.WithTimeout(context.Background(), lockOpTimeout)
	defer cancel()
	var sig string
	if learned.Version != "" {
		sig = mac(l.c.keys.lock, lk.verKey, learned.Version, learned.UpdatedByID, learned.UpdatedByName)
	}
	n, err := releaseScript.Run(ctx, l.c.client, []string{lk.lockKey, lk.verKey},
		lk.token, lk.fence, learned.Version, learned.UpdatedByID, learned.UpdatedByName,
		l.opts.VersionTTL.Milliseconds(), sig).Int()
	if err != nil {
		// The lock expires by itself after Timeout.
		l.failed(err)
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	l.succeeded()
	if n == 0 {
		l.log.Warn("cluster lock expired before its write finished: another instance may have written the record meanwhile; raise cluster_lock_timeout above the upstream's slowest write",
			zap.String("key", lk.lockKey), zap.Int64("fence", lk.fence),
			zap.Duration("held", time.Since(lk.acquired)), zap.Duration("timeout", l.opts.Timeout))
		return false, nil
	}
	return true, nil
}

// mayAsk reports whether Redis may be asked now: always while it is up;
// during an outage once per pause (that call is the probe).
func (l *Locker) mayAsk() bool {
	if !l.isDown.Load() {
		return true
	}
	l.outageMu.Lock()
	defer l.outageMu.Unlock()
	if !l.down {
		return true
	}
	now := time.Now()
	if now.Before(l.retryAt) {
		return false
	}
	l.retryAt = now.Add(l.backoff) // this caller probes; the others wait
	return true
}

// failed notes a Redis failure: the first starts an outage (logged once).
func (l *Locker) failed(err error) {
	l.outageMu.Lock()
	defer l.outageMu.Unlock()
	if !l.down {
		l.down = true
		l.isDown.Store(true)
		l.backoff = l.opts.RetryMin
		l.log.Warn("cluster lock: Redis unreachable; conditional writes are serialised by this instance only until it is back",
			zap.Error(err))
	} else {
		l.backoff = min(2*l.backoff, l.opts.RetryMax)
	}
	l.retryAt = time.Now().Add(l.backoff/2 + rand.N(l.backoff/2+1))
}

// succeeded notes a Redis answer: it ends an outage (logged once).
func (l *Locker) succeeded() {
	if !l.isDown.Load() {
		return
	}
	l.outageMu.Lock()
	defer l.outageMu.Unlock()
	if l.down {
		l.down = false
		l.isDown.Store(false)
		l.log.Info("cluster lock: Redis reachable again; conditional writes are serialised cluster-wide")
	}
}

// LockRecord is Acquire as the proxy's Locker: conditional writes of one
// record serialised across the instances.
func (l *Locker) LockRecord(ctx context.Context, k versioncache.Key) (proxy.RecordLock, error) {
	lk, err := l.Acquire(ctx, k)
	if err != nil {
		return nil, err
	}
	return lk, nil
}

// Unlock is Release as the proxy's RecordLock: expired only when Redis said
// the lock was no longer this holder's (a failed release is the outage's,
// and the lock expires by itself).
func (lk *Lock) Unlock(learned versioncache.Entry) (expired bool) {
	owned, err := lk.Release(learned)
	return err == nil && !owned
}

// Interface guards
var (
	_ proxy.Locker     = (*Locker)(nil)
	_ proxy.RecordLock = (*Lock)(nil)
)
