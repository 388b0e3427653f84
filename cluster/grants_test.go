package cluster

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recordsync/recordsync/internal/testredis"
)

// grantsProbe records what a Grants hands to its callbacks.
type grantsProbe struct {
	*refusals
	mu        sync.Mutex
	forgotten []string
	resets    int
}

func (p *grantsProbe) forgot(callerKey, field string) {
	p.mu.Lock()
	p.forgotten = append(p.forgotten, callerKey+"|"+field)
	p.mu.Unlock()
}

func (p *grantsProbe) has(callerKey, field string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.forgotten {
		if f == callerKey+"|"+field {
			return true
		}
	}
	return false
}

func (p *grantsProbe) resetCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resets
}

// newTestGrants is an instance's Grants in the cluster "g" on url, with
// secret; it waits until it is subscribed.
func newTestGrants(tb testing.TB, url, secret string) (*Grants, *grantsProbe) {
	tb.Helper()
	c, err := New(Options{URL: url, Name: "g", Secret: secret})
	if err != nil {
		tb.Fatal(err)
	}
	p := &grantsProbe{refusals: newRefusals()}
	g := NewGrants(c, GrantsOptions{
		Forgotten:  p.forgot,
		Reset:      func() { p.mu.Lock(); p.resets++; p.mu.Unlock() },
		Observer:   p,
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond,
	})
	tb.Cleanup(func() { g.Close(); c.Close() })
	waitFor(tb, 5*time.Second, "the grants subscription", g.Subscribed)
	return g, p
}

// TestGrantsRememberedForExactlyTheirCallerAndField: a grant put by one
// instance is read by another for the same caller key and field only; the
// caller key binds the site and the caller; an expired grant is not read.
func TestGrantsRememberedForExactlyTheirCallerAndField(t *testing.T) {
	r := testredis.Start(t)
	a, _ := newTestGrants(t, r.URL(), testSecret)
	b, _ := newTestGrants(t, r.URL(), testSecret)

	alice := a.CallerKey("site a", "alice")
	if alice != b.CallerKey("site a", "alice") {
		t.Fatal("two instances of one cluster name a caller differently")
	}
	for _, other := range []string{a.CallerKey("site b", "alice"), a.CallerKey("site a", "bob"), a.CallerKey("site a\x00", "alice")} {
		if other == alice {
			t.Fatal("a caller key does not bind its site and caller")
		}
	}
	field := GrantField("t1", "presence-record.flow.1")
	const data = `{"user_id":1,"user_info":{"name":"Alice"}}`
	until := time.Now().Add(time.Minute)
	if err := a.Put(alice, field, data, until); err != nil {
		t.Fatal(err)
	}
	got, exp, ok, err := b.Get(alice, field)
	if err != nil || !ok || got != data {
		t.Fatalf("B reads %q %v %v, want A's grant", got, ok, err)
	}
	if exp.UnixMilli() != until.UnixMilli() {
		t.Fatalf("expiry %v, want %v", exp, until)
	}
	for _, miss := range []struct{ caller, field string }{
		{a.CallerKey("site a", "bob"), field},
		{a.CallerKey("site b", "alice"), field},
		{alice, GrantField("t2", "presence-record.flow.1")},
		{alice, GrantField("t1", "presence-record.flow.2")},
	} {
		if _, _, ok, err := b.Get(miss.caller, miss.field); ok || err != nil {
			t.Fatalf("a grant read for another caller, site, tenant or channel (%v)", err)
		}
	}
	// A private grant has no channel data.
	if err := a.Put(alice, GrantField("t1", "private-record.flow.1"), "", until); err != nil {
		t.Fatal(err)
	}
	if got, _, ok, _ := b.Get(alice, GrantField("t1", "private-record.flow.1")); !ok || got != "" {
		t.Fatalf("private grant: %q %v", got, ok)
	}
	// Past its expiry a grant is not stored, nor read.
	if err := a.Put(alice, GrantField("t1", "private-record.flow.9"), "", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := b.Get(alice, GrantField("t1", "private-record.flow.9")); ok {
		t.Fatal("a grant put past its expiry is read")
	}
	rc := redisClient(r)
	defer rc.Close()
	ctx := context.Background()
	f := GrantField("t1", "private-record.flow.8")
	past := strconv.FormatInt(time.Now().Add(-time.Second).UnixMilli(), 10)
	rc.HSet(ctx, a.key(alice), f, past+" "+mac(a.c.keys.grants, "grant", alice, f, past, "")+" ")
	if _, _, ok, _ := b.Get(alice, f); ok {
		t.Fatal("an expired grant is read")
	}
	// The hash lives as long as its newest grant, not forever.
	if ttl := rc.PTTL(ctx, a.key(alice)).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("the caller's hash expires in %v, want within a minute", ttl)
	}
}

// TestGrantsRefusesForgedAndOversized: a value that is not signed by this
// cluster for exactly its caller key and field, or that is too large, is
// never read; another cluster's secret reads nothing of this one's.
func TestGrantsRefusesForgedAndOversized(t *testing.T) {
	r := testredis.Start(t)
	a, p := newTestGrants(t, r.URL(), testSecret)
	other, _ := newTestGrants(t, r.URL(), "another secret")
	rc := redisClient(r)
	defer rc.Close()
	ctx := context.Background()
	until := time.Now().Add(time.Minute)
	alice, bob := a.CallerKey("s", "alice"), a.CallerKey("s", "bob")
	f1, f2 := GrantField("t", "private-a"), GrantField("t", "private-b")
	if err := a.Put(alice, f1, "", until); err != nil {
		t.Fatal(err)
	}
	good := rc.HGet(ctx, a.key(alice), f1).Val()

	// The same name and database with another secret: another key, and
	// alice's value copied there does not verify.
	if other.CallerKey("s", "alice") == alice {
		t.Fatal("the caller key does not depend on the secret")
	}
	rc.HSet(ctx, other.key(alice), f1, good)
	if _, _, ok, _ := other.Get(alice, f1); ok {
		t.Fatal("a grant signed with another secret is read")
	}
	// Copied to another field, or to another caller.
	rc.HSet(ctx, a.key(alice), f2, good)
	rc.HSet(ctx, a.key(bob), f1, good)
	if _, _, ok, _ := a.Get(alice, f2); ok {
		t.Fatal("a grant copied to another channel is read")
	}
	if _, _, ok, _ := a.Get(bob, f1); ok {
		t.Fatal("a grant copied to another caller is read")
	}
	// Edited data, an unsigned value, garbage.
	exp, _, _ := strings.Cut(good, " ")
	for i, v := range []string{good + `{"user_id":1}`, exp + " nosig ", "garbage", ""} {
		f := GrantField("t", "private-x"+strconv.Itoa(i))
		rc.HSet(ctx, a.key(alice), f, v)
		if _, _, ok, _ := a.Get(alice, f); ok {
			t.Fatalf("forged value %q is read", v)
		}
	}
	if n := p.get("dropped grant unauthenticated"); n < 5 {
		t.Fatalf("%d unauthenticated values counted, want at least 5", n)
	}
	// Oversized: refused unread.
	rc.HSet(ctx, a.key(alice), GrantField("t", "private-big"), strings.Repeat("x", MaxGrantBytes+1))
	if _, _, ok, err := a.Get(alice, GrantField("t", "private-big")); ok || err != nil {
		t.Fatalf("an oversized value is read (%v)", err)
	}
	if p.get("dropped grant oversized") != 1 {
		t.Fatal("the oversized value was not counted")
	}
	// Too large to store.
	if err := a.Put(alice, f1, strings.Repeat("x", MaxGrantBytes), until); err != ErrGrantTooLarge {
		t.Fatalf("a grant over the bound: %v, want ErrGrantTooLarge", err)
	}
	if err := a.Put(alice, strings.Repeat("f", MaxGrantFieldBytes+1), "", until); err != ErrGrantTooLarge {
		t.Fatalf("a field over the bound: %v, want ErrGrantTooLarge", err)
	}
	if _, _, ok, _ := a.Get(alice, f1); !ok {
		t.Fatal("a refused Put changed the grant that was there")
	}
}

// TestGrantsForgetEverywhere: Forget deletes one grant or all of a
// caller's, and every instance (the one that forgot too) is told; an end
// message without the cluster's signature is dropped.
func TestGrantsForgetEverywhere(t *testing.T) {
	r := testredis.Start(t)
	a, pa := newTestGrants(t, r.URL(), testSecret)
	b, pb := newTestGrants(t, r.URL(), testSecret)
	until := time.Now().Add(time.Minute)
	alice, bob := a.CallerKey("s", "alice"), a.CallerKey("s", "bob")
	f1, f2 := GrantField("t", "private-a"), GrantField("t", "private-b")
	for _, k := range []string{alice, bob} {
		for _, f := range []string{f1, f2} {
			if err := a.Put(k, f, "", until); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := a.Forget(alice, f1, until); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := b.Get(alice, f1); ok {
		t.Fatal("a forgotten grant is read")
	}
	if _, _, ok, _ := b.Get(alice, f2); !ok {
		t.Fatal("forgetting one grant forgot another")
	}
	waitFor(t, 5*time.Second, "B told of the end", func() bool { return pb.has(alice, f1) })
	waitFor(t, 5*time.Second, "A told of its own end", func() bool { return pa.has(alice, f1) })

	if err := b.Forget(bob, "", until); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{f1, f2} {
		if _, _, ok, _ := a.Get(bob, f); ok {
			t.Fatal("a grant of a forgotten caller is read")
		}
	}
	if _, _, ok, _ := a.Get(alice, f2); !ok {
		t.Fatal("forgetting bob forgot alice")
	}
	waitFor(t, 5*time.Second, "A told of bob's end", func() bool { return pa.has(bob, "") })

	// Forged ends: unsigned, signed with another key, oversized.
	rc := redisClient(r)
	defer rc.Close()
	ctx := context.Background()
	rc.Publish(ctx, a.channel, "nosig "+alice+" ")
	rc.Publish(ctx, a.channel, mac([]byte("other key"), "forget", alice, "")+" "+alice+" ")
	rc.Publish(ctx, a.channel, strings.Repeat("x", MaxGrantBytes+1))
	waitFor(t, 5*time.Second, "the forged ends refused", func() bool {
		return pb.get("dropped grant unauthenticated") == 2 && pb.get("dropped grant oversized") == 1
	})
	if pb.has(alice, "") {
		t.Fatal("a forged end was taken")
	}
}

// TestGrantsForgetOutlivesAFailure: a forget that Redis does not carry
// out fails, and is made again until it works.
func TestGrantsForgetOutlivesAFailure(t *testing.T) {
	r := testredis.Start(t)
	a, _ := newTestGrants(t, r.URL(), testSecret)
	rc := redisClient(r)
	defer rc.Close()
	ctx := context.Background()
	until := time.Now().Add(time.Minute)
	alice := a.CallerKey("s", "alice")
	f := GrantField("t", "private-a")
	// The caller's key is of the wrong type: HDEL fails.
	rc.Set(ctx, a.key(alice), "not a hash", 0)
	if err := a.Forget(alice, f, until); err == nil {
		t.Fatal("Forget worked on a key it could not change")
	}
	// Now a grant is there (written at once with the key's repair): the
	// forget, tried again, ends it.
	exp := strconv.FormatInt(until.UnixMilli(), 10)
	if _, err := rc.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, a.key(alice))
		p.HSet(ctx, a.key(alice), f, exp+" "+mac(a.c.keys.grants, "grant", alice, f, exp, "")+" ")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the forget made again", func() bool {
		_, _, ok, err := a.Get(alice, f)
		return err == nil && !ok
	})

	// A pending forget past its deadline (its grants have expired) is
	// dropped, not made.
	g2 := GrantField("t", "private-b")
	if err := a.Put(alice, g2, "", until); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.pending[forgetKey{alice, g2}] = time.Now().Add(-time.Second)
	a.mu.Unlock()
	a.kick <- struct{}{}
	waitFor(t, 10*time.Second, "the pending forgets to drain", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.pending) == 0
	})
	if _, _, ok, _ := a.Get(alice, g2); !ok {
		t.Fatal("a forget past its deadline was made")
	}
}

// TestGrantsResetOnResubscribe: when Redis restarts, the subscription goes
// down and comes up again, and each time the local copies are reset:
// Subscribed is false in between.
func TestGrantsResetOnResubscribe(t *testing.T) {
	r := testredis.Start(t)
	a, pa := newTestGrants(t, r.URL(), testSecret)
	before := pa.resetCount()
	if before < 1 {
		t.Fatal("no reset when the subscription first came up")
	}
	r.Stop()
	waitFor(t, 10*time.Second, "the subscription down", func() bool { return !a.Subscribed() })
	if pa.resetCount() < before+1 {
		t.Fatal("no reset when the subscription went down")
	}
	r.Start()
	waitFor(t, 10*time.Second, "the subscription up again", a.Subscribed)
	if pa.resetCount() < before+2 {
		t.Fatal("no reset when the subscription came up again")
	}
}

// TestGrantsBoundedPerCaller: a caller's hash holds at most
// MaxGrantsPerCaller grants; past that it is emptied before the new one
// is stored.
func TestGrantsBoundedPerCaller(t *testing.T) {
	r := testredis.Start(t)
	a, _ := newTestGrants(t, r.URL(), testSecret)
	rc := redisClient(r)
	defer rc.Close()
	until := time.Now().Add(time.Minute)
	alice := a.CallerKey("s", "alice")
	for i := 0; i <= MaxGrantsPerCaller; i++ {
		if err := a.Put(alice, GrantField("t", "private-"+strconv.Itoa(i)), "", until); err != nil {
			t.Fatal(err)
		}
		if n := rc.HLen(context.Background(), a.key(alice)).Val(); n > MaxGrantsPerCaller {
			t.Fatalf("%d grants for one caller", n)
		}
	}
	if _, _, ok, _ := a.Get(alice, GrantField("t", "private-"+strconv.Itoa(MaxGrantsPerCaller))); !ok {
		t.Fatal("the newest grant is not there")
	}
	// Putting one that is there again does not empty the hash.
	n := rc.HLen(context.Background(), a.key(alice)).Val()
	if err := a.Put(alice, GrantField("t", "private-"+strconv.Itoa(MaxGrantsPerCaller)), "", until); err != nil {
		t.Fatal(err)
	}
	if rc.HLen(context.Background(), a.key(alice)).Val() != n {
		t.Fatal("renewing a grant emptied the hash")
	}
}
