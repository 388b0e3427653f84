package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recordsync/recordsync/internal/testredis"
)

// waitFor polls cond every 5 ms for up to d.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// busProbe records what a bus hands to its callbacks and its metrics.
type busProbe struct {
	nopObserver // the socket registry's metrics
	mu          sync.Mutex
	msgs        []message
	gone        []string
	shares      int
	notShare    atomic.Int64
	up          atomic.Bool
	// outEvents counts the kindEvent messages the bus says it sent.
	outEvents atomic.Int64
}

func (p *busProbe) Message(direction, kind string) {
	if direction == "out" && kind == kindEvent {
		p.outEvents.Add(1)
	}
}
func (p *busProbe) NotShared() { p.notShare.Add(1) }
func (p *busProbe) Up(up bool) { p.up.Store(up) }

func (p *busProbe) messages() []message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]message(nil), p.msgs...)
}

func (p *busProbe) options(o busOptions) busOptions {
	o.Handler = func(m message) { p.mu.Lock(); p.msgs = append(p.msgs, m); p.mu.Unlock() }
	o.Share = func() { p.mu.Lock(); p.shares++; p.mu.Unlock() }
	o.InstanceGone = func(id string) { p.mu.Lock(); p.gone = append(p.gone, id); p.mu.Unlock() }
	o.Observer = p
	if o.MinBackoff == 0 {
		o.MinBackoff, o.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	}
	return o
}

// newTestBus joins the cluster "t" on url.
func newTestBus(tb testing.TB, url string, o busOptions) (*Bus, *busProbe) {
	tb.Helper()
	c, err := New(Options{URL: url, Name: "t", Secret: testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	p := &busProbe{}
	b := newBus(c, p.options(o))
	tb.Cleanup(func() { b.Close(); _ = c.Close() })
	return b, p
}

func TestBusDeliversToOtherInstancesOnly(t *testing.T) {
	r := testredis.Start(t)
	a, pa := newTestBus(t, r.URL(), busOptions{})
	b, pb := newTestBus(t, r.URL(), busOptions{})
	waitFor(t, 5*time.Second, "both buses up", func() bool { return a.Up() && b.Up() })

	a.Publish(message{Kind: kindEvent, Tenant: "t1", Channel: "private-x", Name: "e", Data: `{"a":"é\u0000"}`, ExceptSocket: "1.2"})
	waitFor(t, 5*time.Second, "B receives", func() bool { return len(pb.messages()) == 1 })
	time.Sleep(100 * time.Millisecond)
	if got := pb.messages(); len(got) != 1 {
		t.Fatalf("B got %d messages, want 1: %+v", len(got), got)
	}
	m := pb.messages()[0]
	if m.Instance != a.Instance() || m.Tenant != "t1" || m.Channel != "private-x" || m.Data != `{"a":"é\u0000"}` || m.ExceptSocket != "1.2" {
		t.Fatalf("B got %+v", m)
	}
	if got := pa.messages(); len(got) != 0 {
		t.Fatalf("A got its own message back: %+v", got)
	}
	// B's hello made A share its state.
	waitFor(t, 5*time.Second, "A shares on B's hello", func() bool { pa.mu.Lock(); defer pa.mu.Unlock(); return pa.shares >= 2 })
}

func TestBusByeAndSilentInstance(t *testing.T) {
	r := testredis.Start(t)
	a, pa := newTestBus(t, r.URL(), busOptions{HeartbeatInterval: 20 * time.Millisecond, InstanceTimeout: 300 * time.Millisecond})
	waitFor(t, 5*time.Second, "A up", a.Up)

	// A ghost instance says it is alive once, then falls silent (killed).
	cl := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer cl.Close()
	cl.Publish(context.Background(), "recordsync:t:events", sealWith(a.c.keys.bus, `{"v":3,"kind":"hb","instance":"ghost","seq":1}`))
	cl.Publish(context.Background(), "recordsync:t:events", sealWith(a.c.keys.bus, `{"v":3,"kind":"nonsense","instance":"ghost2","seq":1}`))
	start := time.Now()
	waitFor(t, 5*time.Second, "ghost forgotten", func() bool {
		pa.mu.Lock()
		defer pa.mu.Unlock()
		return len(pa.gone) == 1 && pa.gone[0] == "ghost"
	})
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("ghost forgotten after %v, before its timeout", d)
	}

	// A closing instance says bye: forgotten at once.
	b, _ := newTestBus(t, r.URL(), busOptions{HeartbeatInterval: 20 * time.Millisecond})
	waitFor(t, 5*time.Second, "B up and heard", func() bool {
		return b.Up() && len(pa.messages()) == 0 // heartbeats are not handed on
	})
	time.Sleep(100 * time.Millisecond) // A hears B's heartbeats
	b.Close()
	waitFor(t, time.Second, "B forgotten on bye", func() bool {
		pa.mu.Lock()
		defer pa.mu.Unlock()
		return len(pa.gone) == 2 && pa.gone[1] == b.Instance()
	})
}

func TestBusRedisOutage(t *testing.T) {
	r := testredis.Start(t)
	a, pa := newTestBus(t, r.URL(), busOptions{HeartbeatInterval: 50 * time.Millisecond})
	b, pb := newTestBus(t, r.URL(), busOptions{HeartbeatInterval: 50 * time.Millisecond})
	waitFor(t, 5*time.Second, "both buses up", func() bool { return a.Up() && b.Up() })

	r.Stop()
	waitFor(t, 5*time.Second, "A down", func() bool { return !pa.up.Load() })
	start := time.Now()
	for i := 0; i < 20000; i++ {
		a.Publish(message{Kind: kindSaved, Tenant: "t", Type: "flow", ID: strconv.Itoa(i), Version: "1"})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("20000 publishes took %v with Redis down: Publish must not block", d)
	}
	waitFor(t, 5*time.Second, "not shared counted", func() bool { return pa.notShare.Load() >= 20000-DefaultBusQueue })
	if n := len(a.queue); n > DefaultBusQueue {
		t.Fatalf("queue holds %d", n)
	}

	t.Logf("outage publishes counted after %v", time.Since(start))
	r.Start()
	t.Logf("redis back after %v", time.Since(start))
	waitFor(t, 10*time.Second, "both buses up again", func() bool { return a.Up() && b.Up() && pa.up.Load() && pb.up.Load() })
	t.Logf("up again after %v", time.Since(start))
	// Let the queue drain what the outage left, then a new message arrives.
	waitFor(t, 10*time.Second, "delivery after Redis came back", func() bool {
		a.Publish(message{Kind: kindEvent, Channel: "c", Name: "after"})
		time.Sleep(20 * time.Millisecond)
		for _, m := range pb.messages() {
			if m.Name == "after" {
				return true
			}
		}
		return false
	})
}

// received reports whether p got the event named name.
func (p *busProbe) received(name string) bool {
	for _, m := range p.messages() {
		if m.Name == name {
			return true
		}
	}
	return false
}

// Redis restarts (stopped, or killed) several times, for longer than the
// buses' MaxBackoff: each time, once both buses report Up, ONE event B
// publishes must reach A. Up must mean subscribed: before the fix, the
// sender's first PUBLISH that worked again reported the bus up while its
// receiver still waited out its backoff (MaxBackoff here: 3 s), and what B
// sent in that window reached no one (TestDrillRedisRestart: A's
// subscribers got nothing more while both instances said cluster_up 1).
func TestBusUpMeansSubscribedAfterRedisRestart(t *testing.T) {
	r := testredis.Start(t)
	o := busOptions{HeartbeatInterval: 20 * time.Millisecond, MinBackoff: 1500 * time.Millisecond, MaxBackoff: 3 * time.Second}
	a, pa := newTestBus(t, r.URL(), o)
	b, _ := newTestBus(t, r.URL(), o)
	waitFor(t, 10*time.Second, "both buses up", func() bool { return a.Up() && b.Up() })
	for cycle := range 4 {
		if cycle%2 == 0 {
			r.Stop()
		} else {
			r.Kill()
		}
		waitFor(t, 5*time.Second, "both buses down", func() bool { return !a.Up() && !b.Up() && !pa.up.Load() })
		time.Sleep(1500 * time.Millisecond) // the receivers' backoff grows past the outage
		r.Start()
		waitFor(t, 20*time.Second, "both buses up again", func() bool { return a.Up() && b.Up() && pa.up.Load() })
		name := fmt.Sprint("after restart ", cycle)
		b.Publish(message{Kind: kindEvent, Channel: "c", Name: name})
		deadline := time.Now().Add(2 * time.Second)
		for !pa.received(name) {
			if time.Now().After(deadline) {
				t.Fatalf("restart %d: both buses said they were up, but A did not receive B's event", cycle)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// What B publishes while Redis is down is counted as not shared, never as
// sent, and never reaches A: before the fix the sender held what queued up
// behind a PUBLISH hanging in go-redis's retries (and let the next batch
// through on a stale "retry now"), then sent it to the restarted, empty
// Redis — counted as sent, before A had subscribed again.
func TestBusOutagePublishesAreNotShared(t *testing.T) {
	r := testredis.Start(t)
	o := busOptions{HeartbeatInterval: 20 * time.Millisecond}
	a, pa := newTestBus(t, r.URL(), o)
	b, pb := newTestBus(t, r.URL(), o)
	waitFor(t, 10*time.Second, "both buses up", func() bool { return a.Up() && b.Up() })
	b.Publish(message{Kind: kindEvent, Channel: "c", Name: "before"})
	waitFor(t, 5*time.Second, "A receives before the outage", func() bool { return pa.received("before") })

	// A may receive an event before B's sender has counted it sent (the
	// count follows PUBLISH's answer): each count is waited for.
	counted := int64(1) // "before"
	for cycle := range 3 {
		waitFor(t, 5*time.Second, "B counts its last event", func() bool { return pb.outEvents.Load() >= counted })
		outBefore, notSharedBefore := pb.outEvents.Load(), pb.notShare.Load()
		r.Stop()
		const n = 60
		for i := range n {
			b.Publish(message{Kind: kindEvent, Channel: "c", Name: fmt.Sprint("during ", cycle, " ", i)})
			time.Sleep(5 * time.Millisecond)
		}
		r.Start() // back while a PUBLISH may still be on its way
		waitFor(t, 20*time.Second, "both buses up again", func() bool { return a.Up() && b.Up() })
		name := fmt.Sprint("after ", cycle)
		b.Publish(message{Kind: kindEvent, Channel: "c", Name: name})
		waitFor(t, 5*time.Second, "A receives after the outage", func() bool { return pa.received(name) })
		counted = outBefore + 1
		waitFor(t, 5*time.Second, "B counts the event after the outage", func() bool { return pb.outEvents.Load() >= counted })

		if sent := pb.outEvents.Load() - outBefore - 1; sent != 0 {
			t.Errorf("restart %d: %d of the %d events published while Redis was down were counted as sent", cycle, sent, n)
		}
		if ns := pb.notShare.Load() - notSharedBefore; ns < n {
			t.Errorf("restart %d: %d not shared, want at least the %d events published while Redis was down", cycle, ns, n)
		}
		for _, m := range pa.messages() {
			if strings.HasPrefix(m.Name, "during ") {
				t.Fatalf("restart %d: A received %q, published while Redis was down", cycle, m.Name)
			}
		}
	}
}
