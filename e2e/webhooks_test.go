package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recordsync/recordsync/pusher"
)

// TestWebhooksPusherSDK: recordsync's webhooks are accepted by the `pusher`
// npm SDK's own validator, in a node script that is the webhook endpoint
// while Echo clients join, whisper and leave (e2e/node/webhooks.test.mjs).
func TestWebhooksPusherSDK(t *testing.T) {
	hookPort := freePort(t)
	c := startCaddy(t, fmt.Sprintf(`:{PORT} {
	recordsync {
		tenant {http.request.host}
		app_id %s
		app_key %s
		app_secret %s
		ws_path /ws
		webhooks http://127.0.0.1:%d/pusher/webhook {
			events channel_occupied channel_vacated member_added member_removed client_event
			batch 50ms
		}
	}
	respond "app" 200
}
`, testAppID, testAppKey, testAppSecret, hookPort))
	runNodeTest(t, "webhooks.test.mjs", map[string]string{
		"RS_PORT":       fmt.Sprint(c.HTTPPort),
		"RS_HOOK_PORT":  fmt.Sprint(hookPort),
		"RS_APP_ID":     testAppID,
		"RS_APP_KEY":    testAppKey,
		"RS_APP_SECRET": testAppSecret,
	})
}

// hookReceiver is a webhook endpoint that keeps the events of valid
// webhooks, as "name channel [user]".
type hookReceiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	events  []string
	invalid []string
}

func startHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var doc struct {
			Tenant string `json:"tenant"`
			Events []struct {
				Name, Channel string
				UserID        string `json:"user_id"`
			} `json:"events"`
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if !pusher.VerifyWebhook(testAppKey, testAppSecret, req.Header.Get("X-Pusher-Key"), req.Header.Get("X-Pusher-Signature"), body) ||
			json.Unmarshal(body, &doc) != nil || doc.Tenant != "127.0.0.1" {
			r.invalid = append(r.invalid, string(body))
			return
		}
		for _, e := range doc.Events {
			r.events = append(r.events, strings.TrimSpace(e.Name+" "+e.Channel+" "+e.UserID))
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// count is how many times e was received.
func (r *hookReceiver) count(e string) int {
	n := 0
	for _, g := range r.got() {
		if g == e {
			n++
		}
	}
	return n
}

// webhookClusterSite is a site of a two-instance cluster with webhooks to
// hookURL; a silent instance is forgotten after 2s.
func webhookClusterSite(redisAddr, hookURL string) string {
	return fmt.Sprintf(`:{PORT} {
	recordsync {
		tenant {http.request.host}
		app_id %s
		app_key %s
		app_secret %s
		ws_path /ws
		cluster redis://%s/0 {
			name hooks
			timeout 2s
		}
		webhooks %s {
			events channel_occupied channel_vacated member_added member_removed
			batch 20ms
		}
	}
	respond "app" 200
}
`, testAppID, testAppKey, testAppSecret, redisAddr, hookURL)
}

// TestWebhooksClusterOccupancy: with two instances, a channel whose
// sockets come and go on both is occupied once and vacated once, a member
// with tabs on both is added once and removed once; an instance that
// stops reports what only it held, and what a crashed one held alone is
// reported once by the other after the cluster timeout.
func TestWebhooksClusterOccupancy(t *testing.T) {
	redisAddr, _, _ := startRedis(t)
	hooks := startHookReceiver(t)
	a := startCaddy(t, webhookClusterSite(redisAddr, hooks.srv.URL))
	b := startCaddy(t, webhookClusterSite(redisAddr, hooks.srv.URL))
	clusterUp(t, a)
	clusterUp(t, b)
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	// waitHolders waits until n instances hold a state in the webhooks'
	// occupancy (cluster/occupancy.go's keys): it orders the steps as
	// Redis sees them, whatever each instance's batch window.
	waitHolders := func(n int, kind string, parts ...string) {
		t.Helper()
		esc := make([]string, len(parts))
		for i, p := range parts {
			esc[i] = url.QueryEscape(p)
		}
		key := "recordsync:hooks:occ:s:" + kind + ":" + strings.Join(esc, ":")
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := rdb.SCard(context.Background(), key).Result()
			if err == nil && int(got) == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s held by %d instances (%v), want %d", key, got, err, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	sub := func(c *caddyProc, channel string) *wsClient {
		t.Helper()
		ws := dialPusher(t, clusterWS(c))
		ws.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": channel}})
		if f := ws.read(5 * time.Second); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("subscribe %s: %+v", channel, f)
		}
		return ws
	}
	join := func(c *caddyProc, channel, user string) *wsClient {
		t.Helper()
		ws := dialPusher(t, clusterWS(c))
		clusterJoin(t, ws, channel, user)
		return ws
	}

	// Sockets of "room" come and go on both instances, always one left.
	a1 := sub(a, "room")
	waitHolders(1, "c", "127.0.0.1", "room")
	b1 := sub(b, "room")
	waitHolders(2, "c", "127.0.0.1", "room")
	a1.close()
	waitHolders(1, "c", "127.0.0.1", "room")
	a2 := sub(a, "room")
	waitHolders(2, "c", "127.0.0.1", "room")
	b1.close()
	waitHolders(1, "c", "127.0.0.1", "room")
	b2 := sub(b, "room")
	b3 := sub(b, "room")
	waitHolders(2, "c", "127.0.0.1", "room")
	a2.close()
	b2.close()
	waitHolders(1, "c", "127.0.0.1", "room")
	b3.close()
	waitHolders(0, "c", "127.0.0.1", "room")

	// Alice with a tab on each instance, Bob on A only.
	const p = "presence-room.9"
	aliceA := join(a, p, "alice")
	waitHolders(1, "m", "127.0.0.1", p, "alice")
	aliceB := join(b, p, "alice")
	waitHolders(2, "m", "127.0.0.1", p, "alice")
	bob := join(a, p, "bob")
	waitHolders(1, "m", "127.0.0.1", p, "bob")
	aliceA.close()
	waitHolders(1, "m", "127.0.0.1", p, "alice")
	bob.close()
	aliceB.close()
	waitHolders(0, "c", "127.0.0.1", p)

	want := []string{
		"channel_occupied room", "channel_vacated room",
		"channel_occupied " + p, "channel_vacated " + p,
		"member_added " + p + " alice", "member_removed " + p + " alice",
		"member_added " + p + " bob", "member_removed " + p + " bob",
	}
	waitEvents := func(want []string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ok := true
			for _, e := range want {
				if hooks.count(e) < 1 {
					ok = false
				}
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("webhooks %v, want each of %v", hooks.got(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitEvents(want)

	// B crashes holding the only subscriber of "solo" and Carol: A
	// reports them once the cluster timeout has passed.
	sub(b, "solo")
	join(b, "presence-solo", "carol")
	waitHolders(1, "c", "127.0.0.1", "solo")
	waitHolders(1, "m", "127.0.0.1", "presence-solo", "carol")
	b.Kill()
	crashed := []string{"channel_vacated solo", "member_removed presence-solo carol", "channel_vacated presence-solo"}
	waitEvents(append(want, crashed...))

	// A stops: what it alone held (a socket of "last") is reported by it.
	sub(a, "last")
	waitHolders(1, "c", "127.0.0.1", "last")
	a.Stop()
	stopped := []string{"channel_occupied last", "channel_vacated last"}
	waitEvents(append(append(want, crashed...), stopped...))

	time.Sleep(500 * time.Millisecond) // a duplicate would have come by now
	all := append(append(append(want, crashed...), stopped...), "channel_occupied solo", "channel_occupied presence-solo", "member_added presence-solo carol")
	for _, e := range all {
		if n := hooks.count(e); n != 1 {
			t.Errorf("%q received %d times, want once (all: %v)", e, n, hooks.got())
		}
	}
	if got := hooks.got(); len(got) != len(all) {
		t.Errorf("%d webhook events, want %d: %v", len(got), len(all), got)
	}
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	if len(hooks.invalid) > 0 {
		t.Errorf("invalid webhooks: %v", hooks.invalid)
	}
}
