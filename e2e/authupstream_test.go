package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// dialWithCookies opens a Pusher socket on the Caddy at port for host (the
// tenant) carrying the session cookies of cl, as a browser page's socket
// would.
func dialWithCookies(t testing.TB, port int, host string, cl *laravelClient) *wsClient {
	t.Helper()
	var cookies []string
	if cl != nil {
		u, _ := url.Parse(cl.Base)
		for _, ck := range cl.HTTP.Jar.Cookies(u) {
			cookies = append(cookies, ck.Name+"="+ck.Value)
		}
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsURL := fmt.Sprintf("ws://%s:%d/ws/app/%s?protocol=7&client=js&version=8.6.0", host, port, testAppKey)
	hdr := http.Header{}
	if len(cookies) > 0 {
		hdr.Set("Cookie", strings.Join(cookies, "; "))
	}
	conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: hdr})
	if err != nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	c := &wsClient{t: t, conn: conn}
	f := c.read(10 * time.Second)
	var est struct {
		SocketID string `json:"socket_id"`
	}
	if f.Event != "pusher:connection_established" || json.Unmarshal([]byte(f.dataString()), &est) != nil {
		t.Fatalf("first frame %+v", f)
	}
	c.SocketID = est.SocketID
	return c
}

// subscribeNoAuth subscribes without auth and returns the answer frame.
func (c *wsClient) subscribeNoAuth(channel string) frame {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": channel}})
	return c.read(15 * time.Second)
}

// TestAuthUpstreamLaravel: with auth_upstream, a socket that
// subscribes without auth is authorised by recordsync asking the real
// example app's /broadcasting/auth (routes/channels.php) with the socket's
// own session cookie, back through Caddy: Alice gets flow 2 and the
// presence channel (channel_data from the app), Carol is refused flow 2
// with the app's 403, a socket without a session is refused; a second
// socket of Alice's session is answered from the cache; the session cookie
// never reaches the log.
func TestAuthUpstreamLaravel(t *testing.T) {
	_, spy, c := startRSLaravel(t, map[string]string{
		"BROADCAST_DRIVER": "redis",
		"REDIS_HOST":       "127.0.0.1",
		"REDIS_PORT":       fmt.Sprint(freePort(t)), // nobody listens: auth never connects
	}, rsOptions{Extra: "auth_upstream /broadcasting/auth\n\t\tauth_upstream_concurrency 4"})
	alice := loginAs(t, c, "a.localhost", "alice@example.com")
	carol := loginAs(t, c, "a.localhost", "carol@example.com")

	wa := dialWithCookies(t, c.HTTPPort, "a.localhost", alice)
	if f := wa.subscribeNoAuth("private-record.flow.2"); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("alice flow 2: %+v\n%s", f, c.Log())
	}
	f := wa.subscribeNoAuth("presence-record.flow.1")
	if f.Event != "pusher_internal:subscription_succeeded" || !strings.Contains(f.dataString(), `"hash":{"1":{"id":1,"name":"Alice"}}`) {
		t.Fatalf("alice presence: %+v", f)
	}

	wc := dialWithCookies(t, c.HTTPPort, "a.localhost", carol)
	f = wc.subscribeNoAuth("private-record.flow.2")
	if f.Event != "pusher:subscription_error" || !strings.Contains(f.dataString(), `"status":403`) || !strings.Contains(f.dataString(), "AuthError") {
		t.Fatalf("carol flow 2: %+v", f)
	}
	if f := wc.subscribeNoAuth("private-record.flow.1"); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("carol flow 1: %+v", f)
	}

	anon := dialWithCookies(t, c.HTTPPort, "a.localhost", nil)
	if f := anon.subscribeNoAuth("private-record.flow.1"); f.Event != "pusher:subscription_error" {
		t.Fatalf("anonymous: %+v", f)
	}

	// Another tab of Alice's session (the same cookies): from the cache.
	before := spy.Count("POST", "/broadcasting/auth")
	wa2 := dialWithCookies(t, c.HTTPPort, "a.localhost", alice)
	if f := wa2.subscribeNoAuth("private-record.flow.2"); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("alice's second tab: %+v", f)
	}
	if n := spy.Count("POST", "/broadcasting/auth"); n != before {
		t.Fatalf("the app was asked again (%d → %d) for a cached grant", before, n)
	}
	if ck := alice.Cookie("laravel_session"); ck == "" || strings.Contains(c.Log(), ck) {
		t.Fatal("the session cookie is in Caddy's log (or missing)")
	}
}
