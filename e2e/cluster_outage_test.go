package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// waitCluster waits until Caddy's metrics say the cluster bus is up (or
// down).
func waitCluster(t *testing.T, c *caddyProc, up bool) {
	t.Helper()
	want := "\nrecordsync_cluster_up 0\n"
	if up {
		want = "\nrecordsync_cluster_up 1\n"
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", c.AdminPort))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not %s on :%d:\n%s", map[bool]string{true: "up", false: "down"}[up], c.HTTPPort, c.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterOutageReconciles: two Caddy processes on one real Redis; Redis
// stops; a save goes through B. Meanwhile A answers no version poll from its
// cache (it cannot know of B's save). When Redis is back, B re-announces
// the save: A's subscriber gets record.updated for it and A's cache answers
// the new version, never the superseded one.
func TestClusterOutageReconciles(t *testing.T) {
	redisAddr, stopRedis, startRedisAgain := startRedis(t)
	app := startFakeApp(t, testAppKey, testAppSecret)
	a := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	b := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	waitCluster(t, a, true)
	waitCluster(t, b, true)

	v0, _ := clusterPoll(t, a)
	if v, hit := clusterPoll(t, a); v != v0 || !hit {
		t.Fatalf("second poll on A: %q hit=%v", v, hit)
	}
	subA := dialPusher(t, clusterWS(a))
	if f := subA.subscribePrivate("private-record.flow.1", testAppKey, testAppSecret); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("subscribe: %+v", f)
	}

	stopRedis()
	waitCluster(t, a, false)
	waitCluster(t, b, false)
	if v, hit := clusterPoll(t, a); hit {
		t.Fatalf("A answered %q from its cache while the bus was down", v)
	}

	clusterPut(t, b, fmt.Sprintf(`{"name":"during the outage","client_version":%q}`, v0), "PUT through B")
	v1, _ := clusterPoll(t, b)
	if v1 == v0 {
		t.Fatalf("the PUT did not change the version (%q)", v1)
	}

	startRedisAgain()
	waitCluster(t, a, true)
	waitCluster(t, b, true)
	f := subA.read(15 * time.Second)
	if f.Event != "record.updated" || !strings.Contains(f.dataString(), v1) {
		t.Fatalf("A's subscriber got %+v, want record.updated of %s", f, v1)
	}
	if v, _ := clusterPoll(t, a); v != v1 {
		t.Fatalf("poll on A after the outage: %q, want %q", v, v1)
	}
}
