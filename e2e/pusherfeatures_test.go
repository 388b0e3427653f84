package e2e

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestCacheChannelsPusherJS runs e2e/node/cache.test.mjs: the `pusher` SDK
// publishes to cache channels through recordsync's HTTP API, and pusher-js
// subscribers that come later get the last event (or pusher:cache_miss).
func TestCacheChannelsPusherJS(t *testing.T) {
	t.Parallel()
	app := startFakeApp(t, testAppKey, testAppSecret)
	c := startCaddy(t, realtimeSite(app.Addr()))
	runNodeTest(t, "cache.test.mjs", map[string]string{
		"RS_PORT":       fmt.Sprint(c.HTTPPort),
		"RS_APP_ID":     testAppID,
		"RS_APP_KEY":    testAppKey,
		"RS_APP_SECRET": testAppSecret,
	})
}

// TestCacheChannelCluster: an event published through one instance of a
// cluster is replayed to a subscriber that comes later to the other one.
func TestCacheChannelCluster(t *testing.T) {
	t.Parallel()
	redisAddr, _, _ := startRedis(t)
	app := startFakeApp(t, testAppKey, testAppSecret)
	a := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	b := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	clusterUp(t, a)
	clusterUp(t, b)

	body := []byte(`{"name":"score","channel":"cache-final","data":"{\"home\":4}"}`)
	resp, err := http.DefaultClient.Do(drillAPIRequest(t, "POST", a.URL(), "/apps/"+testAppID+"/events", testAppKey, testAppSecret, body))
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("publish through A: %d %s", resp.StatusCode, rb)
	}
	// The bus carries the publish to B in the background: a subscriber
	// that asks too early gets the miss, and tries again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ws := dialPusher(t, clusterWS(b))
		ws.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": "cache-final"}})
		if f := ws.read(5 * time.Second); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("subscribe on B: %+v", f)
		}
		f := ws.read(5 * time.Second)
		ws.close()
		if f.Event == "score" && f.Channel == "cache-final" && f.dataString() == `{"home":4}` {
			break
		}
		if f.Event != "pusher:cache_miss" || time.Now().After(deadline) {
			t.Fatalf("late subscriber on B got %+v, want the score published through A", f)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A channel never published misses on both.
	for name, c := range map[string]*caddyProc{"A": a, "B": b} {
		ws := dialPusher(t, clusterWS(c))
		ws.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": "cache-nothing"}})
		ws.read(5 * time.Second)
		if f := ws.read(5 * time.Second); f.Event != "pusher:cache_miss" || f.Channel != "cache-nothing" {
			t.Fatalf("%s: %+v, want pusher:cache_miss", name, f)
		}
		ws.close()
	}
}

// TestEncryptedChannelsPusherJS runs e2e/node/encrypted.test.mjs in
// Chromium: the `pusher` SDK with an encryption master key publishes to a
// private-encrypted- channel through recordsync and answers its channel
// authorisation (with the shared_secret); pusher-js's encryption build
// decrypts what recordsync relayed. A forged grant and a client event are
// refused.
func TestEncryptedChannelsPusherJS(t *testing.T) {
	t.Parallel()
	browser := chromiumBin(t)
	app := startFakeApp(t, testAppKey, testAppSecret)
	c := startCaddy(t, realtimeSite(app.Addr()))
	runNodeTest(t, "encrypted.test.mjs", map[string]string{
		"RS_PORT":       fmt.Sprint(c.HTTPPort),
		"RS_APP_ID":     testAppID,
		"RS_APP_KEY":    testAppKey,
		"RS_APP_SECRET": testAppSecret,
		"RS_CHROMIUM":   browser,
	})
	m := drillMetrics(t, c)
	if got := m[`recordsync_ws_refused_total{reason="signature"}`]; got != 1 {
		t.Errorf(`recordsync_ws_refused_total{reason="signature"} = %v, want 1 (the forged grant)`, got)
	}
	if got := m[`recordsync_events_dropped_total{reason="client_event_channel"}`]; got != 1 {
		t.Errorf(`recordsync_events_dropped_total{reason="client_event_channel"} = %v, want 1`, got)
	}
}
