package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recordsync/recordsync/internal/testredis"
	"github.com/recordsync/recordsync/pusher"
)

type socketsProbe struct {
	nopObserver   // the bus's metrics
	mu            sync.Mutex
	lookups       map[string]int
	notRegistered atomic.Int64
	taken         atomic.Int64
}

func (p *socketsProbe) Lookup(r string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lookups == nil {
		p.lookups = map[string]int{}
	}
	p.lookups[r]++
}
func (p *socketsProbe) Dropped(source, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lookups == nil {
		p.lookups = map[string]int{}
	}
	p.lookups["dropped "+source+" "+reason]++
}
func (p *socketsProbe) NotRegistered(n int) { p.notRegistered.Add(int64(n)) }
func (p *socketsProbe) Taken()              { p.taken.Add(1) }
func (p *socketsProbe) count(r string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lookups[r]
}

func newTestSockets(tb testing.TB, url string, o SocketsOptions) (*Sockets, *socketsProbe) {
	tb.Helper()
	c, err := New(Options{URL: url, Name: "t", Secret: testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	p := &socketsProbe{}
	o.Observer = p
	s := NewSockets(c, o)
	tb.Cleanup(func() { s.Close(); c.Close() })
	return s, p
}

// found polls s.Lookup until it answers want (found with tenant, or not).
func lookupEventually(t *testing.T, s *Sockets, id, tenant string, found bool) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("lookup %s = (%q, %v)", id, tenant, found), func() bool {
		got, ok, err := s.Lookup(id)
		return err == nil && ok == found && got == tenant
	})
}

func TestSocketsLookupAcrossInstances(t *testing.T) {
	r := testredis.Start(t)
	a, _ := newTestSockets(t, r.URL(), SocketsOptions{})
	b, pb := newTestSockets(t, r.URL(), SocketsOptions{})

	if a.SocketPrefix() == b.SocketPrefix() {
		t.Fatalf("two instances share the socket prefix %d", a.SocketPrefix())
	}
	id := fmt.Sprintf("%d.42", a.SocketPrefix())
	if !pusher.ValidSocketID(id) {
		t.Fatalf("socket id %q", id)
	}
	a.Add(id, "acme:1") // a tenant with the separator of keys in it
	lookupEventually(t, b, id, "acme:1", true)
	// A never finds its own entries: it knows its own sockets.
	if _, ok, err := a.Lookup(id); ok || err != nil {
		t.Fatalf("A found its own socket: %v %v", ok, err)
	}
	if _, ok, _ := b.Lookup("1.1"); ok {
		t.Fatal("an unknown id was found")
	}
	a.Remove(id)
	lookupEventually(t, b, id, "", false)
	if pb.count(LookupFound) == 0 || pb.count(LookupUnknown) == 0 {
		t.Fatalf("lookups not counted: %v", pb.lookups)
	}
}

// TestSocketsTTL: entries live while their instance refreshes them and
// expire after TTL when it stops (a crash), and Close removes them at once.
func TestSocketsTTL(t *testing.T) {
	r := testredis.Start(t)
	c, err := New(Options{URL: r.URL(), Name: "t", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := NewSockets(c, SocketsOptions{TTL: 600 * time.Millisecond, Refresh: 100 * time.Millisecond})
	b, _ := newTestSockets(t, r.URL(), SocketsOptions{})
	a.Add("7.1", "t1")
	a.Add("7.2", "t2")
	lookupEventually(t, b, "7.1", "t1", true)
	time.Sleep(1500 * time.Millisecond) // well past the TTL: refreshed
	lookupEventually(t, b, "7.2", "t2", true)
	a.Close()
	lookupEventually(t, b, "7.1", "", false)
	lookupEventually(t, b, "7.2", "", false)

	// A crash: the refresh stops, nothing is deleted; the entry expires.
	c2, err := New(Options{URL: r.URL(), Name: "t", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	crashed := NewSockets(c2, SocketsOptions{TTL: 500 * time.Millisecond, Refresh: 100 * time.Millisecond})
	crashed.Add("8.1", "t1")
	lookupEventually(t, b, "8.1", "t1", true)
	crashed.cancel() // stop without Close
	<-crashed.done
	start := time.Now()
	lookupEventually(t, b, "8.1", "", false)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("entry outlived its TTL by far: %s", d)
	}
}

// TestSocketsTaken: a new socket whose id another instance holds is
// reported (so the hub closes it), and closing it does not delete the other
// instance's entry.
func TestSocketsTaken(t *testing.T) {
	r := testredis.Start(t)
	a, _ := newTestSockets(t, r.URL(), SocketsOptions{})
	var takenID atomic.Value
	b, pb := newTestSockets(t, r.URL(), SocketsOptions{Taken: func(id string) { takenID.Store(id) }})
	probe, _ := newTestSockets(t, r.URL(), SocketsOptions{})

	a.Add("5.5", "tenant-a")
	lookupEventually(t, probe, "5.5", "tenant-a", true)
	b.Add("5.5", "tenant-b")
	waitFor(t, 5*time.Second, "Taken called", func() bool { return takenID.Load() == "5.5" })
	if pb.taken.Load() != 1 {
		t.Fatalf("taken counted %d times", pb.taken.Load())
	}
	b.Remove("5.5")
	time.Sleep(200 * time.Millisecond)
	lookupEventually(t, probe, "5.5", "tenant-a", true)
	// Nor does B's refresh overwrite it.
	b.wake()
	time.Sleep(200 * time.Millisecond)
	lookupEventually(t, probe, "5.5", "tenant-a", true)
}

// TestSocketsRedisOutage: Lookup fails fast and says so (the caller must
// not sign), writes are counted as not registered, and after Redis is back
// every open socket is written again by itself.
func TestSocketsRedisOutage(t *testing.T) {
	r := testredis.Start(t)
	a, pa := newTestSockets(t, r.URL(), SocketsOptions{TTL: 2 * time.Second, Refresh: 200 * time.Millisecond, LookupTimeout: 100 * time.Millisecond})
	b, pb := newTestSockets(t, r.URL(), SocketsOptions{LookupTimeout: 100 * time.Millisecond})
	a.Add("9.1", "t")
	lookupEventually(t, b, "9.1", "t", true)

	r.Stop()
	start := time.Now()
	_, ok, err := b.Lookup("9.1")
	if ok || !errors.Is(err, ErrSocketLookup) {
		t.Fatalf("lookup with Redis down: ok=%v err=%v", ok, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("lookup took %s with Redis down", d)
	}
	if pb.count(LookupError) == 0 {
		t.Fatal("lookup error not counted")
	}
	a.Add("9.2", "t") // while down
	waitFor(t, 5*time.Second, "not registered counted", func() bool { return pa.notRegistered.Load() > 0 })

	r.Start() // an empty Redis: every entry is gone
	lookupEventually(t, b, "9.1", "t", true)
	lookupEventually(t, b, "9.2", "t", true)
}

// TestSocketsManyPipelined: more sockets than one pipeline holds are all
// written and refreshed.
func TestSocketsManyPipelined(t *testing.T) {
	r := testredis.Start(t)
	a, _ := newTestSockets(t, r.URL(), SocketsOptions{TTL: 2 * time.Second, Refresh: 200 * time.Millisecond})
	const n = 3000
	for i := range n {
		a.Add(fmt.Sprintf("%d.%d", a.SocketPrefix(), i), "t")
	}
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	waitFor(t, 5*time.Second, "all entries written", func() bool {
		keys, _ := rc.Keys(context.Background(), "recordsync:t:socket:*").Result()
		return len(keys) == n
	})
	time.Sleep(2500 * time.Millisecond) // past the TTL
	keys, _ := rc.Keys(context.Background(), "recordsync:t:socket:*").Result()
	if len(keys) != n {
		t.Fatalf("%d entries after the TTL, want %d refreshed", len(keys), n)
	}
	ttl, _ := rc.TTL(context.Background(), keys[0]).Result()
	if ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("entry TTL %s", ttl)
	}
}

// TestSocketsRefuseForgedEntries: an entry is found only when an instance
// of this cluster (its secret) wrote it for that socket id. Entries written
// by anything else — another secret, the format before entries were
// signed, an entry copied to another socket's key, a changed tenant, one
// over MaxSocketEntryBytes — are unknown (never signed for) and counted.
// Before entries were signed, Lookup found each of them: whoever could
// write to the Redis decided what recordsync signed.
func TestSocketsRefuseForgedEntries(t *testing.T) {
	r := testredis.Start(t)
	long := SocketsOptions{TTL: time.Minute} // no refresh rewrites the forgeries during the test
	a, _ := newTestSockets(t, r.URL(), long)
	b, pb := newTestSockets(t, r.URL(), long)
	c, err := New(Options{URL: r.URL(), Name: "t", Secret: "another secret"})
	if err != nil {
		t.Fatal(err)
	}
	wrong := NewSockets(c, long)
	t.Cleanup(func() { wrong.Close(); c.Close() })

	a.Add("5.1", "ta")
	a.Add("5.2", "ta")
	wrong.Add("6.3", "ta")
	lookupEventually(t, b, "5.1", "ta", true)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	ctx := context.Background()
	waitFor(t, 5*time.Second, "the other secret's entry written", func() bool {
		return rc.Exists(ctx, "recordsync:t:socket:6.3").Val() == 1
	})
	entry := rc.Get(ctx, "recordsync:t:socket:5.1").Val()
	inst, _, _ := strings.Cut(entry, " ")

	rc.Set(ctx, "recordsync:t:socket:6.1", inst+" ta", 0)                             // before signatures
	rc.Set(ctx, "recordsync:t:socket:6.2", entry, 0)                                  // 5.1's entry, copied
	rc.Set(ctx, "recordsync:t:socket:6.4", inst+" "+strings.Repeat("x", 9000), 0)     // over the bound
	rc.Set(ctx, "recordsync:t:socket:5.2", strings.TrimSuffix(entry, " ta")+" tb", 0) // the tenant changed
	for _, id := range []string{"6.1", "6.2", "6.3", "6.4", "5.2"} {
		if tenant, ok, err := b.Lookup(id); ok || err != nil {
			t.Errorf("socket %s: found (tenant %q, err %v), want unknown", id, tenant, err)
		}
	}
	if n := pb.count("dropped socket unauthenticated"); n != 4 {
		t.Errorf("%d entries counted unauthenticated, want 4", n)
	}
	if n := pb.count("dropped socket oversized"); n != 1 {
		t.Errorf("%d entries counted oversized, want 1", n)
	}
	// The real entry is still found.
	if tenant, ok, err := b.Lookup("5.1"); !ok || err != nil || tenant != "ta" {
		t.Fatalf("socket 5.1: %q %v %v", tenant, ok, err)
	}
}
