package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/recordsync/recordsync/versioncache"
)

// memLocker is an in-process stand-in for cluster.Locker shared by several
// Handlers (the "instances"): one holder per key, and the version learned
// under the lock handed to the next holder. Safe for concurrent use.
type memLocker struct {
	// fail makes LockRecord answer an error (Redis unreachable).
	fail bool
	// expired is what Unlock reports.
	expired bool

	mu     sync.Mutex
	tokens map[versioncache.Key]chan struct{}
	latest map[versioncache.Key]versioncache.Entry
	locks  int
}

func newMemLocker() *memLocker {
	return &memLocker{tokens: map[versioncache.Key]chan struct{}{}, latest: map[versioncache.Key]versioncache.Entry{}}
}

var errRedisDown = errors.New("redis down")

func (m *memLocker) LockRecord(ctx context.Context, k versioncache.Key) (RecordLock, error) {
	m.mu.Lock()
	if m.fail {
		m.mu.Unlock()
		return nil, errRedisDown
	}
	tok := m.tokens[k]
	if tok == nil {
		tok = make(chan struct{}, 1)
		tok <- struct{}{}
		m.tokens[k] = tok
	}
	m.mu.Unlock()
	select {
	case <-tok:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.locks++
	return &memLock{m: m, k: k, tok: tok, latest: m.latest[k]}, nil
}

func (m *memLocker) get(k versioncache.Key) (versioncache.Entry, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.latest[k], m.locks
}

type memLock struct {
	m      *memLocker
	k      versioncache.Key
	tok    chan struct{}
	latest versioncache.Entry
}

func (l *memLock) Latest() (versioncache.Entry, bool) { return l.latest, l.latest.Version != "" }

func (l *memLock) Unlock(learned versioncache.Entry) bool {
	l.m.mu.Lock()
	if learned.Version != "" {
		l.m.latest[l.k] = learned
	}
	expired := l.m.expired
	l.m.mu.Unlock()
	l.tok <- struct{}{}
	return expired
}

// Two instances with their own caches and turns, one cluster lock, no event
// bus: 50 writers that loaded the same version, spread over both, against
// the racy app. Exactly one succeeds; the other instance's writers are
// answered from the version handed on under the lock.
func TestClusterLockTwoInstances(t *testing.T) {
	const writers = 50
	locker := newMemLocker()
	app := newFakeApp()
	app.raceWindow = 5 * time.Millisecond
	app.seed("flow", "1", 10)
	loaded := version(10)
	var hs [2]*Handler
	var obs [2]*countingObserver
	for i := range hs {
		hs[i], obs[i] = newTestHandler(t, func(o *Options) { o.Locker = locker })
	}
	for i := 0; i < writers; i++ {
		do(t, hs[i%2], app, RequestInfo{}, "GET", "/api/v1/flows/1", bearer(i), "")
	}
	var wg sync.WaitGroup
	codes := make([]int, writers)
	hits := 0
	var hitsMu sync.Mutex
	start := make(chan struct{})
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rr := do(t, hs[i%2], app, RequestInfo{}, "PUT", "/api/v1/flows/1", bearer(i), putBody(loaded, fmt.Sprint("writer-", i)))
			codes[i] = rr.Code
			if rr.Header().Get(HeaderCache) == "hit" {
				hitsMu.Lock()
				hits++
				hitsMu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	ok, conflicts := 0, 0
	for i, c := range codes {
		switch c {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
			conflicts++
		default:
			t.Fatalf("writer %d got %d", i, c)
		}
	}
	if ok != 1 || conflicts != writers-1 {
		t.Fatalf("%d successes, %d conflicts", ok, conflicts)
	}
	if _, writes := app.stats(); writes != 1 {
		t.Fatalf("app applied %d writes: lost updates", writes)
	}
	// Not one stale write reached the app, even on the instance that did
	// not see the winning write: it read the version under the lock.
	if hits != writers-1 {
		t.Fatalf("%d conflicts answered from the cache, want %d", hits, writers-1)
	}
	latest, locks := locker.get(keyOf("flow", "1"))
	if latest.Version != app.record("flow", "1").version {
		t.Fatalf("version handed on %q, app has %q", latest.Version, app.record("flow", "1").version)
	}
	// Every writer that took its local turn asked the cluster lock; one
	// arriving after its own instance learned the winning save is answered
	// stale before it queues, without asking. So 1 to 50 locks, and each
	// one counted by the instance that took it.
	if locks < 1 || locks > writers {
		t.Fatalf("%d cluster locks for %d writes, want 1 to %d", locks, writers, writers)
	}
	acquired := 0
	for i := range hs {
		acquired += obs[i].get("cluster_lock." + LockAcquired)
		if hs[i].turns.size() != 0 {
			t.Errorf("instance %d: turns not freed", i)
		}
	}
	if acquired != locks {
		t.Fatalf("instances counted %d locks acquired, the cluster lock gave %d", acquired, locks)
	}
}

// Redis unreachable: the write goes on serialised locally, counted as a
// fallback; one instance still lets exactly one of 20 writers through.
func TestClusterLockFallback(t *testing.T) {
	locker := newMemLocker()
	locker.fail = true
	h, obs := newTestHandler(t, func(o *Options) { o.Locker = locker })
	app := newFakeApp()
	app.raceWindow = 2 * time.Millisecond
	app.seed("flow", "1", 10)
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", tokenOK, "")
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tokenOK, putBody(version(10), "x"))
		}()
	}
	wg.Wait()
	if _, writes := app.stats(); writes != 1 {
		t.Fatalf("app applied %d writes", writes)
	}
	// Every writer that took its turn asked the (failing) cluster lock and
	// fell back; a writer arriving after the first save was learned is
	// answered stale before it queues, without asking.
	if got := obs.get("cluster_lock." + LockFallback); got < 1 || got > 20 {
		t.Fatalf("%d fallbacks, want 1 to 20", got)
	}
	if got := obs.get("conflict_from_cache"); got != 19 {
		t.Fatalf("%d conflicts from the cache, want 19", got)
	}
}

// The record is locked elsewhere for longer than write_wait: 503, counted,
// and the local turn is free again.
func TestClusterLockTimeout(t *testing.T) {
	locker := newMemLocker()
	h, obs := newTestHandler(t, func(o *Options) {
		o.Locker = locker
		o.WriteWait = 50 * time.Millisecond
	})
	app := newFakeApp()
	app.seed("flow", "1", 10)
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", tokenOK, "")
	other, err := locker.LockRecord(context.Background(), keyOf("flow", "1"))
	if err != nil {
		t.Fatal(err)
	}
	rr := do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tokenOK, putBody(version(10), "x"))
	if rr.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rr.Code)
	}
	if obs.get("cluster_lock."+LockTimeout) != 1 || obs.get("write_wait_timeout") != 1 {
		t.Fatalf("counts %v", obs.counts)
	}
	if h.turns.size() != 0 {
		t.Fatal("local turn still held")
	}
	other.Unlock(versioncache.Entry{})
	if rr := do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tokenOK, putBody(version(10), "x")); rr.Code != http.StatusOK {
		t.Fatalf("status %d after the lock was freed", rr.Code)
	}
}

// A newer version handed on under the lock answers a stale write from the
// cache, and reaches the cache; an expired lock is counted.
func TestClusterLockLatestAndExpired(t *testing.T) {
	locker := newMemLocker()
	locker.latest[keyOf("flow", "1")] = versioncache.Entry{Version: version(11), UpdatedByName: "User 6"}
	h, obs := newTestHandler(t, func(o *Options) { o.Locker = locker })
	app := newFakeApp()
	app.seed("flow", "1", 10)
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", tokenOK, "")
	rr := do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tokenOK, putBody(version(10), "x"))
	if rr.Code != http.StatusConflict || rr.Header().Get(HeaderCache) != "hit" {
		t.Fatalf("status %d, cache %q", rr.Code, rr.Header().Get(HeaderCache))
	}
	if cur, _ := h.store.Get(keyOf("flow", "1")); cur.Version != version(11) {
		t.Fatalf("cache holds %q", cur.Version)
	}
	if _, writes := app.stats(); writes != 0 {
		t.Fatal("stale write reached the app")
	}
	locker.mu.Lock()
	locker.expired = true
	locker.mu.Unlock()
	app.seed("flow", "1", 11)
	if rr := do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tokenOK, putBody(version(11), "y")); rr.Code != http.StatusOK {
		t.Fatalf("status %d", rr.Code)
	}
	if obs.get("cluster_lock_expired") != 1 {
		t.Fatalf("expired locks %d", obs.get("cluster_lock_expired"))
	}
}

// Without a Locker nothing of the above is asked or counted.
func TestNoLockerNoClusterEvents(t *testing.T) {
	h, obs := newTestHandler(t, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", tokenOK, "")
	if rr := do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tokenOK, putBody(version(10), "x")); rr.Code != http.StatusOK {
		t.Fatalf("status %d", rr.Code)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for k := range obs.counts {
		if len(k) > 7 && k[:7] == "cluster" {
			t.Fatalf("cluster event %q without a Locker", k)
		}
	}
}
