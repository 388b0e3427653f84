package cluster

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recordsync/recordsync/versioncache"

	"github.com/recordsync/recordsync/internal/testredis"
)

// newTestLocker is one "instance": its own Cluster (own client and
// instance id) on the Redis at url.
func newTestLocker(t testing.TB, url string, opts LockOptions) *Locker {
	t.Helper()
	c, err := New(Options{URL: url, Name: "locktest", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	l, err := NewLocker(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var flow1 = versioncache.Key{Tenant: "a", Type: "flow", ID: "1"}

func TestRecordKey(t *testing.T) {
	c, err := New(Options{URL: "redis://127.0.0.1:1/0", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name string
		k    versioncache.Key
		want string
	}{
		{"plain", versioncache.Key{Tenant: "a", Type: "flow", ID: "1"}, "recordsync:default-db0:lock:a:flow:1"},
		{"no tenant", versioncache.Key{Type: "flow", ID: "1"}, "recordsync:default-db0:lock::flow:1"},
		{"colon in tenant", versioncache.Key{Tenant: "a:flow", Type: "1", ID: "2"}, "recordsync:default-db0:lock:a%3Aflow:1:2"},
		{"percent", versioncache.Key{Tenant: "a%3A", Type: "flow", ID: "1"}, "recordsync:default-db0:lock:a%253A:flow:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.RecordKey("lock", tc.k); got != tc.want {
				t.Errorf("RecordKey = %q, want %q", got, tc.want)
			}
		})
	}
	// Keys that a plain ':' join would merge stay apart.
	a := c.RecordKey("lock", versioncache.Key{Tenant: "a:flow", Type: "1", ID: "2"})
	b := c.RecordKey("lock", versioncache.Key{Tenant: "a", Type: "flow:1", ID: "2"})
	d := c.RecordKey("lock", versioncache.Key{Tenant: "a", Type: "flow", ID: "1:2"})
	if a == b || b == d || a == d {
		t.Fatalf("collision: %q %q %q", a, b, d)
	}
}

// 50 goroutines in each of 2 instances take one record's lock: never two
// holders at once, fences grow in the order the holders come.
func TestLockMutualExclusion(t *testing.T) {
	r := testredis.Start(t)
	lockers := []*Locker{newTestLocker(t, r.URL(), LockOptions{}), newTestLocker(t, r.URL(), LockOptions{})}
	var inside, maxInside atomic.Int32
	var mu sync.Mutex
	var fences []int64
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(l *Locker) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			lk, err := l.Acquire(ctx, flow1)
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for m := maxInside.Load(); n > m && !maxInside.CompareAndSwap(m, n); m = maxInside.Load() {
			}
			mu.Lock()
			fences = append(fences, lk.Fence())
			mu.Unlock()
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			if owned, err := lk.Release(versioncache.Entry{}); err != nil || !owned {
				t.Errorf("release: owned %v, err %v", owned, err)
			}
		}(lockers[i%2])
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Fatalf("%d holders at once", maxInside.Load())
	}
	if len(fences) != 100 {
		t.Fatalf("%d acquisitions", len(fences))
	}
	for i := 1; i < len(fences); i++ {
		if fences[i] <= fences[i-1] {
			t.Fatalf("fence %d after %d", fences[i], fences[i-1])
		}
	}
}

// The version stored at release is what the next holder reads; a holder
// whose lock expired cannot delete the next holder's lock, and its late
// version does not replace a newer holder's.
func TestLockExpiryAndFencing(t *testing.T) {
	r := testredis.Start(t)
	a := newTestLocker(t, r.URL(), LockOptions{Timeout: 100 * time.Millisecond})
	b := newTestLocker(t, r.URL(), LockOptions{Timeout: 5 * time.Second})
	ctx := context.Background()
	v := func(s string) versioncache.Entry {
		return versioncache.Entry{Version: s, UpdatedByID: "7", UpdatedByName: "Alice"}
	}

	first, err := a.Acquire(ctx, flow1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := first.Latest(); ok {
		t.Fatal("a version before any was stored")
	}
	if owned, _ := first.Release(v("v1")); !owned {
		t.Fatal("first release not owned")
	}

	// a stalls past its timeout; b gets the lock then, and reads v1.
	stale, err := a.Acquire(ctx, flow1)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	fresh, err := b.Acquire(ctx, flow1)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("waited %s for an expired lock", waited)
	}
	if fresh.Fence() <= stale.Fence() {
		t.Fatalf("fence %d not after %d", fresh.Fence(), stale.Fence())
	}
	if got, ok := fresh.Latest(); !ok || got.Version != "v1" || got.UpdatedByID != "7" || got.UpdatedByName != "Alice" {
		t.Fatalf("Latest = %+v, %v", got, ok)
	}
	if owned, err := stale.Owned(ctx); err != nil || owned {
		t.Fatalf("expired holder Owned = %v, %v", owned, err)
	}
	if owned, err := fresh.Owned(ctx); err != nil || !owned {
		t.Fatalf("holder Owned = %v, %v", owned, err)
	}
	// b stores v3 and takes the lock again; a's late release neither frees
	// that lock nor replaces v3 with its older v2.
	if owned, _ := fresh.Release(v("v3")); !owned {
		t.Fatal("b's release not owned")
	}
	third, err := b.Acquire(ctx, flow1)
	if err != nil {
		t.Fatal(err)
	}
	if owned, err := stale.Release(v("v2")); err != nil || owned {
		t.Fatalf("late release: owned %v, err %v", owned, err)
	}
	if owned, err := third.Owned(ctx); err != nil || !owned {
		t.Fatalf("the late release took the next holder's lock: %v, %v", owned, err)
	}
	if got, _ := third.Latest(); got.Version != "v3" {
		t.Fatalf("Latest = %q, want v3", got.Version)
	}
	third.Release(versioncache.Entry{})
	fourth, err := b.Acquire(ctx, flow1)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := fourth.Latest(); got.Version != "v3" {
		t.Fatalf("after the late release Latest = %q, want v3", got.Version)
	}
	fourth.Release(versioncache.Entry{})
}

// A holder whose lock expired and who releases before anyone stored a
// newer version still shares what it learned.
func TestLockLateReleaseStoresWhenNewest(t *testing.T) {
	r := testredis.Start(t)
	a := newTestLocker(t, r.URL(), LockOptions{Timeout: 50 * time.Millisecond})
	ctx := context.Background()
	stale, err := a.Acquire(ctx, flow1)
	if err != nil {
		t.Fatal(err)
	}
	next, err := a.Acquire(ctx, flow1) // after the expiry
	if err != nil {
		t.Fatal(err)
	}
	if owned, _ := stale.Release(versioncache.Entry{Version: "v1"}); owned {
		t.Fatal("expired release owned")
	}
	next.Release(versioncache.Entry{})
	last, err := a.Acquire(ctx, flow1)
	if err != nil {
		t.Fatal(err)
	}
	defer last.Release(versioncache.Entry{})
	if got, _ := last.Latest(); got.Version != "v1" {
		t.Fatalf("Latest = %q, want v1", got.Version)
	}
}

func TestLockContextCancelWhileWaiting(t *testing.T) {
	r := testredis.Start(t)
	a := newTestLocker(t, r.URL(), LockOptions{})
	b := newTestLocker(t, r.URL(), LockOptions{})
	held, err := a.Acquire(context.Background(), flow1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, err := b.Acquire(ctx, flow1); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %s", d)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer dcancel()
	if _, err := b.Acquire(dctx, flow1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if !b.Up() {
		t.Fatal("a cancelled wait counted as an outage")
	}
	held.Release(versioncache.Entry{})
	// Nothing of the cancelled waiters is left: the lock is free at once.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	lk, err := b.Acquire(ctx2, flow1)
	if err != nil {
		t.Fatalf("lock not free after the holder released: %v", err)
	}
	lk.Release(versioncache.Entry{})
}

// Other records never wait for each other.
func TestLockKeysIndependent(t *testing.T) {
	r := testredis.Start(t)
	l := newTestLocker(t, r.URL(), LockOptions{})
	a, err := l.Acquire(context.Background(), flow1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(versioncache.Entry{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	for _, k := range []versioncache.Key{
		{Tenant: "b", Type: "flow", ID: "1"},
		{Tenant: "a", Type: "flow", ID: "2"},
		{Tenant: "a:flow", Type: "1"},
	} {
		lk, err := l.Acquire(ctx, k)
		if err != nil {
			t.Fatalf("%v waited for %v: %v", k, flow1, err)
		}
		lk.Release(versioncache.Entry{})
	}
}

// Redis down: Acquire answers ErrUnavailable at once (and keeps doing so
// without asking Redis until the pause is over); Redis back: locking resumes
// by itself.
func TestLockRedisOutage(t *testing.T) {
	r := testredis.Start(t)
	l := newTestLocker(t, r.URL(), LockOptions{RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	ctx := context.Background()
	lk, err := l.Acquire(ctx, flow1)
	if err != nil {
		t.Fatal(err)
	}
	lk.Release(versioncache.Entry{Version: "v1"})

	r.Stop()
	start := time.Now()
	if _, err := l.Acquire(ctx, flow1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if l.Up() {
		t.Fatal("Up during the outage")
	}
	for i := 0; i < 100; i++ {
		if _, err := l.Acquire(ctx, flow1); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("101 acquisitions during the outage took %s", d)
	}

	r.Start()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lk, err := l.Acquire(ctx, flow1)
		if err == nil {
			// The restart lost the data (no persistence); fences still
			// grow from Redis's clock.
			if lk.Fence() < 1e15 {
				t.Errorf("fence %d after a restart", lk.Fence())
			}
			lk.Release(versioncache.Entry{})
			break
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("locking did not resume after Redis came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !l.Up() {
		t.Fatal("not Up after recovery")
	}
}

// TestLockRefusesForgedVersions: the version a lock holder left is known
// to the next holder only when an instance of this cluster stored it for
// this record. One written there by anything else (a client of the Redis,
// another cluster's secret, the format before versions were signed, a
// version moved from another record, one over MaxLockVersionBytes) is not
// known, and counted: before versions were signed, whatever was written
// there was answered at the edge as the record's current version.
func TestLockRefusesForgedVersions(t *testing.T) {
	r := testredis.Start(t)
	obs := newRefusals()
	c, err := New(Options{URL: r.URL(), Name: "locktest", Secret: testSecret, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	l, err := NewLocker(c, LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wrong := newTestLockerWithSecret(t, r.URL(), "another secret")
	ctx := context.Background()
	latest := func(l *Locker, k versioncache.Key) (versioncache.Entry, bool) {
		t.Helper()
		lk, err := l.Acquire(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		defer lk.Release(versioncache.Entry{})
		return lk.Latest()
	}
	release := func(l *Locker, k versioncache.Key, e versioncache.Entry) {
		t.Helper()
		lk, err := l.Acquire(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lk.Release(e); err != nil {
			t.Fatal(err)
		}
	}

	// A version this cluster stored is known.
	release(l, flow1, versioncache.Entry{Version: "5", UpdatedByID: "2", UpdatedByName: "Bob"})
	if e, ok := latest(l, flow1); !ok || e.Version != "5" || e.UpdatedByName != "Bob" {
		t.Fatalf("own version: %+v %v", e, ok)
	}
	rc := redisClient(r)
	defer rc.Close()
	verKey := c.RecordKey("version", flow1)
	sig, _ := rc.HGet(ctx, verKey, "m").Result()

	flow2 := versioncache.Key{Tenant: "a", Type: "flow", ID: "2"}
	flow3 := versioncache.Key{Tenant: "a", Type: "flow", ID: "3"}
	flow4 := versioncache.Key{Tenant: "a", Type: "flow", ID: "4"}
	flow5 := versioncache.Key{Tenant: "a", Type: "flow", ID: "5"}
	rc.HSet(ctx, c.RecordKey("version", flow2), "f", "1", "v", "9999", "i", "1", "n", "Mallory")                           // unsigned
	rc.HSet(ctx, c.RecordKey("version", flow3), "f", "1", "v", "5", "i", "2", "n", "Bob", "m", sig)                        // flow 1's, moved
	rc.HSet(ctx, c.RecordKey("version", flow4), "f", "1", "v", "9999", "i", "1", "n", strings.Repeat("x", 5000), "m", sig) // over the bound
	release(wrong, flow5, versioncache.Entry{Version: "9999"})                                                             // another secret
	for _, k := range []versioncache.Key{flow2, flow3, flow4, flow5} {
		if e, ok := latest(l, k); ok {
			t.Errorf("%s: the forged version %+v is known", k.ID, e)
		}
	}
	if n := obs.get("dropped lock unauthenticated"); n != 3 {
		t.Errorf("%d versions counted unauthenticated, want 3", n)
	}
	if n := obs.get("dropped lock oversized"); n != 1 {
		t.Errorf("%d versions counted oversized, want 1", n)
	}
}

func newTestLockerWithSecret(t testing.TB, url, secret string) *Locker {
	t.Helper()
	c, err := New(Options{URL: url, Name: "locktest", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	l, err := NewLocker(c, LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func redisClient(r *testredis.Server) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.Addr()})
}
