package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// clusterSite is realtimeSite with `cluster` on the Redis at redisAddr: two
// Caddy processes started with it form one cluster.
func clusterSite(upstream, redisAddr string) string {
	return fmt.Sprintf(`:{PORT} {
	recordsync {
		tenant {http.request.host}
		updated_by_id data.updated_by
		updated_by_name data.updated_by_name
		record flow /api/v1/flows/{id}
		app_id %s
		app_key %s
		app_secret %s
		ws_path /ws
		cluster redis://%s/0
		cluster_name e2e
	}
	reverse_proxy %s
}
`, testAppID, testAppKey, testAppSecret, redisAddr, upstream)
}

// clusterUp waits until Caddy's metrics say the cluster bus is up.
func clusterUp(t *testing.T, c *caddyProc) {
	t.Helper()
	waitCluster(t, c, true)
}

func clusterWS(c *caddyProc) string {
	return fmt.Sprintf("ws://127.0.0.1:%d/ws/app/%s?protocol=7&client=js&version=8.4.0", c.HTTPPort, testAppKey)
}

// clusterPoll asks c for flow 1's version as the caller "alice" and returns
// the version and whether the cache answered.
func clusterPoll(t *testing.T, c *caddyProc) (version string, hit bool) {
	t.Helper()
	resp := get(t, c.URL()+"/api/v1/records/flow/1/version", "Authorization", "Bearer alice")
	defer resp.Body.Close()
	var body struct {
		Data struct {
			UpdatedAt string `json:"updated_at"`
		} `json:"data"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, &body) != nil {
		t.Fatalf("poll: %d %s", resp.StatusCode, b)
	}
	return body.Data.UpdatedAt, resp.Header.Get("X-Recordsync-Cache") == "hit"
}

// clusterPut PUTs body to flow 1 through c as the caller "alice" and fails
// the test unless the app answered 200; it returns the answer's body.
func clusterPut(t *testing.T, c *caddyProc, body, what string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, c.URL()+"/api/v1/flows/1", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", what, resp.StatusCode, rb)
	}
	return rb
}

// TestClusterTwoCaddies runs two Caddy processes on one Redis in front of
// one app: a PUT through A reaches a subscriber on B (and one on A) exactly
// once, and a version poll on B answers the version learned on A from its
// cache.
func TestClusterTwoCaddies(t *testing.T) {
	redisAddr, _, _ := startRedis(t)
	app := startFakeApp(t, testAppKey, testAppSecret)
	a := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	b := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	clusterUp(t, a)
	clusterUp(t, b)

	// Alice's poll on B: asked upstream once, then allowed from the cache.
	v0, _ := clusterPoll(t, b)
	if v, hit := clusterPoll(t, b); v != v0 || !hit {
		t.Fatalf("second poll on B: %q hit=%v", v, hit)
	}

	subA, subB := dialPusher(t, clusterWS(a)), dialPusher(t, clusterWS(b))
	for _, s := range []*wsClient{subA, subB} {
		if f := s.subscribePrivate("private-record.flow.1", testAppKey, testAppSecret); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("subscribe: %+v", f)
		}
	}

	rb := clusterPut(t, a, fmt.Sprintf(`{"name":"from A","client_version":%q}`, v0), "PUT through A")
	var saved struct {
		Data struct {
			UpdatedAt string `json:"updated_at"`
		} `json:"data"`
	}
	json.Unmarshal(rb, &saved)
	v1 := saved.Data.UpdatedAt

	for name, s := range map[string]*wsClient{"A": subA, "B": subB} {
		f := s.read(5 * time.Second)
		if f.Event != "record.updated" || !strings.Contains(f.dataString(), v1) {
			t.Fatalf("subscriber on %s got %+v, want record.updated of %s", name, f, v1)
		}
	}
	time.Sleep(300 * time.Millisecond)
	clusterQuiet(t, subA, "a second record.updated on A")
	clusterQuiet(t, subB, "a second record.updated on B")

	// B's cache knows v1, learned on A.
	if v, hit := clusterPoll(t, b); v != v1 || !hit {
		t.Fatalf("poll on B after the PUT on A: %q (hit=%v), want %q from the cache", v, hit, v1)
	}
}

// clusterQuiet checks that nothing is queued for c: a ping's pong is the
// next frame (a timed-out read would close the socket).
func clusterQuiet(t *testing.T, c *wsClient, what string) {
	t.Helper()
	c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	if f := c.read(5 * time.Second); f.Event != "pusher:pong" {
		t.Fatalf("got %+v: %s", f, what)
	}
}

// clusterJoin subscribes c to a presence channel as user and returns the
// member ids of the answer.
func clusterJoin(t *testing.T, c *wsClient, channel, user string) []string {
	t.Helper()
	cd := fmt.Sprintf(`{"user_id":%q,"user_info":{"name":%q}}`, user, user)
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": channel, "auth": pusher.ChannelAuth(testAppKey, testAppSecret, c.SocketID, channel, cd), "channel_data": cd}})
	f := c.read(5 * time.Second)
	var d struct {
		Presence struct {
			IDs []string `json:"ids"`
		} `json:"presence"`
	}
	if f.Event != "pusher_internal:subscription_succeeded" || json.Unmarshal([]byte(f.dataString()), &d) != nil {
		t.Fatalf("join %s as %s: %+v", channel, user, f)
	}
	return d.Presence.IDs
}

// TestClusterPresenceTwoCaddies: Alice with a tab on each instance is one
// member; she leaves when her last tab anywhere closes.
func TestClusterPresenceTwoCaddies(t *testing.T) {
	redisAddr, _, _ := startRedis(t)
	app := startFakeApp(t, testAppKey, testAppSecret)
	a := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	b := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	clusterUp(t, a)
	clusterUp(t, b)
	const room = "presence-room.1"

	watcher := dialPusher(t, clusterWS(a))
	clusterJoin(t, watcher, room, "w")
	aliceB := dialPusher(t, clusterWS(b))
	clusterJoin(t, aliceB, room, "alice")
	if f := watcher.read(5 * time.Second); f.Event != "pusher_internal:member_added" || !strings.Contains(f.dataString(), `"alice"`) {
		t.Fatalf("watcher on A got %+v", f)
	}
	aliceA := dialPusher(t, clusterWS(a))
	if ids := clusterJoin(t, aliceA, room, "alice"); strings.Join(ids, ",") != "w,alice" {
		t.Fatalf("Alice's tab on A lists %v", ids)
	}
	time.Sleep(300 * time.Millisecond)
	clusterQuiet(t, watcher, "a member_added for Alice's second tab")
	aliceB.close()
	time.Sleep(300 * time.Millisecond)
	clusterQuiet(t, watcher, "a member_removed while Alice still has a tab on A")
	aliceA.close()
	if f := watcher.read(5 * time.Second); f.Event != "pusher_internal:member_removed" || !strings.Contains(f.dataString(), `"alice"`) {
		t.Fatalf("watcher got %+v, want member_removed alice", f)
	}
}
