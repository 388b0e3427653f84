package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// siteBlock is a site serving upstream with a recordsync block without
// name: the hub on, the same credentials for every site.
func siteBlock(address, upstream string, extra ...string) string {
	return fmt.Sprintf(`%s {
	recordsync {
		record flow /api/v1/flows/{id}
		app_id %s
		app_key %s
		app_secret %s
		%s
	}
	reverse_proxy %s
}
`, address, testAppID, testAppKey, testAppSecret, strings.Join(extra, "\n\t\t"), upstream)
}

// dialPusherAs opens a Pusher socket on Caddy's port with the Host header
// host and returns it with its first frame (pusher:connection_established,
// or the pusher:error of a refusal).
func dialPusherAs(t *testing.T, c *caddyProc, host string) (*wsClient, frame) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := fmt.Sprintf("ws://127.0.0.1:%d/ws/app/%s?protocol=7&client=js&version=8.6.0", c.HTTPPort, testAppKey)
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Host: host})
	if err != nil {
		t.Fatalf("dial as %s: %v", host, err)
	}
	cl := &wsClient{t: t, conn: conn}
	t.Cleanup(func() { conn.CloseNow() })
	f := cl.read(10 * time.Second)
	if f.Event == "pusher:connection_established" {
		var est struct {
			SocketID string `json:"socket_id"`
		}
		json.Unmarshal([]byte(f.dataString()), &est)
		cl.SocketID = est.SocketID
	}
	return cl, f
}

// requestAs sends a request to Caddy with the Host header host, as the
// caller "Bearer token-u", and returns the status and the response headers.
func requestAs(t *testing.T, c *caddyProc, host, method, path, body string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, c.URL()+path, strings.NewReader(body))
	req.Host = host
	req.Header.Set("Authorization", "Bearer token-u")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestSitesIsolatedByDefault: one Caddy serves two sites, each with its
// own app and a recordsync block without name (the same settings, the
// same websocket credentials). They are two apps: a save on site A is
// broadcast to A's subscribers only and is not learned on site B, whose
// version polls answer B's own version.
func TestSitesIsolatedByDefault(t *testing.T) {
	appA := startFakeApp(t, testAppKey, testAppSecret)
	appB := startFakeApp(t, testAppKey, testAppSecret)
	c := startCaddy(t, siteBlock("http://a.test:{PORT}", appA.Addr())+siteBlock("http://b.test:{PORT}", appB.Addr()))

	subscribe := func(host string) *wsClient {
		t.Helper()
		cl, f := dialPusherAs(t, c, host)
		if f.Event != "pusher:connection_established" {
			t.Fatalf("socket on %s: %+v", host, f)
		}
		if f := cl.subscribePrivate("private-record.flow.1", testAppKey, testAppSecret); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("subscribe on %s: %+v", host, f)
		}
		return cl
	}
	onA, onB := streamEvents(subscribe("a.test")), streamEvents(subscribe("b.test"))
	expectEvent := func(s *eventStream, what string) {
		t.Helper()
		if f, ok := s.nextEvent(10 * time.Second); !ok || f.Event != "record.updated" {
			t.Errorf("%s: %+v, want record.updated", what, f)
		}
	}
	expectNone := func(s *eventStream, what string) {
		t.Helper()
		if f, ok := s.nextEvent(time.Second); ok {
			t.Errorf("%s: got %s %s %s", what, f.Event, f.Channel, f.dataString())
		}
	}

	// The caller reads record 1 on B: B learns its version, and that the
	// caller may read it.
	status, h := requestAs(t, c, "b.test", http.MethodGet, "/api/v1/flows/1", "")
	vB := h.Get("ETag")
	if status != http.StatusOK || vB == "" {
		t.Fatalf("GET on B: %d, ETag %q", status, vB)
	}

	// A save on A (the fake app's versions are instants: A's is later).
	status, h = requestAs(t, c, "a.test", http.MethodPut, "/api/v1/flows/1", `{"name":"saved on A"}`)
	vA := h.Get("ETag")
	if status != http.StatusOK || vA == "" || vA == vB {
		t.Fatalf("PUT on A: %d, ETag %q (B's %q)", status, vA, vB)
	}
	expectEvent(onA, "A's subscriber after a save on A")
	expectNone(onB, "B's subscriber after a save on A")

	// B's poll answers B's version from B's cache, not A's.
	status, h = requestAs(t, c, "b.test", http.MethodGet, "/api/v1/records/flow/1/version", "")
	if status != http.StatusOK || h.Get("ETag") != vB || h.Get("X-Recordsync-Cache") != "hit" {
		t.Errorf("poll on B: %d, ETag %q, cache %q; want 200, B's %s, hit (A's is %s)",
			status, h.Get("ETag"), h.Get("X-Recordsync-Cache"), vB, vA)
	}
	// A write on B that loaded B's version reaches B's app.
	status, h = requestAs(t, c, "b.test", http.MethodPut, "/api/v1/flows/1",
		fmt.Sprintf(`{"name":"saved on B","client_version":%s}`, vB))
	if status != http.StatusOK {
		t.Errorf("current write on B: %d (cache %q), want 200 from B's app", status, h.Get("X-Recordsync-Cache"))
	}
	expectEvent(onB, "B's subscriber after a save on B")
	expectNone(onA, "A's subscriber after a save on B")
}

// TestSitesShareByName: two sites with the same name share one state (a
// save on A reaches B's subscribers), and two sites with the same name but
// other credentials are refused at load, naming both sites and the
// setting, not its values.
func TestSitesShareByName(t *testing.T) {
	app := startFakeApp(t, testAppKey, testAppSecret)
	c := startCaddy(t, siteBlock("http://a.test:{PORT}", app.Addr(), "name shop")+siteBlock("http://b.test:{PORT}", app.Addr(), "name shop"))
	onB, f := dialPusherAs(t, c, "b.test")
	if f.Event != "pusher:connection_established" {
		t.Fatalf("socket on B: %+v", f)
	}
	if f := onB.subscribePrivate("private-record.flow.1", testAppKey, testAppSecret); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("subscribe on B: %+v", f)
	}
	if status, _ := requestAs(t, c, "a.test", http.MethodPut, "/api/v1/flows/1", `{"name":"saved on A"}`); status != http.StatusOK {
		t.Fatalf("PUT on A: %d", status)
	}
	if f, err := onB.tryRead(10 * time.Second); err != nil || f.Event != "record.updated" {
		t.Fatalf("B's subscriber, sharing A's state by name: %+v, %v", f, err)
	}

	conflicting := siteBlock("http://a.test:8080", "127.0.0.1:9", "name shop") +
		strings.Replace(siteBlock("http://b.test:8080", "127.0.0.1:9", "name shop"), testAppSecret, "other-secret", 1)
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(conflicting), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(caddyBin, "validate", "--config", path, "--adapter", "caddyfile").CombinedOutput()
	msg := strings.ReplaceAll(string(out), `\"`, `"`)
	if err == nil || !strings.Contains(msg, `site "http://a.test:8080"`) || !strings.Contains(msg, `site "http://b.test:8080"`) ||
		!strings.Contains(msg, "websocket.app_secret") {
		t.Fatalf("same name, other secrets: %v\n%s", err, out)
	}
	if strings.Contains(msg, "other-secret") || strings.Contains(msg, testAppSecret) {
		t.Fatalf("the error shows a secret:\n%s", out)
	}
}

// TestHostTenantSpellings: with tenant {host}, the spellings of one host
// (case, a trailing dot, a port) are one tenant: they count once against
// max_connections_per_tenant, and a save through one reaches the
// subscribers that came through another.
func TestHostTenantSpellings(t *testing.T) {
	app := startFakeApp(t, testAppKey, testAppSecret)
	c := startCaddy(t, siteBlock(":{PORT}", app.Addr(), "tenant {host}", "max_connections_per_tenant 1"))

	sub, f := dialPusherAs(t, c, "shop.example.test")
	if f.Event != "pusher:connection_established" {
		t.Fatalf("first socket: %+v", f)
	}
	if f := sub.subscribePrivate("private-record.flow.1", testAppKey, testAppSecret); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("subscribe: %+v", f)
	}
	// The tenant's second socket, spelled otherwise, is over its quota.
	if _, f := dialPusherAs(t, c, "SHOP.Example.Test."); f.Event != "pusher:error" || !strings.Contains(f.dataString(), "4004") {
		t.Errorf("second socket of the tenant as SHOP.Example.Test.: %s %s, want pusher:error 4004", f.Event, f.dataString())
	}
	// Another host is another tenant.
	if _, f := dialPusherAs(t, c, "other.example.test"); f.Event != "pusher:connection_established" {
		t.Errorf("another tenant's socket: %s %s", f.Event, f.dataString())
	}

	status, _ := requestAs(t, c, fmt.Sprintf("Shop.EXAMPLE.test.:%d", c.HTTPPort), http.MethodPut, "/api/v1/flows/1", `{"name":"x"}`)
	if status != http.StatusOK {
		t.Fatalf("PUT: %d", status)
	}
	f, err := sub.tryRead(10 * time.Second)
	if err != nil || f.Event != "record.updated" || !strings.Contains(f.dataString(), `"tenant_id":"shop.example.test"`) {
		t.Fatalf("subscriber after a save through another spelling: %+v %s, %v", f, f.dataString(), err)
	}
}
