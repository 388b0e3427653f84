package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/internal/tcpqueue"
)

// TestDrillSlowConsumers: N subscribers on one channel through the real
// Caddy, 1% of them never read (the target at full size: 1% of 5,000
// subscribers stop reading → they are dropped, healthy p99 within 1.2×,
// memory bounded).
//
// Two phases publish the same stream through the Pusher HTTP API: A with
// the healthy subscribers only (the baseline), B with the silent ones
// subscribed too. Asserted: every healthy subscriber receives every event of
// both phases exactly once and in order; every silent one is disconnected
// (queue overflow 4100, or the write timeout; its connection closed) within
// a bound; Caddy's RSS during B
// stays under a generous cap proportional to the send queue. The healthy
// p99 of B over A is logged (the 1.2× target is bench/'s to prove) and only
// a gross regression fails.
//
// Loopback TCP buffers ~3 MB per socket before a server write blocks, far
// more than the stream: the silent sockets are first filled through a
// channel only they subscribe to, until Caddy's side of each socket has a
// send queue that no longer grows (read from /proc/net/tcp). The measured
// stream then meets sockets whose writer is blocked, as a frozen tab's would be.
func TestDrillSlowConsumers(t *testing.T) {
	n := drillSize(1000, 5000)
	slow := n / 100
	healthy := n - slow
	events := drillSize(200, 600)
	if drillRace && !drillSoak() {
		events = 120 // still well over send_queue once the kernel buffers are full
	}
	queue := drillSize(64, 256) // send_queue; 256 is the default
	gap := drillDuration(20*time.Millisecond, 60*time.Millisecond)
	drillCheckFiles(t, n+100)
	testStart := time.Now()

	app := startFakeApp(t, testAppKey, testAppSecret)
	c := startCaddy(t, fmt.Sprintf(`:{PORT} {
	recordsync {
		tenant {http.request.host}
		record flow /api/v1/flows/{id}
		app_id %s
		app_key %s
		app_secret %s
		send_queue %d
	}
	reverse_proxy %s
}
`, testAppID, testAppKey, testAppSecret, queue, app.Addr()))
	host := fmt.Sprintf("127.0.0.1:%d", c.HTTPPort)
	wsPath := "/ws/app/" + testAppKey + "?protocol=7&client=js&version=8.6.0"
	rssStart := drillRSS(t, c)

	// The healthy subscribers, each with a reader that records the latency
	// of every event by its sequence number.
	subs := make([]*drillSub, healthy)
	var readers sync.WaitGroup
	for i := range subs {
		cl := dialPusher(t, "ws://"+host+wsPath)
		cl.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": "drill-fanout"}})
		if f := cl.read(10 * time.Second); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("subscriber %d: %+v", i, f)
		}
		subs[i] = &drillSub{conn: cl.conn, lat: make([]time.Duration, 2*events)}
		readers.Add(1)
		go subs[i].readLoop(&readers)
	}
	t.Cleanup(func() {
		for _, s := range subs {
			s.conn.CloseNow()
		}
		readers.Wait()
	})
	rssConnected := drillRSS(t, c)
	t.Logf("%v: %d healthy subscribers: caddy RSS %d MB → %d MB (%.1f KB per socket)",
		time.Since(testStart).Round(time.Millisecond), healthy, rssStart>>20, rssConnected>>20, float64(rssConnected-rssStart)/1024/float64(healthy))

	api := &http.Client{Timeout: 10 * time.Second}
	publishBatch := func(channel string, seq, count, pad int) {
		t.Helper()
		evs := make([]string, count)
		for i := range evs {
			data := fmt.Sprintf(`{"s":%d,"t":%d,"p":%q}`, seq+i, time.Now().UnixNano(), strings.Repeat("x", pad))
			evs[i] = fmt.Sprintf(`{"name":"drill","channel":%q,"data":%q}`, channel, data)
		}
		path, body := "/apps/"+testAppID+"/events", evs[0]
		if count > 1 {
			path, body = "/apps/"+testAppID+"/batch_events", `{"batch":[`+strings.Join(evs, ",")+`]}`
		}
		resp, err := api.Do(drillAPIRequest(t, http.MethodPost, "http://"+host, path, testAppKey, testAppSecret, []byte(body)))
		if err != nil {
			t.Fatalf("publish %d: %v", seq, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("publish %d: status %d", seq, resp.StatusCode)
		}
	}
	publish := func(channel string, seq, pad int) { publishBatch(channel, seq, 1, pad) }
	var rssMax atomic.Int64
	stream := func(from int) {
		t.Helper()
		next := time.Now()
		for seq := from; seq < from+events; seq++ {
			publish("drill-fanout", seq, 1000)
			if rss := drillRSS(t, c); rss > rssMax.Load() {
				rssMax.Store(rss)
			}
			next = next.Add(gap)
			time.Sleep(time.Until(next))
		}
	}
	awaitHealthy := func(want int64, phase string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for _, s := range subs {
			for s.got.Load() < want && s.failed.Load() == nil && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}
		bad := 0
		for i, s := range subs {
			if err := s.err(); err != nil || s.got.Load() != want {
				if bad++; bad <= 5 {
					t.Errorf("%s: healthy subscriber %d received %d of %d events (error: %v)", phase, i, s.got.Load(), want, err)
				}
			}
		}
		if bad > 0 {
			t.Fatalf("%s: %d of %d healthy subscribers missed events", phase, bad, healthy)
		}
	}
	p99 := func(from, to int) (p50, p99, max time.Duration) {
		all := make([]time.Duration, 0, healthy*(to-from))
		for _, s := range subs {
			all = append(all, s.lat[from:to]...)
		}
		slices.Sort(all)
		return drillPercentile(all, 50), drillPercentile(all, 99), all[len(all)-1]
	}

	// Phase A: the baseline, healthy subscribers only.
	stream(0)
	awaitHealthy(int64(events), "phase A")
	a50, a99, aMax := p99(0, events)
	rssA := drillRSS(t, c)
	t.Logf("%v: phase A done", time.Since(testStart).Round(time.Millisecond))

	// Phase B: the silent subscribers join, their buffers are filled, the
	// same stream runs again.
	before := drillMetrics(t, c)
	silents := make([]*silentWS, slow)
	for i := range silents {
		s, err := dialSilent(c.HTTPPort, host, wsPath)
		if err != nil {
			t.Fatalf("silent subscriber %d: %v", i, err)
		}
		t.Cleanup(s.close)
		for _, ch := range []string{"drill-fanout", "drill-preload"} {
			if err := s.send(`{"event":"pusher:subscribe","data":{"channel":"` + ch + `"}}`); err != nil {
				t.Fatalf("silent subscriber %d: %v", i, err)
			}
		}
		silents[i] = s
	}
	if v, ok := drillWaitMetric(t, c, "recordsync_ws_subscriptions", 20*time.Second, func(v float64) bool { return v == float64(healthy+2*slow) }); !ok {
		t.Fatalf("subscriptions: %v, want %d", v, healthy+2*slow)
	}
	// Preload in batches of 6 events (48 KB, under the HTTP API's 64 KB)
	// while every silent socket's send queue still grows, then
	// one at a time until each has stayed the same for three publishes.
	t.Logf("%v: silent subscribers in", time.Since(testStart).Round(time.Millisecond))
	preloads, step := 0, 6
	stable := make([]int, slow)
	last := make([]int64, slow)
	for full := 0; full < slow; preloads += step {
		if preloads >= 2000 {
			t.Fatalf("the silent sockets' send queues kept growing after %d preload events (last %v)", preloads, last)
		}
		publishBatch("drill-preload", preloads, step, 8000)
		time.Sleep(10 * time.Millisecond)
		tx := drillTxQueues(t, c.HTTPPort)
		full = 0
		grew := true
		for i, s := range silents {
			q := tx[s.conn.LocalAddr().(*net.TCPAddr).Port]
			if q <= last[i] {
				grew = false
			}
			if q > 0 && q == last[i] {
				stable[i]++
			} else {
				stable[i] = 0
			}
			last[i] = q
			if stable[i] >= 3 {
				full++
			}
		}
		if !grew {
			step = 1
		}
	}
	if d := drillMetrics(t, c)["recordsync_slow_consumer_disconnects_total"] - before["recordsync_slow_consumer_disconnects_total"]; d != 0 {
		t.Logf("note: %v silent sockets overflowed during the preload already", d)
	}
	t.Logf("%v: preload: %d events of 8 KB until Caddy's send queues stopped growing (%v bytes)", time.Since(testStart).Round(time.Millisecond), preloads, last)
	rssMax.Store(0)
	streamStart := time.Now()
	stream(events)
	streamEnd := time.Now()
	awaitHealthy(int64(2*events), "phase B")
	b50, b99, bMax := p99(events, 2*events)

	// Every silent subscriber is dropped: counted as a slow consumer, its
	// socket closed by the server.
	if v, ok := drillWaitMetric(t, c, "recordsync_ws_connections", 45*time.Second, func(v float64) bool { return v == float64(healthy) }); !ok {
		t.Errorf("open sockets %v 45 s after the stream, want %d (the silent ones dropped)", v, healthy)
	}
	dropped := time.Since(streamEnd)
	after := drillMetrics(t, c)
	// Dropped either by the queue overflowing (4100, counted) or, when the
	// stream is slower than the writer's WriteTimeout (a loaded machine),
	// by that timeout first (not counted as a slow consumer).
	overflowed := after["recordsync_slow_consumer_disconnects_total"] - before["recordsync_slow_consumer_disconnects_total"]
	if overflowed > float64(slow) {
		t.Errorf("slow consumer disconnects: %v, more than the %d silent subscribers", overflowed, slow)
	}
	codes := map[int]int{}
	for i, s := range silents {
		frames, code, err := s.drain(30 * time.Second)
		if err != nil {
			t.Errorf("silent subscriber %d: %v", i, err)
		}
		if code != 0 && code != 4100 {
			t.Errorf("silent subscriber %d: closed with %d, want 4100 or a closed connection", i, code)
		}
		if frames >= 3+preloads+events {
			t.Errorf("silent subscriber %d: got all %d frames, it was never slow", i, frames)
		}
		codes[code]++
	}

	ratio := float64(b99) / float64(a99)
	t.Logf("healthy latency over %d×%d deliveries per phase: baseline p50 %v p99 %v max %v; with %d silent: p50 %v p99 %v max %v; p99 ratio %.2f (target 1.2, bench/ proves it)",
		healthy, events, a50, a99, aMax, slow, b50, b99, bMax, ratio)
	t.Logf("silent subscribers: all %d dropped within %v of the stream's end (stream took %v), %v of them counted as slow consumers (queue overflow, 4100), the rest by the write timeout; close codes seen %v (0 = connection closed without a close frame, the writer was stuck)",
		slow, dropped.Round(100*time.Millisecond), streamEnd.Sub(streamStart).Round(100*time.Millisecond), overflowed, codes)
	if ratio > 3 && b99-a99 > 100*time.Millisecond {
		t.Errorf("healthy p99 with silent subscribers %v is %.1f× the baseline %v", b99, ratio, a99)
	}
	// Memory: the silent sockets may hold at most queue frames each (a few
	// KB); the cap is generous for GC slack.
	capBytes := rssA + 100<<20 + int64(slow*queue*16<<10)
	t.Logf("caddy RSS: after phase A %d MB, max during phase B %d MB (cap %d MB)", rssA>>20, rssMax.Load()>>20, capBytes>>20)
	if rssMax.Load() > capBytes {
		t.Errorf("caddy RSS reached %d MB during phase B, over the cap %d MB", rssMax.Load()>>20, capBytes>>20)
	}
	drillAlive(t, c)
}

// drillSub is a healthy subscriber: its reader records, per event sequence
// number, the time from publish to receipt.
type drillSub struct {
	conn   *websocket.Conn
	lat    []time.Duration // by sequence number; written by readLoop before got
	got    atomic.Int64    // events received in order
	failed atomic.Pointer[error]
}

func (s *drillSub) err() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *drillSub) readLoop(wg *sync.WaitGroup) {
	defer wg.Done()
	fail := func(err error) { s.failed.CompareAndSwap(nil, &err) }
	for {
		_, b, err := s.conn.Read(context.Background())
		now := time.Now().UnixNano()
		if err != nil {
			if s.got.Load() < int64(len(s.lat)) {
				fail(err)
			}
			return
		}
		if !bytes.Contains(b, []byte(`"event":"drill"`)) {
			if bytes.Contains(b, []byte(`"event":"pusher:ping"`)) {
				// As pusher-js does; a socket that never answers is closed (4201).
				if err := s.conn.Write(context.Background(), websocket.MessageText, []byte(`{"event":"pusher:pong","data":{}}`)); err != nil {
					fail(err)
				}
			}
			continue
		}
		seq, ok1 := drillIntAfter(b, `\"s\":`)
		sent, ok2 := drillIntAfter(b, `\"t\":`)
		if !ok1 || !ok2 {
			fail(fmt.Errorf("event %.200q", b))
			continue
		}
		if want := s.got.Load(); seq != want {
			fail(fmt.Errorf("event %d, want %d", seq, want))
			continue
		}
		if int(seq) < len(s.lat) {
			s.lat[seq] = time.Duration(now - sent)
		}
		s.got.Add(1)
	}
}

// drillIntAfter parses the integer right after the first key in b.
func drillIntAfter(b []byte, key string) (int64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := b[i+len(key):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	v, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return v, err == nil
}

// drillTxQueues reads, for every TCP socket whose local port is port (the
// server's side of its connections), the bytes in its send queue, by the
// peer's port, from /proc/net/tcp and /proc/net/tcp6.
func drillTxQueues(t testing.TB, port int) map[int]int64 {
	t.Helper()
	q, err := tcpqueue.SendQueues(port)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
