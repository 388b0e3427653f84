package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// drillUpstream is the fake app behind a listener the test can close and
// open again on the same address, with ways to fail: answer writes 500,
// hang up mid-answer, or hold writes of one path until released.
type drillUpstream struct {
	t    testing.TB
	app  *fakeApp
	addr string

	mode atomic.Int32 // upstreamNormal, upstreamFail500, upstreamHangUp

	holdMu   sync.Mutex // guards holdPath, holdGate, arrived
	holdPath string
	holdGate chan struct{}
	arrived  chan struct{}

	mu  sync.Mutex // guards srv
	srv *http.Server
}

const (
	upstreamNormal int32 = iota
	upstreamFail500
	upstreamHangUp
)

func startDrillUpstream(t testing.TB) *drillUpstream {
	t.Helper()
	u := &drillUpstream{t: t, app: &fakeApp{key: testAppKey, secret: testAppSecret, records: map[string]*fakeRecord{}}}
	u.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	u.Start()
	t.Cleanup(u.Stop)
	return u
}

// Start opens the listener (again) and serves.
func (u *drillUpstream) Start() {
	u.t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.srv != nil {
		return
	}
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment after Stop
		if l, err = net.Listen("tcp", u.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		u.t.Fatalf("upstream listen %s: %v", u.addr, err)
	}
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve)}
	go u.srv.Serve(l)
}

// Stop closes the listener and every connection: the app is down.
func (u *drillUpstream) Stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.srv != nil {
		u.srv.Close()
		u.srv = nil
	}
}

// Hold makes the next writes to path wait until the returned release is
// called; arrived is closed when the first of them reaches the app.
func (u *drillUpstream) Hold(path string) (arrived <-chan struct{}, release func()) {
	u.holdMu.Lock()
	defer u.holdMu.Unlock()
	u.holdPath, u.holdGate, u.arrived = path, make(chan struct{}), make(chan struct{})
	gate := u.holdGate
	var once sync.Once
	return u.arrived, func() { once.Do(func() { close(gate) }) }
}

func (u *drillUpstream) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut || r.Method == http.MethodPatch {
		switch u.mode.Load() {
		case upstreamFail500:
			http.Error(w, `{"success":false,"message":"Server Error"}`, http.StatusInternalServerError)
			return
		case upstreamHangUp:
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
		}
		u.holdMu.Lock()
		path, gate, arrived := u.holdPath, u.holdGate, u.arrived
		u.holdMu.Unlock()
		if path != "" && r.URL.Path == path {
			select {
			case <-arrived:
			default:
				close(arrived)
			}
			select {
			case <-gate:
			case <-time.After(30 * time.Second): // never hang the test
			}
		}
	}
	u.app.serve(w, r)
}

// drillUpstreamSite is realtimeSite with a short write_wait.
func drillUpstreamSite(upstream string) string {
	return strings.Replace(realtimeSite(upstream), "import_header X-Import", "import_header X-Import\n\t\twrite_wait 500ms", 1)
}

// drillPut sends a PUT of a flow with a JSON body and returns the status and
// the ETag's version; err is a transport error.
func drillPut(c *caddyProc, id int, body string, headers ...string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/api/v1/flows/%d", c.URL(), id), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	return resp.StatusCode, strings.Trim(resp.Header.Get("ETag"), `"`), nil
}

// TestDrillUpstreamDown: the app stops answering, fails and hangs up mid-
// answer (the target: writes fail cleanly, no broadcast of failed
// writes). Asserted: each failed write gets Caddy's 502 or the
// app's 500 — never a hang, never a 503 from a record turn left held; no
// record.updated is published for any of them (the subscriber's next event
// is the one of the first write that succeeds afterwards); stale writes
// are still answered 409 and version polls 200 from the cache while the app
// is down; Caddy keeps running; with the app back everything works.
func TestDrillUpstreamDown(t *testing.T) {
	up := startDrillUpstream(t)
	c := startCaddy(t, drillUpstreamSite(up.addr))
	wsURL := fmt.Sprintf("ws://127.0.0.1:%d/ws/app/%s?protocol=7&client=js&version=8.6.0", c.HTTPPort, testAppKey)
	sub := dialPusher(t, wsURL)
	defer sub.close()
	if f := sub.subscribePrivate("private-record.flow.1", testAppKey, testAppSecret); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("subscribe: %+v", f)
	}
	events := streamEvents(sub)

	// A first write, learned and broadcast; the poller is authorised.
	const auth = "Bearer drill-poller"
	status, v1, err := drillPut(c, 1, `{"name":"one","client_version":"2026-01-01T00:00:00.000000Z"}`, "Authorization", auth)
	if err != nil || status != 200 {
		t.Fatalf("first PUT: %d %v", status, err)
	}
	if f, ok := events.nextEvent(10 * time.Second); !ok || f.Event != "record.updated" || !strings.Contains(f.dataString(), v1) {
		t.Fatalf("first event: %+v (ok %v), want record.updated %s", f, ok, v1)
	}
	poll := func(when string) {
		t.Helper()
		resp := get(t, c.URL()+"/api/v1/records/flow/1/version", "Authorization", auth)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Recordsync-Cache") != "hit" {
			t.Errorf("poll %s: %d, cache %q; want 200 from the cache", when, resp.StatusCode, resp.Header.Get("X-Recordsync-Cache"))
		}
	}

	failing := []struct {
		name  string
		apply func()
		want  int
	}{
		{"app down", up.Stop, http.StatusBadGateway},
		{"app answers 500", func() { up.Start(); up.mode.Store(upstreamFail500) }, http.StatusInternalServerError},
		{"app hangs up mid-answer", func() { up.mode.Store(upstreamHangUp) }, http.StatusBadGateway},
	}
	before := drillMetrics(t, c)
	for _, f := range failing {
		f.apply()
		// Conditional writes take the record's turn: each must give it back
		// (the next one is not answered 503 after write_wait).
		for i := 0; i < 3; i++ {
			status, _, err := drillPut(c, 1, fmt.Sprintf(`{"name":"%s %d","client_version":%q}`, f.name, i, v1), "Authorization", auth)
			if err != nil || status != f.want {
				t.Errorf("%s: PUT %d answered %d (%v), want %d", f.name, i, status, err, f.want)
			}
		}
		// A stale write is still answered from the cache, polls too.
		status, etag, err := drillPut(c, 1, `{"name":"stale","client_version":"2025-01-01T00:00:00.000000Z"}`, "Authorization", auth)
		if err != nil || status != http.StatusConflict || etag != v1 {
			t.Errorf("%s: stale PUT answered %d %q (%v), want 409 %s from the cache", f.name, status, etag, err, v1)
		}
		poll(f.name)
		drillAlive(t, c)
	}
	after := drillMetrics(t, c)
	if d := after["recordsync_events_published_total"] - before["recordsync_events_published_total"]; d != 0 {
		t.Errorf("%v events published for failed writes", d)
	}
	if d := after["recordsync_write_wait_timeouts_total"] - before["recordsync_write_wait_timeouts_total"]; d != 0 {
		t.Errorf("%v writes timed out waiting for a turn a failed write kept", d)
	}

	// The app is back: writes succeed, and the subscriber's next event is
	// that write's — nothing was broadcast for the failed ones.
	up.mode.Store(upstreamNormal)
	up.Start()
	status, v2, err := drillPut(c, 1, fmt.Sprintf(`{"name":"back","client_version":%q}`, v1), "Authorization", auth)
	if err != nil || status != 200 {
		t.Fatalf("PUT with the app back: %d %v", status, err)
	}
	if f, ok := events.nextEvent(10 * time.Second); !ok || f.Event != "record.updated" || !strings.Contains(f.dataString(), v2) {
		t.Fatalf("next event: %+v (ok %v), want record.updated %s (and none for the failed writes)", f, ok, v2)
	}
	fresh := dialPusher(t, wsURL)
	defer fresh.close()
	if f := fresh.subscribePrivate("private-record.flow.1", testAppKey, testAppSecret); f.Event != "pusher_internal:subscription_succeeded" {
		t.Errorf("new subscriber after the outage: %+v", f)
	}
	drillAlive(t, c)
}

// TestDrillUpstreamSlow: the app takes its time over one record's write
// (held at the app until the test lets it go).
// Asserted, while that write is in flight: a write to another record
// succeeds, a version poll of the slow record is answered from the cache,
// and a second conditional write to the slow record is answered 503 after
// write_wait (500ms here) without reaching the app, counted in
// recordsync_write_wait_timeouts_total. Then the slow write completes 200
// and the record takes writes again. Ordering, not timing: each of those
// answers must arrive before the slow write is released.
func TestDrillUpstreamSlow(t *testing.T) {
	up := startDrillUpstream(t)
	c := startCaddy(t, drillUpstreamSite(up.addr))
	const auth = "Bearer drill-poller"
	first := "2026-01-01T00:00:00.000000Z"
	for _, id := range []int{1, 2} { // learn both records; authorise the poller
		resp := get(t, fmt.Sprintf("%s/api/v1/flows/%d", c.URL(), id), "Authorization", auth)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET flow %d: %d", id, resp.StatusCode)
		}
	}
	before := drillMetrics(t, c)

	arrived, release := up.Hold("/api/v1/flows/1")
	defer release()
	type result struct {
		status  int
		version string
		err     error
	}
	slow := make(chan result, 1)
	go func() {
		s, v, err := drillPut(c, 1, fmt.Sprintf(`{"name":"slow","client_version":%q}`, first), "Authorization", auth)
		slow <- result{s, v, err}
	}()
	select {
	case <-arrived:
	case r := <-slow:
		t.Fatalf("the slow write returned before reaching the app: %+v", r)
	case <-time.After(10 * time.Second):
		t.Fatal("the slow write did not reach the app")
	}
	inFlight := func(what string) {
		t.Helper()
		select {
		case r := <-slow:
			t.Fatalf("%s: the slow write already returned %+v", what, r)
		default:
		}
	}

	status, _, err := drillPut(c, 2, fmt.Sprintf(`{"name":"other","client_version":%q}`, first), "Authorization", auth)
	if err != nil || status != 200 {
		t.Errorf("another record's write during the slow one: %d %v", status, err)
	}
	inFlight("another record's write")

	resp := get(t, c.URL()+"/api/v1/records/flow/1/version", "Authorization", auth)
	var poll struct {
		Data struct {
			UpdatedAt string `json:"updated_at"`
		} `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&poll)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Recordsync-Cache") != "hit" || poll.Data.UpdatedAt != first {
		t.Errorf("poll during the slow write: %d %q %q, want 200 hit %s", resp.StatusCode, resp.Header.Get("X-Recordsync-Cache"), poll.Data.UpdatedAt, first)
	}
	inFlight("the poll")

	up.app.mu.Lock()
	putsBefore := up.app.puts
	up.app.mu.Unlock()
	status, _, err = drillPut(c, 1, fmt.Sprintf(`{"name":"waiter","client_version":%q}`, first), "Authorization", auth)
	if err != nil || status != http.StatusServiceUnavailable {
		t.Errorf("a second write to the slow record: %d %v, want 503 after write_wait", status, err)
	}
	inFlight("the waiter")
	if d := drillMetrics(t, c)["recordsync_write_wait_timeouts_total"] - before["recordsync_write_wait_timeouts_total"]; d != 1 {
		t.Errorf("write_wait timeouts counted: %v, want 1", d)
	}

	release()
	r := <-slow
	if r.err != nil || r.status != 200 {
		t.Fatalf("the slow write: %+v", r)
	}
	up.app.mu.Lock()
	if up.app.puts != putsBefore+1 {
		t.Errorf("the app saw %d writes of the slow record's turn, want 1 (the 503 must not reach it)", up.app.puts-putsBefore)
	}
	up.app.mu.Unlock()
	status, _, err = drillPut(c, 1, fmt.Sprintf(`{"name":"after","client_version":%q}`, r.version), "Authorization", auth)
	if err != nil || status != 200 {
		t.Errorf("a write after the slow one: %d %v", status, err)
	}
	drillAlive(t, c)
}
