package redissub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recordsync/recordsync/internal/testredis"
)

// probe records what a Subscriber reports.
type probe struct {
	mu    sync.Mutex
	msgs  []string
	errs  []error
	ups   atomic.Int32
	downs atomic.Int32
}

func (p *probe) options(t *testing.T, url string, o Options) Options {
	client := redis.NewClient(ClientOptions(mustParse(url)))
	t.Cleanup(func() { client.Close() }) // after the subscriber's Close
	o.Subscribe = func(ctx context.Context) *redis.PubSub { return client.Subscribe(ctx, "ch") }
	o.Handle = func(m *redis.Message) { p.mu.Lock(); p.msgs = append(p.msgs, m.Payload); p.mu.Unlock() }
	o.Up = func() { p.ups.Add(1) }
	o.Down = func(err error) { p.mu.Lock(); p.errs = append(p.errs, err); p.mu.Unlock(); p.downs.Add(1) }
	return o
}

func (p *probe) got(payload string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.msgs {
		if m == payload {
			return true
		}
	}
	return false
}

func mustParse(url string) *redis.Options {
	o, err := redis.ParseURL(url)
	if err != nil {
		panic(err)
	}
	return o
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func start(t *testing.T, o Options) *Subscriber {
	s := Start(o)
	t.Cleanup(func() {
		if !s.Close(5 * time.Second) {
			t.Error("the subscriber did not stop")
		}
	})
	return s
}

// publishUntil publishes payload until the probe got it.
func publishUntil(t *testing.T, pub *redis.Client, p *probe, payload string) {
	t.Helper()
	waitFor(t, 10*time.Second, "delivery of "+payload, func() bool {
		pub.Publish(context.Background(), "ch", payload)
		time.Sleep(10 * time.Millisecond)
		return p.got(payload)
	})
}

// Redis stopped and killed: the subscriber reports Down, then Up once it
// subscribed again, and messages arrive again.
func TestSubscriberResumesAfterRestart(t *testing.T) {
	r := testredis.Start(t)
	p := &probe{}
	s := start(t, p.options(t, r.URL(), Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}))
	pub := redis.NewClient(&redis.Options{Addr: r.Addr(), Protocol: 2, DisableIdentity: true})
	defer pub.Close()
	waitFor(t, 5*time.Second, "subscribed", s.Subscribed)
	publishUntil(t, pub, p, "before")
	for i, stop := range []func(){r.Stop, r.Kill} {
		ups := p.ups.Load()
		stop()
		waitFor(t, 5*time.Second, "down", func() bool { return !s.Subscribed() })
		time.Sleep(200 * time.Millisecond)
		r.Start()
		waitFor(t, 5*time.Second, "up again", func() bool { return s.Subscribed() && p.ups.Load() > ups })
		// Subscribed means Redis confirmed: one publish is enough.
		payload := fmt.Sprint("after ", i)
		if n, err := pub.Publish(context.Background(), "ch", payload).Result(); err != nil || n != 1 {
			t.Fatalf("PUBLISH after restart %d reached %d subscribers (%v), want 1", i, n, err)
		}
		waitFor(t, 2*time.Second, "delivery after restart", func() bool { return p.got(payload) })
	}
}

// Wake cuts a long backoff short.
func TestSubscriberWake(t *testing.T) {
	r := testredis.Start(t)
	r.Stop()
	p := &probe{}
	s := start(t, p.options(t, r.URL(), Options{MinBackoff: 20 * time.Second, MaxBackoff: 20 * time.Second}))
	waitFor(t, 5*time.Second, "a failed attempt", func() bool { return p.downs.Load() > 0 })
	r.Start()
	time.Sleep(100 * time.Millisecond)
	if s.Subscribed() {
		t.Fatal("subscribed during its backoff")
	}
	s.Wake()
	waitFor(t, 5*time.Second, "subscribed after Wake", s.Subscribed)
}

// A connection that stays open but answers nothing (a hung Redis, a lost
// network): the ping finds it within PingInterval + ReplyTimeout, instead of
// a read that waits forever.
func TestSubscriberFindsDeadConnection(t *testing.T) {
	r := testredis.Start(t)
	p := &probe{}
	s := start(t, p.options(t, r.URL(), Options{PingInterval: 200 * time.Millisecond, ReplyTimeout: 200 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}))
	waitFor(t, 5*time.Second, "subscribed", s.Subscribed)
	time.Sleep(500 * time.Millisecond) // pings answered: still subscribed
	if !s.Subscribed() || p.downs.Load() != 0 {
		t.Fatalf("a silent but live subscription ended: %v", p.errs)
	}
	r.Pause()
	paused := time.Now()
	waitFor(t, 5*time.Second, "the dead connection found", func() bool { return !s.Subscribed() })
	if d := time.Since(paused); d > 2*time.Second {
		t.Errorf("found after %v", d)
	}
	p.mu.Lock()
	err := p.errs[0]
	p.mu.Unlock()
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Down(%v), want a timeout", err)
	}
	r.Resume()
	waitFor(t, 10*time.Second, "subscribed again", s.Subscribed)
}

func TestBackoff(t *testing.T) {
	b := NewBackoff(100*time.Millisecond, 400*time.Millisecond)
	for i, step := range []time.Duration{100, 200, 400, 400} {
		step *= time.Millisecond
		if d := b.Next(); d < step/2 || d > step {
			t.Errorf("wait %d: %v, want in [%v, %v]", i, d, step/2, step)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Errorf("after Reset: %v", d)
	}
}
