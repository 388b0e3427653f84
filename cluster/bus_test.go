package cluster

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// busRedis is a redis-server on a fixed loopback port that a test can stop
// and start again (the bus must recover by itself).
type busRedis struct {
	tb   testing.TB
	bin  string
	dir  string
	port int

	mu  sync.Mutex // guards cmd
	cmd *exec.Cmd
}

// startBusRedis runs redis-server on a free port; a missing redis-server
// fails the test (clustering cannot be tested without it).
func startBusRedis(tb testing.TB) *busRedis {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatal("redis-server not found: the cluster tests need it (apt-get install redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &busRedis{tb: tb, bin: bin, dir: tb.TempDir(), port: port}
	r.start()
	tb.Cleanup(r.stop)
	return r
}

func (r *busRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *busRedis) start() {
	r.tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--protected-mode", "no")
	if err := cmd.Start(); err != nil {
		r.tb.Fatal(err)
	}
	r.cmd = cmd
	waitFor(r.tb, 10*time.Second, "redis-server up", func() bool {
		c, err := net.Dial("tcp", fmt.Sprint("127.0.0.1:", r.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (r *busRedis) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

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
	mu       sync.Mutex
	msgs     []Message
	gone     []string
	shares   int
	notShare atomic.Int64
	up       atomic.Bool
}

func (p *busProbe) Message(string, string) {}
func (p *busProbe) NotShared()             { p.notShare.Add(1) }
func (p *busProbe) Up(up bool)             { p.up.Store(up) }

func (p *busProbe) messages() []Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Message(nil), p.msgs...)
}

func (p *busProbe) options(o BusOptions) BusOptions {
	o.Handler = func(m Message) { p.mu.Lock(); p.msgs = append(p.msgs, m); p.mu.Unlock() }
	o.Share = func() { p.mu.Lock(); p.shares++; p.mu.Unlock() }
	o.InstanceGone = func(id string) { p.mu.Lock(); p.gone = append(p.gone, id); p.mu.Unlock() }
	o.Observer = p
	if o.MinBackoff == 0 {
		o.MinBackoff, o.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	}
	return o
}

// newTestBus joins the cluster "t" on url.
func newTestBus(tb testing.TB, url string, o BusOptions) (*Bus, *busProbe) {
	tb.Helper()
	c, err := New(Options{URL: url, Name: "t"})
	if err != nil {
		tb.Fatal(err)
	}
	p := &busProbe{}
	b := NewBus(c, p.options(o))
	tb.Cleanup(func() { b.Close(); _ = c.Close() })
	return b, p
}

func TestBusDeliversToOtherInstancesOnly(t *testing.T) {
	r := startBusRedis(t)
	a, pa := newTestBus(t, r.url(), BusOptions{})
	b, pb := newTestBus(t, r.url(), BusOptions{})
	waitFor(t, 5*time.Second, "both buses up", func() bool { return a.Up() && b.Up() })

	a.Publish(Message{Kind: KindEvent, Tenant: "t1", Channel: "private-x", Name: "e", Data: `{"a":"é\u0000"}`, ExceptSocket: "1.2"})
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
	r := startBusRedis(t)
	a, pa := newTestBus(t, r.url(), BusOptions{HeartbeatInterval: 20 * time.Millisecond, InstanceTimeout: 300 * time.Millisecond})
	waitFor(t, 5*time.Second, "A up", a.Up)

	// A ghost instance says it is alive once, then falls silent (killed).
	cl := redis.NewClient(&redis.Options{Addr: fmt.Sprint("127.0.0.1:", r.port)})
	defer cl.Close()
	cl.Publish(context.Background(), "recordsync:t:events", `{"kind":"hb","instance":"ghost"}`)
	cl.Publish(context.Background(), "recordsync:t:events", `{"kind":"nonsense","instance":"ghost2"}`)
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
	b, _ := newTestBus(t, r.url(), BusOptions{HeartbeatInterval: 20 * time.Millisecond})
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
	r := startBusRedis(t)
	a, pa := newTestBus(t, r.url(), BusOptions{HeartbeatInterval: 50 * time.Millisecond})
	b, pb := newTestBus(t, r.url(), BusOptions{HeartbeatInterval: 50 * time.Millisecond})
	waitFor(t, 5*time.Second, "both buses up", func() bool { return a.Up() && b.Up() })

	r.stop()
	waitFor(t, 5*time.Second, "A down", func() bool { return !pa.up.Load() })
	start := time.Now()
	for i := 0; i < 20000; i++ {
		a.Publish(Message{Kind: KindVersion, Tenant: "t", Type: "flow", ID: strconv.Itoa(i), Version: "1"})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("20000 publishes took %v with Redis down: Publish must not block", d)
	}
	waitFor(t, 5*time.Second, "not shared counted", func() bool { return pa.notShare.Load() >= 20000-DefaultBusQueue })
	if n := len(a.queue); n > DefaultBusQueue {
		t.Fatalf("queue holds %d", n)
	}

	t.Logf("outage publishes counted after %v", time.Since(start))
	r.start()
	t.Logf("redis back after %v", time.Since(start))
	waitFor(t, 10*time.Second, "both buses up again", func() bool { return a.Up() && b.Up() && pa.up.Load() && pb.up.Load() })
	t.Logf("up again after %v", time.Since(start))
	// Let the queue drain what the outage left, then a new message arrives.
	waitFor(t, 10*time.Second, "delivery after Redis came back", func() bool {
		a.Publish(Message{Kind: KindEvent, Channel: "c", Name: "after"})
		time.Sleep(20 * time.Millisecond)
		for _, m := range pb.messages() {
			if m.Name == "after" {
				return true
			}
		}
		return false
	})
}
