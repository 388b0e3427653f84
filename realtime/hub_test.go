package realtime

import (
	"github.com/recordsync/recordsync/versioncache"

	"strconv"
	"sync"
	"testing"
)

// fakeConn is a conn with no websocket: enough for the publish path, which
// only queues frames.
func fakeConn(tb testing.TB, h *Hub, tenant, id string) *conn {
	tb.Helper()
	c := newConn(h, h.cfg.Load(), tenant)
	c.id = id
	return c
}

// take swaps a fake conn's queued frames out for spare (empty) and returns
// their payloads (the Pusher messages, without the websocket header).
func (c *conn) take(spare [][]byte) [][]byte {
	c.qmu.Lock()
	out := c.frames
	c.frames = spare[:0]
	c.qmu.Unlock()
	for i, f := range out {
		out[i] = framePayload(f)
	}
	return out
}

// framePayload is the payload of f, one unmasked websocket frame.
func framePayload(f []byte) []byte {
	switch f[1] & 0x7f {
	case 126:
		return f[4:]
	case 127:
		return f[10:]
	}
	return f[2:]
}

func newTestHub(tb testing.TB, mod func(*Options)) *Hub {
	tb.Helper()
	opts := Options{AppKey: testKey, AppSecret: testSecret}
	if mod != nil {
		mod(&opts)
	}
	h, err := NewHub(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Close)
	return h
}

func TestPublishSharesOneFrame(t *testing.T) {
	obs := &countingObserver{}
	h := newTestHub(t, func(o *Options) { o.Observer = obs })
	var conns []*conn
	for i := range 50 {
		c := fakeConn(t, h, "", strconv.Itoa(i)+".1")
		h.addSub(c, chanKey{"", "private-record.flow.1"})
		conns = append(conns, c)
	}
	other := fakeConn(t, h, "other", "99.1")
	h.addSub(other, chanKey{"other", "private-record.flow.1"})

	h.Publish(Event{Channel: "private-record.flow.1", Name: "record.updated", Data: []byte(`{"x":1}`), ExceptSocket: "3.1"})
	var first *byte
	for i, c := range conns {
		if i == 3 {
			if len(c.frames) != 0 {
				t.Fatalf("ExceptSocket got %d frames", len(c.frames))
			}
			continue
		}
		if len(c.frames) != 1 {
			t.Fatalf("conn %d has %d frames", i, len(c.frames))
		}
		if first == nil {
			first = &c.frames[0][0]
		} else if &c.frames[0][0] != first {
			t.Fatalf("conn %d got its own copy of the frame: encoded more than once", i)
		}
	}
	if len(other.frames) != 0 {
		t.Fatal("another tenant's socket got the event")
	}
	if obs.encoded.Load() != 1 {
		t.Fatalf("%d encodes", obs.encoded.Load())
	}
	// No subscribers: nothing encoded.
	h.Publish(Event{Channel: "nobody", Name: "x"})
	if obs.encoded.Load() != 1 {
		t.Fatalf("%d encodes after a publish to nobody", obs.encoded.Load())
	}
}

func TestPublishOverflowStopsOnlyTheFullSocket(t *testing.T) {
	obs := &countingObserver{}
	h := newTestHub(t, func(o *Options) { o.SendQueue = 2; o.Observer = obs })
	slow, ok := fakeConn(t, h, "", "1.1"), fakeConn(t, h, "", "2.1")
	h.addSub(slow, chanKey{"", "c"})
	h.addSub(ok, chanKey{"", "c"})
	for range 3 {
		h.Publish(Event{Channel: "c", Name: "e"})
		ok.take(nil) // the healthy one drains
	}
	if !slow.stopped() || slow.closeCode != CodeOverCapacity {
		t.Fatalf("slow: stopped %v code %d", slow.stopped(), slow.closeCode)
	}
	if ok.stopped() {
		t.Fatal("healthy socket stopped")
	}
	if obs.slow.Load() != 1 {
		t.Fatalf("SlowConsumer called %d times", obs.slow.Load())
	}
	h.Publish(Event{Channel: "c", Name: "e"})
	if obs.slow.Load() != 1 {
		t.Fatal("a stopped socket counted again")
	}
}

func TestPublishInvalid(t *testing.T) {
	obs := &countingObserver{}
	h := newTestHub(t, func(o *Options) { o.Observer = obs })
	h.Publish(Event{Channel: "bad channel", Name: "x"})
	h.Publish(Event{Channel: "ok", Name: ""})
	h.Saved(versioncache.Saved{Key: versioncache.Key{Type: "flow", ID: "a b"}})
	if obs.dropped[DropInvalid] != 3 || obs.published.Load() != 0 {
		t.Fatalf("dropped %v published %d", obs.dropped, obs.published.Load())
	}
}

func TestSubscriptionsConcurrent(t *testing.T) {
	h := newTestHub(t, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := fakeConn(t, h, "", strconv.Itoa(g)+".0")
			for i := range 200 {
				k := chanKey{"", "ch" + strconv.Itoa(i%10)}
				h.addSub(c, k)
				h.Publish(Event{Channel: k.name, Name: "e"})
				c.take(nil)
				h.removeSub(c, k)
			}
		}()
	}
	wg.Wait()
	if h.Subscriptions() != 0 || h.Channels() != 0 {
		t.Fatalf("subs %d channels %d", h.Subscriptions(), h.Channels())
	}
}

func TestNewHubValidation(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"ok", Options{AppKey: "k", AppSecret: "s"}, true},
		{"no key", Options{AppSecret: "s"}, false},
		{"no secret", Options{AppKey: "k"}, false},
		{"key with slash", Options{AppKey: "k/x", AppSecret: "s"}, false},
		{"relative ws path", Options{AppKey: "k", AppSecret: "s", WSPath: "ws"}, false},
		{"bad origin pattern", Options{AppKey: "k", AppSecret: "s", AllowedOrigins: []string{"[x"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewHub(tt.opts)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if h != nil {
				h.Close()
			}
		})
	}
}

func TestIsWebSocketPathRoot(t *testing.T) {
	h := newTestHub(t, func(o *Options) { o.WSPath = "/" })
	for p, want := range map[string]bool{"/": true, "/app/k": true, "/api/x": false} {
		if got := h.IsWebSocketPath(p); got != want {
			t.Errorf("IsWebSocketPath(%q) = %v", p, got)
		}
	}
}

func BenchmarkPublish1000(b *testing.B) {
	h := newTestHub(b, func(o *Options) { o.SendQueue = 1 << 30 })
	conns := make([]*conn, 1000)
	for i := range conns {
		conns[i] = fakeConn(b, h, "", strconv.Itoa(i)+".1")
		h.addSub(conns[i], chanKey{"", "c"})
	}
	ev := Event{Channel: "c", Name: "record.updated", Data: []byte(`{"tenant_id":null,"record_type":"flow","record_id":1}`)}
	b.ReportAllocs()
	for b.Loop() {
		h.Publish(ev)
		for _, c := range conns {
			c.take(c.frames[:0])
		}
	}
}
