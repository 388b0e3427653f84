package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/pusher"
)

// wiringApp is the upstream of TestHTTPAPIAndAuthUpstreamWiring: it notes
// the paths it gets and answers /broadcasting/auth as Laravel's redis
// broadcaster does (true for a session cookie, 403 without).
type wiringApp struct {
	mu    sync.Mutex
	paths []string
}

func (a *wiringApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.paths = append(a.paths, r.Method+" "+r.URL.Path)
	a.mu.Unlock()
	if r.URL.Path == "/broadcasting/auth" {
		if _, err := r.Cookie("laravel_session"); err != nil {
			http.Error(w, `{"message":"Unauthenticated."}`, http.StatusForbidden)
			return
		}
		io.WriteString(w, "true")
		return
	}
	io.WriteString(w, "upstream")
}

func (a *wiringApp) got(path string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, p := range a.paths {
		if p == path {
			n++
		}
	}
	return n
}

// TestHTTPAPIAndAuthUpstreamWiring runs the real Caddy: the Pusher HTTP API
// at /apps/{app_id}/... is the module's (401 unsigned, 200 signed, 403 with
// an empty tenant), /apps/other/... reaches the upstream, and auth_upstream
// asks the app back through Caddy for a subscription without auth.
func TestHTTPAPIAndAuthUpstreamWiring(t *testing.T) {
	app := &wiringApp{}
	up := httptest.NewServer(app)
	defer up.Close()
	base := startTestCaddy(t, fmt.Sprintf(`
		recordsync {
			name wiring
			tenant {http.request.cookie.tenant}
			app_id 42
			app_key wkey
			app_secret wsecret
			auth_upstream /broadcasting/auth
			auth_upstream_concurrency 2
		}
		reverse_proxy %s`, up.Listener.Addr()))
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(path, body string, cookie bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if cookie {
			req.Header.Set("Cookie", "tenant=t1")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	body := `{"name":"e","channel":"c","data":"{}"}`
	if code, b := post("/apps/42/events", body, true); code != http.StatusUnauthorized || !json.Valid([]byte(b)) {
		t.Fatalf("unsigned: %d %s", code, b)
	}
	if code, b := post(signedPath("/apps/42/events", body), body, true); code != http.StatusOK || strings.TrimSpace(b) != "{}" {
		t.Fatalf("signed: %d %s", code, b)
	}
	if code, b := post(signedPath("/apps/42/events", body), body, false); code != http.StatusForbidden {
		t.Fatalf("no tenant: %d %s", code, b)
	}
	if code, b := post("/apps/other/events", body, true); code != http.StatusOK || b != "upstream" {
		t.Fatalf("/apps/other: %d %s", code, b)
	}
	if app.got("POST /apps/42/events") != 0 || app.got("POST /apps/other/events") != 1 {
		t.Fatalf("upstream paths %v", app.paths)
	}

	// auth_upstream: the hub asks /broadcasting/auth through Caddy with the
	// socket's cookies.
	subscribe := func(cookie string) map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/app/wkey",
			&websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {cookie}}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		if _, _, err := ws.Read(ctx); err != nil { // connection_established
			t.Fatal(err)
		}
		ws.Write(ctx, websocket.MessageText, []byte(`{"event":"pusher:subscribe","data":{"channel":"private-record.flow.1"}}`))
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var f map[string]any
		json.Unmarshal(b, &f)
		return f
	}
	if f := subscribe("tenant=t1; laravel_session=abc"); f["event"] != "pusher_internal:subscription_succeeded" {
		t.Fatalf("with a session: %v", f)
	}
	f := subscribe("tenant=t1")
	if f["event"] != "pusher:subscription_error" || !strings.Contains(fmt.Sprint(f["data"]), "403") {
		t.Fatalf("without a session: %v", f)
	}
	if n := app.got("POST /broadcasting/auth"); n != 2 {
		t.Fatalf("the app was asked %d times, want 2", n)
	}
}

// signedPath signs a Pusher HTTP API request (wkey/wsecret) for body.
func signedPath(path, body string) string {
	return path + "?" + pusher.SignAPIRequest("POST", path, nil, []byte(body), "wkey", "wsecret", time.Now())
}

func TestUnmarshalCaddyfileAuthUpstream(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`recordsync {
		auth_upstream /broadcasting/auth
		auth_upstream_url http://127.0.0.1:8080
		auth_upstream_ttl 1m
		auth_upstream_concurrency 4
		auth_upstream_timeout 5s
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if au := h.AuthUpstream; au.Path != "/broadcasting/auth" || au.URL != "http://127.0.0.1:8080" ||
		time.Duration(au.TTL) != time.Minute || au.Concurrency != 4 || time.Duration(au.Timeout) != 5*time.Second {
		t.Fatalf("parsed %+v", h)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"recordsync {\n\tauth_upstream broadcasting/auth\n}",
		"recordsync {\n\tauth_upstream_concurrency 0\n}",
		"recordsync {\n\tauth_upstream_ttl soon\n}",
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	if err := (&Handler{AuthUpstream: AuthUpstreamConfig{TTL: 1}}).Validate(); err == nil {
		t.Error("auth_upstream_ttl without auth_upstream: no error")
	}
}
