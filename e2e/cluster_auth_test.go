package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// startRedisBroadcasterApp is the fake app with Laravel's redis broadcaster
// behind /broadcasting/auth: every request is granted with an unsigned
// `true` (routes/channels.php said yes), which only recordsync can sign. A
// request with X-Test-Sign is granted signed, as the pusher/reverb drivers
// answer.
func startRedisBroadcasterApp(t *testing.T) (addr string, asked func() int) {
	t.Helper()
	app := startFakeApp(t, testAppKey, testAppSecret)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broadcasting/auth" && r.Method == http.MethodPost {
			n.Add(1)
			w.Header().Set("Content-Type", "application/json")
			if r.Header.Get("X-Test-Sign") != "" {
				auth := pusher.ChannelAuth(testAppKey, testAppSecret, r.PostFormValue("socket_id"), r.PostFormValue("channel_name"), "")
				json.NewEncoder(w).Encode(map[string]string{"auth": auth})
				return
			}
			io.WriteString(w, "true")
			return
		}
		app.serve(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), func() int { return int(n.Load()) }
}

// clusterAuth posts socket_id and channel_name to c's /broadcasting/auth
// with host as the Host (the tenant) and returns the answer; headers are
// added as pairs.
func clusterAuth(t *testing.T, c *caddyProc, host, socketID, channel string, headers ...string) (status int, body string) {
	t.Helper()
	form := url.Values{"socket_id": {socketID}, "channel_name": {channel}}
	req, _ := http.NewRequest(http.MethodPost, c.URL()+"/broadcasting/auth", strings.NewReader(form.Encode()))
	req.Host = host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestClusterAuthSignsForAnotherInstance: behind a load balancer the
// websocket lands on B and Echo's /broadcasting/auth on A. A signs the
// redis broadcaster's `true` for B's socket (the cluster's socket registry
// says it is an open socket of the request's tenant) and B accepts the
// subscription; for a socket of another tenant, or an unknown one, A
// answers 403 in place of the app's grant, signed or not.
func TestClusterAuthSignsForAnotherInstance(t *testing.T) {
	redisAddr, _, _ := startRedis(t)
	appAddr, asked := startRedisBroadcasterApp(t)
	a := startCaddy(t, clusterSite(appAddr, redisAddr))
	b := startCaddy(t, clusterSite(appAddr, redisAddr))
	clusterUp(t, a)
	clusterUp(t, b)
	const channel = "private-record.flow.1"

	// Tenant "127.0.0.1" (the site's tenant is the request host).
	sock := dialPusher(t, clusterWS(b))
	// Cluster-wide unique ids, still pusher-js's "N.N".
	if !pusher.ValidSocketID(sock.SocketID) {
		t.Fatalf("socket id %q", sock.SocketID)
	}
	status, body := clusterAuth(t, a, fmt.Sprintf("127.0.0.1:%d", a.HTTPPort), sock.SocketID, channel)
	var signed struct {
		Auth string `json:"auth"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &signed) != nil || !strings.HasPrefix(signed.Auth, testAppKey+":") {
		t.Fatalf("auth through A for B's socket: %d %q, want it signed\nA:\n%s", status, body, a.Log())
	}
	sock.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": channel, "auth": signed.Auth}})
	if f := sock.read(5 * time.Second); f.Event != "pusher_internal:subscription_succeeded" || f.Channel != channel {
		t.Fatalf("subscribing on B with A's signature: %+v", f)
	}

	// A socket of tenant "localhost" on B, asked for by tenant 127.0.0.1
	// through A: 403, whether the app signed its grant or not.
	theirs := dialPusher(t, fmt.Sprintf("ws://localhost:%d/ws/app/%s?protocol=7&client=js&version=8.4.0", b.HTTPPort, testAppKey))
	if _, body := clusterAuth(t, a, fmt.Sprintf("localhost:%d", a.HTTPPort), theirs.SocketID, channel); !strings.Contains(body, `"auth"`) {
		t.Fatalf("same-tenant auth through A for localhost's socket on B: %q, want it signed", body)
	}
	if status, body := clusterAuth(t, a, fmt.Sprintf("localhost:%d", a.HTTPPort), theirs.SocketID, channel, "X-Test-Sign", "1"); status != 200 || !strings.Contains(body, `"auth"`) {
		t.Fatalf("same-tenant app-signed auth through A for localhost's socket on B: %d %q, want it passed", status, body)
	}
	for _, hdr := range [][]string{nil, {"X-Test-Sign", "1"}} {
		if status, body := clusterAuth(t, a, fmt.Sprintf("127.0.0.1:%d", a.HTTPPort), theirs.SocketID, channel, hdr...); status != 403 || strings.Contains(body, `"auth"`) {
			t.Fatalf("cross-tenant auth through A (%v): %d %q, want 403", hdr, status, body)
		}
		// An id no instance holds.
		if status, body := clusterAuth(t, a, fmt.Sprintf("127.0.0.1:%d", a.HTTPPort), "123.456", channel, hdr...); status != 403 || strings.Contains(body, `"auth"`) {
			t.Fatalf("auth for an unknown socket (%v): %d %q, want 403", hdr, status, body)
		}
	}
	if asked() != 7 {
		t.Fatalf("the app was asked %d times, want 7 (it decides every time)", asked())
	}

	// Once B's socket closes, A no longer lets a grant for it through.
	sock.close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ := clusterAuth(t, a, fmt.Sprintf("127.0.0.1:%d", a.HTTPPort), sock.SocketID, channel)
		if status == 403 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A still lets a grant through for B's closed socket (%d)", status)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A counted its lookups.
	resp := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", a.AdminPort))
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`recordsync_cluster_socket_lookups_total{result="found"}`, `recordsync_cluster_socket_lookups_total{result="unknown"}`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("A's metrics lack %s", want)
		}
	}
}
