package realtime

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// TestCacheChannelReplay: a new subscriber of a cache channel gets its last
// event right after subscription_succeeded, or pusher:cache_miss when it has
// none (never published, another tenant's), for every kind of cache
// channel; other channels get neither.
func TestCacheChannelReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.hub.Publish(Event{Tenant: "a", Channel: "cache-scores", Name: "score", Data: []byte(`{"home":1}`)})
	e.hub.Publish(Event{Tenant: "a", Channel: "cache-scores", Name: "score", Data: []byte(`{"home":2}`)})
	e.hub.Publish(Event{Tenant: "a", Channel: "private-cache-board", Name: "board", Data: []byte(`{"v":"p"}`)})
	e.hub.Publish(Event{Tenant: "a", Channel: "presence-cache-room", Name: "topic", Data: []byte(`{"v":"r"}`)})
	e.hub.Publish(Event{Tenant: "a", Channel: "private-encrypted-cache-x", Name: "sealed", Data: []byte(`{"nonce":"n","ciphertext":"c"}`)})
	e.hub.Publish(Event{Tenant: "a", Channel: "scores", Name: "score", Data: []byte(`{"home":9}`)})

	c := e.connect(t, "a")
	c.subscribeOK("cache-scores")
	if raw := string(c.nextRaw()); raw != `{"event":"score","channel":"cache-scores","data":"{\"home\":2}"}` {
		t.Fatalf("replay %s", raw)
	}
	c.subscribeOK("cache-never")
	if raw := string(c.nextRaw()); raw != `{"event":"pusher:cache_miss","channel":"cache-never","data":"{}"}` {
		t.Fatalf("miss %s", raw)
	}
	c.subscribeOK("private-cache-board")
	if d := c.expect("board", "private-cache-board"); d["v"] != "p" {
		t.Fatalf("%v", d)
	}
	c.subscribe("private-encrypted-cache-x", pusher.ChannelAuth(testKey, testSecret, c.socketID, "private-encrypted-cache-x", ""))
	c.expect("pusher_internal:subscription_succeeded", "private-encrypted-cache-x")
	if d := c.expect("sealed", "private-encrypted-cache-x"); d["ciphertext"] != "c" {
		t.Fatalf("%v", d)
	}
	c.joinPresence("presence-cache-room", member(1, "Ann"))
	if d := c.expect("topic", "presence-cache-room"); d["v"] != "r" {
		t.Fatalf("%v", d)
	}
	c.subscribeOK("scores")
	c.roundTrip() // no replay, no miss: not a cache channel

	// Another tenant's last event is not this one's.
	b := e.connect(t, "b")
	b.subscribeOK("cache-scores")
	b.expect("pusher:cache_miss", "cache-scores")

	// A subscriber gets the later events as usual, and the cache follows.
	e.hub.Publish(Event{Tenant: "a", Channel: "cache-scores", Name: "score", Data: []byte(`{"home":3}`)})
	c.expect("score", "cache-scores")
	late := e.connect(t, "a")
	late.subscribeOK("cache-scores")
	if d := late.expect("score", "cache-scores"); d["home"] != float64(3) {
		t.Fatalf("late subscriber got %v", d)
	}
}

// TestCacheChannelClientEvents: client events on a cache channel are
// relayed as on any channel and never kept (the Pusher docs, "Cache
// channels": "we do not cache client events"), from this instance or
// another.
func TestCacheChannelClientEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const ch = "private-cache-doc"
	a, b := e.connect(t, "a"), e.connect(t, "a")
	a.subscribeOK(ch)
	a.expect("pusher:cache_miss", ch)
	b.subscribeOK(ch)
	b.expect("pusher:cache_miss", ch)
	a.send(`{"event":"client-typing","channel":"private-cache-doc","data":{"x":1}}`)
	b.expect("client-typing", ch)
	e.hub.PublishLocal(Event{Tenant: "a", Channel: ch, Name: "client-typing", Data: []byte(`{}`), ClientEvent: true})
	b.expect("client-typing", ch)
	late := e.connect(t, "a")
	late.subscribeOK(ch)
	late.expect("pusher:cache_miss", ch)

	// What another instance publishes is kept, as the cluster shares it.
	e.hub.PublishLocal(Event{Tenant: "a", Channel: ch, Name: "saved", Data: []byte(`{"v":1}`)})
	later := e.connect(t, "a")
	later.subscribeOK(ch)
	later.expect("saved", ch)
}

// TestCacheChannelBounds: past CacheMaxChannels the channel published
// least recently is forgotten, counted as DropCacheEvicted.
func TestCacheChannelBounds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.CacheMaxChannels = 2 })
	for i := range 3 {
		e.hub.Publish(Event{Tenant: "a", Channel: fmt.Sprintf("cache-%d", i), Name: "e", Data: []byte(`{}`)})
	}
	e.obs.mu.Lock()
	evicted := e.obs.dropped[DropCacheEvicted]
	e.obs.mu.Unlock()
	if evicted != 1 {
		t.Fatalf("evicted %d, want 1", evicted)
	}
	c := e.connect(t, "a")
	c.subscribeOK("cache-0")
	c.expect("pusher:cache_miss", "cache-0")
	for _, ch := range []string{"cache-1", "cache-2"} {
		c.subscribeOK(ch)
		c.expect("e", ch)
	}
}

// TestEventCache: expiry, the channel and byte bounds, the order of
// eviction (least recently published first), and an event over the whole
// budget.
func TestEventCache(t *testing.T) {
	var ec eventCache
	k := func(i int) chanKey { return chanKey{"t", fmt.Sprint("cache-", i)} }
	f := []byte(`{"event":"e","channel":"c","data":"{}"}`)
	size := int64(len(f)+len("t")+len("cache-0")) + cacheEntryOverhead

	if n := ec.put(k(0), f, 0, 10, 10, 1<<20); n != 0 {
		t.Fatalf("evicted %d", n)
	}
	if ec.get(k(0), 9) == nil || ec.get(k(0), 10) != nil {
		t.Fatal("expiry: kept until now+ttl, not at it")
	}
	if n, b := ec.len(); n != 0 || b != 0 {
		t.Fatalf("an expired entry is forgotten: %d, %d bytes", n, b)
	}

	// Channels: 3 at most; re-publishing 0 makes 1 the oldest.
	for i := range 3 {
		ec.put(k(i), f, 100, time.Hour, 3, 1<<20)
	}
	ec.put(k(0), f, 101, time.Hour, 3, 1<<20)
	if n := ec.put(k(3), f, 102, time.Hour, 3, 1<<20); n != 1 || ec.get(k(1), 103) != nil || ec.get(k(0), 103) == nil {
		t.Fatalf("evicted %d; 1 kept %v, 0 kept %v", n, ec.get(k(1), 103) != nil, ec.get(k(0), 103) != nil)
	}
	// Bytes: room for two entries only.
	var bc eventCache
	for i := range 2 {
		bc.put(k(i), f, 0, time.Hour, 100, 2*size)
	}
	if n := bc.put(k(2), f, 0, time.Hour, 100, 2*size); n != 1 {
		t.Fatalf("byte bound evicted %d", n)
	}
	if n, b := bc.len(); n != 2 || b != 2*size {
		t.Fatalf("%d entries, %d bytes; want 2, %d", n, b, 2*size)
	}
	// Over the whole budget: not kept, and the channel's older event is
	// not replayed in its place.
	big := []byte(strings.Repeat("x", int(2*size)))
	if n := bc.put(k(2), big, 0, time.Hour, 100, 2*size); n != 1 || bc.get(k(2), 0) != nil {
		t.Fatalf("an event over the budget: evicted %d, kept %v", n, bc.get(k(2), 0) != nil)
	}
	if n, _ := bc.len(); n != 1 {
		t.Fatalf("%d entries left, want 1", n)
	}
}

// TestCacheReplayOrder: subscriptions racing one publisher never see an
// older event after a newer one: the replay is the last event kept before
// the subscription, and every later publish follows it (at most the last
// one twice).
func TestCacheReplayOrder(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, func(o *Options) { o.SendQueue = 1 << 16 })
	cfg := h.cfg.Load()
	const ch, subscribers, events = "cache-race", 64, 2000
	conns := make([]*conn, subscribers)
	for i := range conns {
		conns[i] = fakeConn(t, h, "a", fmt.Sprint(i, ".1"))
	}
	start := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-start
		for n := range events {
			h.Publish(Event{Tenant: "a", Channel: ch, Name: "n", Data: []byte(fmt.Sprint(n))})
		}
	}()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			time.Sleep(time.Duration(i%16) * 50 * time.Microsecond)
			c.subscribe(cfg, subscribeData{Channel: ch})
		}()
	}
	close(start)
	wg.Wait()
	<-done
	for _, c := range conns {
		last, dups := -1, 0
		for _, f := range c.take(nil) {
			s := string(f)
			if strings.Contains(s, "subscription_succeeded") || strings.Contains(s, "cache_miss") {
				continue
			}
			var n int
			if _, err := fmt.Sscanf(s, `{"event":"n","channel":"cache-race","data":"%d"}`, &n); err != nil {
				t.Fatalf("frame %s: %v", s, err)
			}
			switch {
			case n == last:
				dups++
			case n < last:
				t.Fatalf("socket %s got %d after %d", c.id, n, last)
			}
			last = n
		}
		if dups > 1 {
			t.Fatalf("socket %s got %d duplicates", c.id, dups)
		}
		if last != events-1 {
			t.Fatalf("socket %s ended at %d, want %d", c.id, last, events-1)
		}
	}
}
