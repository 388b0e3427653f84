package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// clusterSub is a subscriber of one record channel that keeps every
// version it receives (record.updated, including "since" catch-ups) and, when
// its instance dies, reconnects to another and resubscribes with since =
// the last version it has, as the browser kit does.
type clusterSub struct {
	channel string
	since   string // the version the page loaded

	mu         sync.Mutex // guards the fields below
	versions   []string
	reconnects int
	firstAfter int // index in versions of the first one received after a reconnect; -1 before
	err        error
}

func (s *clusterSub) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.versions) == 0 {
		return s.since
	}
	return s.versions[len(s.versions)-1]
}

func (s *clusterSub) snapshot() (versions []string, firstAfter, reconnects int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.versions), s.firstAfter, s.reconnects, s.err
}

func (s *clusterSub) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// clusterDial opens a Pusher socket and subscribes to the sub's private
// channel with since; it returns the connection once subscribed.
func (s *clusterSub) dial(wsURL string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		return nil, err
	}
	var socketID string
	for socketID == "" {
		_, b, err := conn.Read(ctx)
		if err != nil {
			conn.CloseNow()
			return nil, err
		}
		var f frame
		json.Unmarshal(b, &f)
		if f.Event == "pusher:connection_established" {
			var est struct {
				SocketID string `json:"socket_id"`
			}
			json.Unmarshal([]byte(f.dataString()), &est)
			socketID = est.SocketID
		}
	}
	sub, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": s.channel, "auth": testAppKey + ":" + hostileSign(testAppSecret, socketID, s.channel), "since": s.last(),
	}})
	if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
		conn.CloseNow()
		return nil, err
	}
	return conn, nil
}

// run reads conn until it fails, then reconnects to the next URL of urls
// (the surviving instances) until stop.
func (s *clusterSub) run(conn *websocket.Conn, urls []string, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	go func() { <-stop; conn.CloseNow() }()
	for {
		_, b, err := conn.Read(context.Background())
		if err != nil {
			select {
			case <-stop:
				return
			default:
			}
			if len(urls) == 0 {
				s.fail(fmt.Errorf("socket closed and no instance left: %w", err))
				return
			}
			next, derr := s.dial(urls[0])
			if derr != nil {
				s.fail(fmt.Errorf("reconnecting: %w", derr))
				return
			}
			urls = urls[1:]
			s.mu.Lock()
			s.reconnects++
			s.firstAfter = len(s.versions)
			s.mu.Unlock()
			conn = next
			go func(c *websocket.Conn) { <-stop; c.CloseNow() }(conn)
			continue
		}
		var f frame
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		switch f.Event {
		case "pusher:ping":
			conn.Write(context.Background(), websocket.MessageText, []byte(`{"event":"pusher:pong","data":{}}`))
		case "pusher:subscription_error":
			s.fail(fmt.Errorf("subscription error %s", f.dataString()))
		case "record.updated":
			var ev struct {
				UpdatedAt string `json:"updated_at_iso"`
			}
			json.Unmarshal([]byte(f.dataString()), &ev)
			s.mu.Lock()
			s.versions = append(s.versions, ev.UpdatedAt)
			s.mu.Unlock()
		}
	}
}

// clusterWriters PUT read-modify-write on flows 1..n through whichever URL
// target() gives, every 20 ms, until stop; each keeps the versions of its
// successful writes in order.
type clusterWriters struct {
	versions [][]string
	current  []string
	failures atomic.Int64
	resets   atomic.Int64
	mu       sync.Mutex // guards failed
	failed   []string
}

func runClusterWriters(n int, target func() string, stop <-chan struct{}, wg *sync.WaitGroup) *clusterWriters {
	w := &clusterWriters{versions: make([][]string, n), current: make([]string, n)}
	hc := &http.Client{Timeout: 30 * time.Second}
	for i := range w.current {
		w.current[i] = "2026-01-01T00:00:00.000000Z"
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				w.put(hc, target(), i, fmt.Sprintf("write %d", k))
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	return w
}

func (w *clusterWriters) put(hc *http.Client, base string, i int, name string) {
	body := fmt.Sprintf(`{"name":%q,"client_version":%q}`, name, w.current[i])
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/api/v1/flows/%d", base, i+1), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		w.failures.Add(1)
		w.mu.Lock()
		w.failed = append(w.failed, err.Error())
		w.mu.Unlock()
		return
	}
	resp.Body.Close()
	v := strings.Trim(resp.Header.Get("ETag"), `"`)
	switch resp.StatusCode {
	case http.StatusOK:
		w.versions[i] = append(w.versions[i], v)
		w.current[i] = v
	case http.StatusConflict:
		w.current[i] = v
	default:
		w.failures.Add(1)
		w.mu.Lock()
		w.failed = append(w.failed, fmt.Sprintf("flow %d: status %d", i+1, resp.StatusCode))
		w.mu.Unlock()
	}
}

// checkNoVersionMissed: the subscriber's versions are in the record's order
// (repeats allowed: a catch-up may meet the event it anticipated); every
// one was written; the newest written is among them; and from the first
// version it received after its last reconnect on, it received every
// version written — the gap before is caught up by that first one, which is
// newer than everything it missed.
func checkNoVersionMissed(t *testing.T, who string, got []string, firstAfter int, written []string) {
	t.Helper()
	pos := make(map[string]int, len(written))
	for i, v := range written {
		pos[v] = i
	}
	prev := -1
	for _, v := range got {
		p, ok := pos[v]
		if !ok {
			t.Errorf("%s: received %s, which no writer saw succeed", who, v)
			return
		}
		if p < prev {
			t.Errorf("%s: received %s after a newer version", who, v)
			return
		}
		prev = p
	}
	if len(written) == 0 {
		return
	}
	if len(got) == 0 || got[len(got)-1] != written[len(written)-1] {
		t.Errorf("%s: last received %v, want the last written %s", who, got[max(0, len(got)-1):], written[len(written)-1])
		return
	}
	if firstAfter < 0 || firstAfter >= len(got) {
		t.Errorf("%s: nothing received after reconnecting", who)
		return
	}
	from := pos[got[firstAfter]]
	after := slices.Compact(slices.Clone(got[firstAfter:]))
	if !slices.Equal(after, written[from:]) {
		t.Errorf("%s: after reconnecting received %d versions, want the %d written from %s on", who, len(after), len(written)-from, got[firstAfter])
	}
}

// TestDrillKillInstance: two Caddy instances on one cluster Redis; the
// subscribers are on A, the writers write through B; A is SIGKILLed
// mid-run (the target: its clients reconnect to another and, with
// since, miss no version). Asserted: every subscriber reconnects
// to B and resubscribes with since = the last version it had; none missed a
// version (see checkNoVersionMissed: the gap is caught up by since, every
// later version arrives, the newest is held, nothing goes backwards); every
// write through B succeeded; B is unharmed.
func TestDrillKillInstance(t *testing.T) {
	n := drillSize(100, 1000)
	const records = 4
	before, after := drillDuration(time.Second, 5*time.Second), drillDuration(2*time.Second, 10*time.Second)
	drillCheckFiles(t, 2*n+50)

	redisAddr, _, _ := startRedis(t)
	app := startFakeApp(t, testAppKey, testAppSecret)
	a := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	b := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	clusterUp(t, a)
	clusterUp(t, b)

	stop := make(chan struct{})
	var readers sync.WaitGroup
	subs := make([]*clusterSub, n)
	for i := range subs {
		subs[i] = &clusterSub{channel: fmt.Sprintf("private-record.flow.%d", i%records+1), since: "2026-01-01T00:00:00.000000Z", firstAfter: -1}
		conn, err := subs[i].dial(clusterWS(a))
		if err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		readers.Add(1)
		go subs[i].run(conn, []string{clusterWS(b)}, stop, &readers)
	}
	// Every subscription is in before the writes start.
	if v, ok := drillWaitMetric(t, a, "recordsync_ws_subscriptions", 10*time.Second, func(v float64) bool { return v == float64(n) }); !ok {
		t.Fatalf("subscriptions on A: %v, want %d", v, n)
	}
	t.Cleanup(func() { close(stop); readers.Wait() })

	var writersWG sync.WaitGroup
	stopWriters := make(chan struct{})
	writers := runClusterWriters(records, func() string { return b.URL() }, stopWriters, &writersWG)
	time.Sleep(before)
	a.Kill()
	killed := time.Now()
	time.Sleep(after)
	close(stopWriters)
	writersWG.Wait()

	if f := writers.failures.Load(); f > 0 {
		t.Errorf("%d writes through B failed, e.g. %v", f, writers.failed[:min(5, len(writers.failed))])
	}
	deadline := time.Now().Add(30 * time.Second)
	bad, reconnected := 0, 0
	for i, s := range subs {
		want := writers.versions[i%records]
		for s.last() != want[len(want)-1] && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		got, firstAfter, reconnects, err := s.snapshot()
		if err != nil {
			t.Errorf("subscriber %d: %v", i, err)
		}
		if reconnects == 1 {
			reconnected++
		}
		before := t.Failed()
		checkNoVersionMissed(t, fmt.Sprintf("subscriber %d (flow %d)", i, i%records+1), got, firstAfter, want)
		if t.Failed() && !before {
			if bad++; bad >= 5 {
				break
			}
		}
	}
	if reconnected != n {
		t.Errorf("%d of %d subscribers reconnected once", reconnected, n)
	}
	total := 0
	for _, v := range writers.versions {
		total += len(v)
	}
	t.Logf("A killed %v into the run with %d subscribers on it; %d reconnected to B with since; %d writes through B, %d failed; writes went on for %v after the kill",
		before, n, reconnected, total, writers.failures.Load(), time.Since(killed).Round(100*time.Millisecond))
	drillAlive(t, b)
}

// TestDrillRedisRestart: the cluster's Redis stops for a while mid-run and
// starts again (the target: instances keep serving locally, count
// what could not be shared, reconnect with backoff and recover by
// themselves). Subscribers on A and on B, writers through B.
// Asserted: no write fails (conditional writes fall back to local
// serialisation); B's own subscribers receive every version throughout;
// what B could not share is counted; the bus comes back up on both by
// itself; and after it does, A's subscribers receive every later version
// and end on the newest.
func TestDrillRedisRestart(t *testing.T) {
	n := drillSize(50, 500)
	const records = 2
	phase := drillDuration(time.Second, 5*time.Second)
	drillCheckFiles(t, 2*n+50)

	redisAddr, stopRedis, startRedisAgain := startRedis(t)
	app := startFakeApp(t, testAppKey, testAppSecret)
	a := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	b := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	clusterUp(t, a)
	clusterUp(t, b)

	stop := make(chan struct{})
	var readers sync.WaitGroup
	subsA, subsB := make([]*clusterSub, n), make([]*clusterSub, n)
	for i := 0; i < n; i++ {
		for _, side := range []struct {
			subs []*clusterSub
			c    *caddyProc
		}{{subsA, a}, {subsB, b}} {
			s := &clusterSub{channel: fmt.Sprintf("private-record.flow.%d", i%records+1), since: "2026-01-01T00:00:00.000000Z", firstAfter: -1}
			conn, err := s.dial(clusterWS(side.c))
			if err != nil {
				t.Fatalf("subscriber %d: %v", i, err)
			}
			side.subs[i] = s
			readers.Add(1)
			go s.run(conn, nil, stop, &readers)
		}
	}
	for _, c := range []*caddyProc{a, b} {
		if v, ok := drillWaitMetric(t, c, "recordsync_ws_subscriptions", 10*time.Second, func(v float64) bool { return v == float64(n) }); !ok {
			t.Fatalf("subscriptions: %v, want %d", v, n)
		}
	}
	t.Cleanup(func() { close(stop); readers.Wait() })
	m0 := drillMetrics(t, b)

	var writersWG sync.WaitGroup
	stopWriters := make(chan struct{})
	writers := runClusterWriters(records, func() string { return b.URL() }, stopWriters, &writersWG)
	time.Sleep(phase)
	stopRedis()
	time.Sleep(2 * phase)
	startRedisAgain()
	for _, c := range []*caddyProc{a, b} {
		if _, ok := drillWaitMetric(t, c, "recordsync_cluster_up", 30*time.Second, func(v float64) bool { return v == 1 }); !ok {
			t.Fatalf("the cluster bus of :%d did not come back", c.HTTPPort)
		}
	}
	// Versions written from here on (the fake app's versions are the time
	// of the write) must reach A's subscribers again.
	recovered := time.Now().UTC()
	time.Sleep(phase)
	close(stopWriters)
	writersWG.Wait()

	if f := writers.failures.Load(); f > 0 {
		t.Errorf("%d writes failed, e.g. %v", f, writers.failed[:min(5, len(writers.failed))])
	}
	m1 := drillMetrics(t, b)
	mA := drillMetrics(t, a)
	defer func() {
		if !t.Failed() {
			return
		}
		for name, m := range map[string]map[string]float64{"A": mA, "B": m1} {
			var parts []string
			for k, v := range m {
				if strings.HasPrefix(k, "recordsync_cluster_messages") || strings.HasPrefix(k, "recordsync_cluster_up") || strings.HasPrefix(k, "recordsync_cluster_not_shared") {
					parts = append(parts, fmt.Sprintf("%s=%v", k, v))
				}
			}
			slices.Sort(parts)
			t.Logf("%s's cluster metrics after the run: %s", name, strings.Join(parts, " "))
		}
	}()
	if d := m1["recordsync_cluster_not_shared_total"] - m0["recordsync_cluster_not_shared_total"]; d <= 0 {
		t.Errorf("recordsync_cluster_not_shared_total did not move during the outage")
	}
	deadline := time.Now().Add(30 * time.Second)
	minA, maxA := -1, 0
	for i := 0; i < n; i++ {
		want := writers.versions[i%records]
		for _, s := range []*clusterSub{subsA[i], subsB[i]} {
			for s.last() != want[len(want)-1] && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}
		gotB, _, _, errB := subsB[i].snapshot()
		if errB != nil || !slices.Equal(slices.Compact(gotB), want) {
			t.Errorf("B's subscriber %d: %d versions (%v), want all %d written through B", i, len(gotB), errB, len(want))
		}
		gotA, _, _, errA := subsA[i].snapshot()
		if errA != nil || len(gotA) == 0 || gotA[len(gotA)-1] != want[len(want)-1] {
			t.Errorf("A's subscriber %d: %d versions (%v), want to end on the newest %s", i, len(gotA), errA, want[len(want)-1])
		}
		if got := len(slices.Compact(gotA)); minA < 0 || got*records < minA {
			minA = got * records
		}
		maxA = max(maxA, len(slices.Compact(gotA))*records)
		var since []string
		for _, v := range want {
			if at, err := time.Parse("2006-01-02T15:04:05.000000Z", v); err == nil && at.After(recovered) {
				since = append(since, v)
			}
		}
		if len(since) == 0 {
			t.Errorf("no write after the bus came back")
		} else if k := slices.Index(gotA, since[0]); k < 0 || !slices.Equal(slices.Compact(slices.Clone(gotA[k:])), since) {
			t.Errorf("A's subscriber %d: missed versions written after the bus came back (%d of them)", i, len(since))
		}
	}
	total := 0
	for _, v := range writers.versions {
		total += len(v)
	}
	t.Logf("Redis down %v mid-run; %d writes, %d failed; not shared during the outage: %v; A's subscribers received about %d-%d of the %d versions (the rest were written while the bus was down)",
		2*phase, total, writers.failures.Load(), m1["recordsync_cluster_not_shared_total"]-m0["recordsync_cluster_not_shared_total"], minA, maxA, total)
	drillAlive(t, a)
	drillAlive(t, b)
}
