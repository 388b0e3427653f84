package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/pusher"
)

// hostileSite: tenant from the host, the hub on with a small channel limit
// and a 1 s activity timeout (silent sockets are pinged after 1 s, closed
// 4201 after the 30 s pong timeout).
func hostileSite(upstream string) string {
	return fmt.Sprintf(`:{PORT} {
	recordsync {
		tenant {http.request.host}
		record flow /api/v1/flows/{id}
		app_id %s
		app_key %s
		app_secret %s
		max_channels_per_connection 10
		activity_timeout 1s
	}
	reverse_proxy %s
}
`, testAppID, testAppKey, testAppSecret, upstream)
}

// hostileApp is the fake app with a redis-broadcaster style
// /broadcasting/auth (answers `true`, unsigned: recordsync signs it for an
// open socket of the request's tenant only) that remembers a hash of every
// body it received, to prove bodies reach it byte for byte.
type hostileApp struct {
	*fakeApp
	mu     sync.Mutex // guards bodies
	bodies map[string]int
}

func (a *hostileApp) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sum := sha256.Sum256(body)
	a.mu.Lock()
	a.bodies[hex.EncodeToString(sum[:])]++
	a.mu.Unlock()
	if r.URL.Path == "/broadcasting/auth" {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "true")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	a.fakeApp.serve(w, r)
}

func (a *hostileApp) received(body []byte) bool {
	sum := sha256.Sum256(body)
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bodies[hex.EncodeToString(sum[:])] > 0
}

// TestDrillHostileClient: a hostile client against the real Caddy (the
// target: malformed frames and HTTP bodies from a hostile client;
// cross-tenant and forged-signature attempts counted, all refused). Every
// case is answered with the code realtime/doc.go and the README document; the
// HTTP refusals are counted in Caddy's metrics
// (recordsync_http_api_requests_total and, with the `metrics` global option,
// caddy_http_request_duration_seconds by code); afterwards a normal client is
// served, and Caddy's goroutines come back to their baseline and its RSS
// stays near it once the hostile sockets are gone.
//
// Refusals inside an open websocket (pusher:error 4200, subscription_error
// 401/400/429) are counted in recordsync_ws_refused_total{reason}, and a
// cross-tenant /broadcasting/auth grant answered 403 in
// recordsync_auth_signatures_total{result="refused"}.
func TestDrillHostileClient(t *testing.T) {
	// Mostly waiting (for the server to close half-open sockets, for
	// heartbeats): runs beside the other waiting tests.
	t.Parallel()
	app := &hostileApp{fakeApp: &fakeApp{key: testAppKey, secret: testAppSecret, records: map[string]*fakeRecord{}}, bodies: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(app.serve))
	t.Cleanup(srv.Close)

	c := startCaddyGlobal(t, "metrics", hostileSite(srv.Listener.Addr().String()))
	base := fmt.Sprintf("ws://127.0.0.1:%d/ws/app/%s?protocol=7&client=js&version=8.6.0", c.HTTPPort, testAppKey)
	httpBase := c.URL()

	// Baseline: one normal client, then Caddy's goroutines and RSS.
	warm := dialPusher(t, base)
	warm.close()
	time.Sleep(500 * time.Millisecond)
	m0 := drillMetrics(t, c)
	rss0 := drillRSS(t, c)

	// Half-open sockets: upgraded, then silent for the whole drill.
	const halfOpen = 20
	silents := make([]*silentWS, halfOpen)
	for i := range silents {
		s, err := dialSilent(c.HTTPPort, fmt.Sprintf("127.0.0.1:%d", c.HTTPPort), "/ws/app/"+testAppKey+"?protocol=7")
		if err != nil {
			t.Fatalf("half-open socket %d: %v", i, err)
		}
		t.Cleanup(s.close)
		silents[i] = s
	}
	halfOpenSince := time.Now()

	t.Run("frames", func(t *testing.T) {
		h := dialPusher(t, base)
		defer h.close()
		ctx := context.Background()
		wantError := func(what string, code int) {
			t.Helper()
			f := hostileNext(t, h)
			var e struct {
				Code int `json:"code"`
			}
			json.Unmarshal([]byte(f.dataString()), &e)
			if f.Event != "pusher:error" || e.Code != code {
				t.Errorf("%s: %+v, want pusher:error %d", what, f, code)
			}
		}
		h.conn.Write(ctx, websocket.MessageBinary, []byte{0, 1, 2, 0xff})
		wantError("binary message", 4200)
		h.conn.Write(ctx, websocket.MessageText, []byte(`{"event":"pusher:subscribe","data":`))
		wantError("invalid JSON", 4200)
		h.conn.Write(ctx, websocket.MessageText, []byte(`{"event":"pusher:hack","data":{}}`))
		wantError("unknown pusher event", 4200)
		h.conn.Write(ctx, websocket.MessageText, []byte(`{"event":"whatever","data":{}}`))
		wantError("unknown event", 4200)
		big := `{"event":"pusher:ping","data":{"x":"` + strings.Repeat("a", 100<<10) + `"}}`
		h.conn.Write(ctx, websocket.MessageText, []byte(big))
		wantError("100 KB message (over max_message_size)", 4200)

		// Subscribe flood beyond max_channels_per_connection (10).
		for i := 0; i < 50; i++ {
			h.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": fmt.Sprintf("flood-%d", i)}})
		}
		ok, limited := 0, 0
		for i := 0; i < 50; i++ {
			f := hostileNext(t, h)
			switch {
			case f.Event == "pusher_internal:subscription_succeeded":
				ok++
			case f.Event == "pusher:subscription_error" && strings.Contains(f.dataString(), `"status":429`):
				limited++
			default:
				t.Errorf("flood answer %d: %+v", i, f)
			}
		}
		if ok != 10 || limited != 40 {
			t.Errorf("subscribe flood: %d subscribed, %d refused 429; want 10 and 40", ok, limited)
		}
		// The socket is still up: a ping is answered.
		h.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
		if f := hostileNext(t, h); f.Event != "pusher:pong" {
			t.Errorf("ping after the bad frames: %+v", f)
		}
	})

	t.Run("channel names and signatures", func(t *testing.T) {
		h := dialPusher(t, base)
		defer h.close()
		for _, name := range []string{"has space", "slash/x", "ünïcode", "quote\"", strings.Repeat("a", 201)} {
			h.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": name}})
			if f := hostileNext(t, h); f.Event != "pusher:subscription_error" || !strings.Contains(f.dataString(), `"status":400`) {
				t.Errorf("channel %.20q: %+v, want subscription_error 400", name, f)
			}
		}
		other := dialPusher(t, base)
		defer other.close()
		forged := map[string]string{
			"no auth":             "",
			"garbage":             testAppKey + ":deadbeef",
			"wrong key":           "other-key:" + hostileSign(testAppSecret, h.SocketID, "private-record.flow.1"),
			"wrong secret":        testAppKey + ":" + hostileSign("guessed", h.SocketID, "private-record.flow.1"),
			"other socket's auth": testAppKey + ":" + hostileSign(testAppSecret, other.SocketID, "private-record.flow.1"),
			"other channel's":     testAppKey + ":" + hostileSign(testAppSecret, h.SocketID, "private-record.flow.2"),
		}
		for what, auth := range forged {
			h.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": "private-record.flow.1", "auth": auth}})
			if f := hostileNext(t, h); f.Event != "pusher:subscription_error" || !strings.Contains(f.dataString(), `"status":401`) {
				t.Errorf("forged subscribe (%s): %+v, want subscription_error 401", what, f)
			}
		}
	})

	t.Run("1 MB message", func(t *testing.T) {
		h := dialPusher(t, base)
		defer h.close()
		h.conn.Write(context.Background(), websocket.MessageText, bytes.Repeat([]byte("a"), 1<<20))
		var err error
		for err == nil {
			_, err = h.tryRead(10 * time.Second)
		}
		if code := websocket.CloseStatus(err); code != websocket.StatusMessageTooBig {
			t.Errorf("1 MB message: %v, want close 1009", err)
		}
	})

	t.Run("10k pings", func(t *testing.T) {
		h := dialPusher(t, base)
		defer h.close()
		const pings = 10000
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			msg := []byte(`{"event":"pusher:ping","data":{}}`)
			for i := 0; i < pings; i++ {
				if err := h.conn.Write(ctx, websocket.MessageText, msg); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		pongs := 0
		var err error
		for pongs < pings {
			var f frame
			if f, err = h.tryRead(20 * time.Second); err != nil {
				break
			}
			if f.Event == "pusher:pong" {
				pongs++
			}
		}
		werr := <-done
		// Either every ping is answered, or the client that cannot keep up
		// with its own pongs is a slow consumer (4100).
		if pongs != pings && websocket.CloseStatus(err) != 4100 {
			t.Errorf("10k pings: %d pongs, read %v, write %v; want all or a 4100 close", pongs, err, werr)
		}
		t.Logf("10k rapid pings: %d pongs (close: %v)", pongs, websocket.CloseStatus(err))
	})

	t.Run("HTTP bodies", func(t *testing.T) {
		// Learn flow 1 and authorise the caller.
		const auth = "Bearer hostile"
		resp := get(t, httpBase+"/api/v1/flows/1", "Authorization", auth)
		resp.Body.Close()
		current := "2026-01-01T00:00:00.000000Z"
		send := func(what string, body []byte, headers ...string) int {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPut, httpBase+"/api/v1/flows/1", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", auth)
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Errorf("%s: status %d", what, resp.StatusCode)
			}
			if v := strings.Trim(resp.Header.Get("ETag"), `"`); resp.StatusCode == 200 && v != "" {
				current = v
			}
			return resp.StatusCode
		}
		rssBefore := drillRSS(t, c)

		// 10 MB PUT: over max_body_size, passes unchecked, byte for byte.
		huge := []byte(fmt.Sprintf(`{"name":"%s","client_version":%q}`, strings.Repeat("h", 10<<20), current))
		send("10 MB PUT", huge)
		if !app.received(huge) {
			t.Error("10 MB PUT: the app did not receive the body byte for byte")
		}
		// A gzip bomb: 100 MB of JSON whitespace in ~100 KB; never
		// decompressed by recordsync, passed through as sent.
		// Built as 100 gzip members of 1 MB each (one stream to any gzip
		// reader), so the test does not deflate 100 MB itself.
		member := func(b []byte) []byte {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			zw.Write(b)
			zw.Close()
			return buf.Bytes()
		}
		spaces := bytes.Repeat([]byte(" "), 1<<20)
		var bomb bytes.Buffer
		bomb.Write(member([]byte(`{"client_version":"2020-01-01T00:00:00Z","x":"`)))
		middle := member(spaces)
		for i := 0; i < 100; i++ {
			bomb.Write(middle)
		}
		bomb.Write(member([]byte(`"}`)))
		send("gzip bomb", bomb.Bytes(), "Content-Encoding", "gzip")
		if !app.received(bomb.Bytes()) {
			t.Error("gzip bomb: the app did not receive the compressed body as sent")
		}
		// Invalid UTF-8 in the JSON, with a current version.
		bad := []byte(fmt.Sprintf("{\"name\":\"\xff\xfe\xfd\",\"client_version\":%q}", current))
		if st := send("invalid UTF-8 JSON", bad); st != 409 && !app.received(bad) {
			t.Errorf("invalid UTF-8 JSON: %d and not passed to the app", st)
		}
		// Deeply nested JSON (200,000 levels) under max_body_size.
		nested := []byte(fmt.Sprintf(`{"client_version":%q,"a":%s%s}`, current, strings.Repeat("[", 200000), strings.Repeat("]", 200000)))
		if st := send("deeply nested JSON", nested); st != 409 && !app.received(nested) {
			t.Errorf("deeply nested JSON: %d and not passed to the app", st)
		}
		// A stale write with a nested body is still refused from the cache.
		stale := []byte(fmt.Sprintf(`{"client_version":"2020-01-01T00:00:00.000000Z","a":%s%s}`, strings.Repeat("[", 200000), strings.Repeat("]", 200000)))
		if st := send("stale nested write", stale); st != http.StatusConflict {
			t.Errorf("stale write with a nested body: %d, want 409", st)
		}
		rssAfter := drillRSS(t, c)
		t.Logf("HTTP bodies: caddy RSS %d MB → %d MB", rssBefore>>20, rssAfter>>20)
		if rssAfter-rssBefore > 80<<20 {
			t.Errorf("caddy RSS grew %d MB on hostile bodies (the gzip bomb was decompressed?)", (rssAfter-rssBefore)>>20)
		}
		drillAlive(t, c)
	})

	t.Run("HTTP API", func(t *testing.T) {
		body := []byte(`{"name":"x","channel":"public","data":"{}"}`)
		cases := []struct {
			what string
			req  func() *http.Request
			want int
		}{
			{"unsigned", func() *http.Request {
				r, _ := http.NewRequest(http.MethodPost, httpBase+"/apps/"+testAppID+"/events", bytes.NewReader(body))
				return r
			}, 401},
			{"forged signature", func() *http.Request {
				return drillAPIRequest(t, http.MethodPost, httpBase, "/apps/"+testAppID+"/events", testAppKey, "guessed-secret", body)
			}, 401},
			{"wrong key", func() *http.Request {
				return drillAPIRequest(t, http.MethodPost, httpBase, "/apps/"+testAppID+"/events", "other-key", testAppSecret, body)
			}, 401},
			{"body swapped after signing", func() *http.Request {
				r := drillAPIRequest(t, http.MethodPost, httpBase, "/apps/"+testAppID+"/events", testAppKey, testAppSecret, body)
				swapped := bytes.Replace(body, []byte("public"), []byte("privat"), 1)
				r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(swapped)), int64(len(swapped))
				return r
			}, 401},
			{"10 MB body", func() *http.Request {
				return drillAPIRequest(t, http.MethodPost, httpBase, "/apps/"+testAppID+"/events", testAppKey, testAppSecret, bytes.Repeat([]byte("a"), 10<<20))
			}, 413},
			{"malformed JSON", func() *http.Request {
				return drillAPIRequest(t, http.MethodPost, httpBase, "/apps/"+testAppID+"/events", testAppKey, testAppSecret, []byte(`{"name":`))
			}, 400},
		}
		for _, tc := range cases {
			resp, err := http.DefaultClient.Do(tc.req())
			if err != nil {
				t.Errorf("%s: %v", tc.what, err)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s: status %d, want %d", tc.what, resp.StatusCode, tc.want)
			}
		}
	})

	t.Run("upgrades", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "http"+base[len("ws"):], nil)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Sec-WebSocket-Key", "ZHJpbGwtc2lsZW50LWtleQ==")
		req.Header.Set("Sec-WebSocket-Version", "13")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("foreign Origin: %d, want 403", resp.StatusCode)
		}
		resp = get(t, "http"+base[len("ws"):])
		resp.Body.Close()
		if resp.StatusCode != http.StatusUpgradeRequired {
			t.Errorf("plain GET of the websocket path: %d, want 426", resp.StatusCode)
		}
	})

	t.Run("cross-tenant", func(t *testing.T) {
		// 127.0.0.1 and localhost are two tenants.
		mine := dialTenant(t, c.HTTPPort, "127.0.0.1")
		theirs := dialTenant(t, c.HTTPPort, "localhost")
		for _, s := range []*wsClient{mine, theirs} {
			if f := hostileSubscribe(t, s, "private-record.flow.7"); f.Event != "pusher_internal:subscription_succeeded" {
				t.Fatalf("subscribe: %+v", f)
			}
		}
		theirEvents := streamEvents(theirs)

		// /broadcasting/auth for localhost's socket, asked through 127.0.0.1:
		// the app's grant is answered 403 and never signed.
		authFor := func(host, socketID string) string {
			form := url.Values{"socket_id": {socketID}, "channel_name": {"private-record.flow.8"}}
			req, _ := http.NewRequest(http.MethodPost, httpBase+"/broadcasting/auth", strings.NewReader(form.Encode()))
			req.Host = host
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		if got := authFor(fmt.Sprintf("localhost:%d", c.HTTPPort), theirs.SocketID); !strings.Contains(got, `"auth"`) {
			t.Errorf("same-tenant auth answer %q, want it signed", got)
		}
		if got := authFor(fmt.Sprintf("127.0.0.1:%d", c.HTTPPort), theirs.SocketID); strings.Contains(got, `"auth"`) {
			t.Errorf("cross-tenant auth answer %q, want recordsync's 403", got)
		} else if !strings.Contains(got, "Forbidden") {
			t.Errorf("cross-tenant auth answer %q, want recordsync's 403", got)
		}

		// A write and an HTTP API publish in 127.0.0.1 never reach localhost;
		// localhost's next event is its own write.
		status, _, err := drillPut(c, 7, `{"name":"tenant A"}`)
		if err != nil || status != 200 {
			t.Fatalf("PUT in 127.0.0.1: %d %v", status, err)
		}
		resp, err := http.DefaultClient.Do(drillAPIRequest(t, http.MethodPost, httpBase, "/apps/"+testAppID+"/events", testAppKey, testAppSecret,
			[]byte(`{"name":"record.updated","channel":"private-record.flow.7","data":"{\"forged\":true}"}`)))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("HTTP API publish in 127.0.0.1: %v %v", resp, err)
		}
		resp.Body.Close()
		req, _ := http.NewRequest(http.MethodPut, httpBase+"/api/v1/flows/7", strings.NewReader(`{"name":"tenant B"}`))
		req.Host = fmt.Sprintf("localhost:%d", c.HTTPPort)
		req.Header.Set("Content-Type", "application/json")
		resp, err = http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("PUT in localhost: %v %v", resp, err)
		}
		resp.Body.Close()
		if f, ok := theirEvents.nextEvent(10 * time.Second); !ok || !strings.Contains(f.dataString(), `"tenant_id":"localhost"`) {
			t.Errorf("localhost's next event: %+v (ok %v), want its own write's (none of 127.0.0.1's)", f, ok)
		}
	})

	// The hostile clients leave; the half-open ones are closed by the
	// server (pinged after activity_timeout, 4201 after the pong timeout).
	for i, s := range silents {
		frames, code, err := s.drain(max(time.Until(halfOpenSince.Add(45*time.Second)), 15*time.Second))
		if err != nil || (code != 4201 && code != 0) {
			t.Errorf("half-open socket %d: close %d after %d frames (%v), want 4201", i, code, frames, err)
		}
	}

	// A normal client is served.
	normal := dialPusher(t, base)
	defer normal.close()
	if f := hostileSubscribe(t, normal, "private-record.flow.1"); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("normal client after the drill: %+v", f)
	}
	status, _, err := drillPut(c, 1, `{"name":"normal"}`)
	if err != nil || status != 200 {
		t.Fatalf("normal PUT after the drill: %d %v", status, err)
	}
	if f := hostileNext(t, normal); f.Event != "record.updated" {
		t.Errorf("normal client after the drill: %+v", f)
	}
	normal.close()

	// Counted: the HTTP refusals, by code.
	m1 := drillMetrics(t, c)
	for _, code := range []string{"401", "413", "400"} {
		k := `recordsync_http_api_requests_total{code="` + code + `"}`
		if m1[k]-m0[k] <= 0 {
			t.Errorf("%s did not move", k)
		}
	}
	for _, code := range []string{"401", "403", "413", "426"} {
		if d := hostileSum(m1, code) - hostileSum(m0, code); d <= 0 {
			t.Errorf("caddy_http_request_duration_seconds_count{code=%q,handler=\"recordsync\"} did not move", code)
		}
	}
	// Counted: the refusals inside sockets, by reason (at least the forged
	// signatures, malformed messages, bad channel names and the channel
	// limit sent above), and the cross-tenant auth answer left unsigned.
	refused := func(reason string) float64 {
		k := `recordsync_ws_refused_total{reason="` + reason + `"}`
		return m1[k] - m0[k]
	}
	for reason, least := range map[string]float64{"signature": 5, "message": 5, "channel": 1, "limit": 1} {
		if got := refused(reason); got < least {
			t.Errorf(`recordsync_ws_refused_total{reason=%q} moved by %v, want at least %v`, reason, got, least)
		}
	}
	if k := `recordsync_auth_signatures_total{result="refused"}`; m1[k]-m0[k] < 1 {
		t.Errorf("%s did not move (the cross-tenant auth answer)", k)
	}
	t.Logf("counted: HTTP API 401 %v, 413 %v, 400 %v; Caddy handler answers 401 %v, 403 %v, 413 %v, 426 %v; in sockets: signature %v, message %v, channel %v, limit %v, connection %v; cross-tenant auth unsigned %v",
		m1[`recordsync_http_api_requests_total{code="401"}`], m1[`recordsync_http_api_requests_total{code="413"}`], m1[`recordsync_http_api_requests_total{code="400"}`],
		hostileSum(m1, "401"), hostileSum(m1, "403"), hostileSum(m1, "413"), hostileSum(m1, "426"),
		refused("signature"), refused("message"), refused("channel"), refused("limit"), refused("connection"),
		m1[`recordsync_auth_signatures_total{result="refused"}`]-m0[`recordsync_auth_signatures_total{result="refused"}`])

	// Back near the baseline once the hostile sockets are gone.
	g0 := m0["go_goroutines"]
	g, ok := drillWaitMetric(t, c, "go_goroutines", 30*time.Second, func(v float64) bool { return v <= g0+10 })
	if !ok {
		t.Errorf("caddy goroutines %v, baseline %v", g, g0)
	}
	if v := drillMetrics(t, c)["recordsync_ws_connections"]; v != 0 {
		t.Errorf("open sockets after the drill: %v, want 0", v)
	}
	rss := drillRSS(t, c)
	t.Logf("caddy after the drill: goroutines %v (baseline %v), RSS %d MB (baseline %d MB)", g, g0, rss>>20, rss0>>20)
	if rss > rss0+150<<20 {
		t.Errorf("caddy RSS %d MB, baseline %d MB", rss>>20, rss0>>20)
	}
	drillAlive(t, c)
}

// hostileNext reads the next frame that is not the server's keep-alive
// ping (answered as pusher-js does).
func hostileNext(t testing.TB, c *wsClient) frame {
	t.Helper()
	for {
		f := c.read(10 * time.Second)
		if f.Event == "pusher:ping" {
			c.send(map[string]any{"event": "pusher:pong", "data": map[string]any{}})
			continue
		}
		return f
	}
}

// hostileSubscribe is subscribePrivate with the app's key and secret whose
// answer is read with hostileNext: with the 1 s activity timeout a ping can
// come first.
func hostileSubscribe(t testing.TB, c *wsClient, channel string) frame {
	t.Helper()
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": channel, "auth": pusher.ChannelAuth(testAppKey, testAppSecret, c.SocketID, channel, ""),
	}})
	return hostileNext(t, c)
}

// hostileSign is the hex signature alone (the part after "key:").
func hostileSign(secret, socketID, channel string) string {
	_, sig, _ := strings.Cut(pusher.ChannelAuth("", secret, socketID, channel, ""), ":")
	return sig
}

// hostileSum adds Caddy's handler request counts of recordsync for code.
func hostileSum(m map[string]float64, code string) float64 {
	var sum float64
	for k, v := range m {
		if strings.HasPrefix(k, "caddy_http_request_duration_seconds_count{") && strings.Contains(k, `code="`+code+`"`) && strings.Contains(k, `handler="recordsync"`) {
			sum += v
		}
	}
	return sum
}
