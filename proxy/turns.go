package proxy

import (
	"context"
	"errors"
	"sync"
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
type heldTurn struct {
	ts  *turns
	key versioncache.Key
	t   *turn

	// cluster is the record's cluster-wide lock taken inside the turn (nil
	// without a Locker, or when the cluster could not be asked); release
	// unlocks it first, handing it learned. obs hears of an expired lock.
	cluster RecordLock
	learned versioncache.Entry
	obs     Observer
}

// acquire takes k's turn, waiting at most wait and while ctx lives.
// onWait is called with +1 before waiting and -1 after.
func (ts *turns) acquire(ctx context.Context, k versioncache.Key, wait time.Duration, onWait func(int)) (*heldTurn, error) {
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
		return &heldTurn{ts: ts, key: k, t: t}, nil
	default:
	}

	onWait(+1)
	defer onWait(-1)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-t.token:
		return &heldTurn{ts: ts, key: k, t: t}, nil
	case <-timer.C:
		ts.unref(k, t)
		return nil, errWaitTimeout
	case <-ctx.Done():
		ts.unref(k, t)
		return nil, ctx.Err()
	}
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
// waiter. Safe to call more than once and on nil.
func (ht *heldTurn) release() {
	if ht == nil || ht.t == nil {
		return
	}
	if c := ht.cluster; c != nil {
		ht.cluster = nil
		if c.Unlock(ht.learned) {
			ht.obs.ClusterLockExpired()
		}
	}
	t := ht.t
	ht.t = nil
	t.token <- struct{}{}
	ht.ts.unref(ht.key, t)
}

// size is the number of keys with a holder or waiter (tests).
func (ts *turns) size() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.m)
}
