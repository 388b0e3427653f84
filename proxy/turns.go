package proxy

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/recordsync/recordsync/versioncache"
)

// errWaitTimeout is returned by turns.acquire when WriteWait passed.
var errWaitTimeout = errors.New("proxy: timed out waiting for the record's turn")

// turns serialises conditional writes per record: one writer of a key at a
// time, the others wait in line (Go's channel receivers are served in order).
// A key's entry lives only while someone holds or waits for it, so idle
// records cost nothing. Different keys never wait on each other. Safe for
// concurrent use.
type turns struct {
	// mu guards m and every turn's refs.
	mu sync.Mutex
	m  map[versioncache.Key]*turn
}

type turn struct {
	// token holds one value when the turn is free.
	token chan struct{}
	refs  int // holders and waiters; guarded by turns.mu
}

func newTurns() *turns { return &turns{m: make(map[versioncache.Key]*turn)} }

// heldTurn is a turn taken by acquire. release is idempotent so that a
// deferred release covers panics after an explicit early release.
//
// A turn is held until release, and at most for the hold given to acquire:
// then a timer gives it to the next waiter (counted as RefusedTurnExpired)
// while the late write goes on; its own release later gives back nothing
// but its cluster lock.
type heldTurn struct {
	ts  *turns
	key versioncache.Key
	t   *turn
	obs Observer

	// given is set by whoever gives the turn back: release, or the timer.
	given atomic.Bool
	timer *time.Timer
	// released: release ran (the request's goroutine only).
	released bool

	// cluster is the record's cluster-wide lock taken inside the turn (nil
	// without a Locker, or when the cluster could not be asked); release
	// unlocks it first, handing it learned.
	cluster RecordLock
	learned versioncache.Entry
}

// acquire takes k's turn, waiting at most wait and while ctx lives, and
// holds it for at most hold (0: until release). obs hears of waiting
// writers and of an expired turn.
func (ts *turns) acquire(ctx context.Context, k versioncache.Key, wait, hold time.Duration, obs Observer) (*heldTurn, error) {
	ts.mu.Lock()
	t := ts.m[k]
	if t == nil {
		t = &turn{token: make(chan struct{}, 1)}
		t.token <- struct{}{}
		ts.m[k] = t
	}
	t.refs++
	ts.mu.Unlock()

	select {
	case <-t.token:
		return ts.hold(k, t, hold, obs), nil
	default:
	}

	obs.WritersWaiting(+1)
	defer obs.WritersWaiting(-1)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-t.token:
		return ts.hold(k, t, hold, obs), nil
	case <-timer.C:
		ts.unref(k, t)
		return nil, errWaitTimeout
	case <-ctx.Done():
		ts.unref(k, t)
		return nil, ctx.Err()
	}
}

// hold makes the heldTurn of a token just taken and arms its bound.
func (ts *turns) hold(k versioncache.Key, t *turn, hold time.Duration, obs Observer) *heldTurn {
	ht := &heldTurn{ts: ts, key: k, t: t, obs: obs}
	if hold > 0 {
		ht.timer = time.AfterFunc(hold, ht.expire)
	}
	return ht
}

// expire gives the turn to the next writer when its holder kept it too long.
func (ht *heldTurn) expire() {
	if ht.giveBack() {
		ht.obs.Refused(RefusedTurnExpired)
	}
}

// giveBack returns the token, once whoever calls it first.
func (ht *heldTurn) giveBack() bool {
	if !ht.given.CompareAndSwap(false, true) {
		return false
	}
	ht.t.token <- struct{}{}
	ht.ts.unref(ht.key, ht.t)
	return true
}

func (ts *turns) unref(k versioncache.Key, t *turn) {
	ts.mu.Lock()
	t.refs--
	if t.refs == 0 {
		delete(ts.m, k)
	}
	ts.mu.Unlock()
}

// release unlocks the cluster lock, if any, and gives the turn to the next
// waiter unless its bound did already. Safe to call more than once and on
// nil; called on the request's goroutine only.
func (ht *heldTurn) release() {
	if ht == nil || ht.released {
		return
	}
	ht.released = true
	if ht.timer != nil {
		ht.timer.Stop()
	}
	if c := ht.cluster; c != nil {
		ht.cluster = nil
		if c.Unlock(ht.learned) {
			ht.obs.ClusterLockExpired()
		}
	}
	ht.giveBack()
}

// size is the number of keys with a holder or waiter (tests).
func (ts *turns) size() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.m)
}
