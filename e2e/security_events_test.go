package e2e

// What recordsync takes from events and grants, held against the real
// example Laravel app (php-fpm) and a real browser: auth_upstream takes only
// a grant Laravel's broadcasters make, and a save's tab_id lets only the
// saving tab ignore it.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// TestAuthUpstreamRealGrantLaravel: auth_upstream takes only a real grant
// from the real app. Laravel's null and log broadcasters answer
// /broadcasting/auth with an empty 200 to every request
// (Illuminate/Broadcasting/Broadcasters/NullBroadcaster.php and
// LogBroadcaster.php: auth() returns nothing), even for a channel
// routes/channels.php refuses: that grants nothing (AuthError 502, counted
// as not_a_grant). With a broadcaster that grants (signonly, signed as
// Laravel's pusher broadcaster signs; the redis broadcaster's true is
// TestAuthUpstreamLaravel's), Alice gets her channels and Carol keeps the
// app's 403.
func TestAuthUpstreamRealGrantLaravel(t *testing.T) {
	for _, driver := range []string{"null", "log"} {
		t.Run(driver, func(t *testing.T) {
			_, _, c := startRSLaravel(t, map[string]string{"BROADCAST_DRIVER": driver},
				rsOptions{Extra: "auth_upstream /broadcasting/auth"})
			alice := loginAs(t, c, "a.localhost", "alice@example.com")
			carol := loginAs(t, c, "a.localhost", "carol@example.com")
			wa := dialWithCookies(t, c.HTTPPort, "a.localhost", alice)
			wc := dialWithCookies(t, c.HTTPPort, "a.localhost", carol)

			// The app's own answer, even to Carol for flow 2, which
			// routes/channels.php refuses her: an empty 200.
			r := carol.Do("POST", "/broadcasting/auth", "socket_id="+wc.SocketID+"&channel_name=private-record.flow.2",
				"Content-Type", "application/x-www-form-urlencoded")
			if r.Status != 200 || len(bytes.TrimSpace(r.Body)) != 0 {
				t.Fatalf("the app's answer with BROADCAST_DRIVER=%s: %d %q", driver, r.Status, r.Body)
			}

			for _, sub := range []struct {
				ws      *wsClient
				channel string
			}{
				{wa, "private-record.flow.1"},
				{wa, "presence-record.flow.1"},
				{wc, "private-record.flow.2"},
			} {
				f := sub.ws.subscribeNoAuth(sub.channel)
				if f.Event != "pusher:subscription_error" || !strings.Contains(f.dataString(), `"status":502`) ||
					!strings.Contains(f.dataString(), "AuthError") || !strings.Contains(f.dataString(), "not a grant") {
					t.Fatalf("%s: %+v\n%s", sub.channel, f, c.Log())
				}
			}
			m, err := c.Metrics()
			if err != nil {
				t.Fatal(err)
			}
			if got := m[`recordsync_auth_upstream_requests_total{result="not_a_grant"}`]; got != 3 {
				t.Errorf("not_a_grant counted %v times, want 3", got)
			}
			if got := m[`recordsync_auth_upstream_requests_total{result="allowed"}`]; got != 0 {
				t.Errorf("allowed counted %v times, want 0", got)
			}
			if !strings.Contains(c.Log(), "grants nothing") {
				t.Errorf("no warning about the empty answer in Caddy's log:\n%s", c.Log())
			}
		})
	}
	t.Run("signonly", func(t *testing.T) {
		_, _, c := startRSLaravel(t, map[string]string{
			"BROADCAST_DRIVER":  "signonly",
			"PUSHER_APP_KEY":    testAppKey,
			"PUSHER_APP_SECRET": testAppSecret,
		}, rsOptions{Extra: "auth_upstream /broadcasting/auth"})
		alice := loginAs(t, c, "a.localhost", "alice@example.com")
		carol := loginAs(t, c, "a.localhost", "carol@example.com")
		wa := dialWithCookies(t, c.HTTPPort, "a.localhost", alice)
		if f := wa.subscribeNoAuth("private-record.flow.2"); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("alice flow 2: %+v\n%s", f, c.Log())
		}
		f := wa.subscribeNoAuth("presence-record.flow.1")
		if f.Event != "pusher_internal:subscription_succeeded" || !strings.Contains(f.dataString(), `"name":"Alice"`) {
			t.Fatalf("alice presence: %+v", f)
		}
		wc := dialWithCookies(t, c.HTTPPort, "a.localhost", carol)
		f = wc.subscribeNoAuth("private-record.flow.2")
		if f.Event != "pusher:subscription_error" || !strings.Contains(f.dataString(), `"status":403`) {
			t.Fatalf("carol flow 2: %+v", f)
		}
		m, err := c.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		if got := m[`recordsync_auth_upstream_requests_total{result="allowed"}`]; got != 2 {
			t.Errorf("allowed counted %v times, want 2", got)
		}
	})
}

// TestBrowserTabTag: in Chromium, on a plain-http origin that is not
// localhost (no crypto.subtle), a save's record.updated carries the tag of
// the saving tab's X-Tab-ID, never the id, and a subscriber who saves with
// that tag as its X-Tab-ID does not make the saving tab ignore the save
// (e2e/node/tab-tag.test.mjs).
func TestBrowserTabTag(t *testing.T) {
	browser := chromiumBin(t)
	_, _, c := startRSLaravel(t, map[string]string{
		"BROADCAST_DRIVER":  "signonly",
		"PUSHER_APP_KEY":    testAppKey,
		"PUSHER_APP_SECRET": testAppSecret,
	}, rsOptions{})
	runNodeTest(t, "tab-tag.test.mjs", map[string]string{
		"RS_PORT":     fmt.Sprint(c.HTTPPort),
		"RS_CHROMIUM": browser,
	})
}

// tabTagOf is what recordsync's events, and the example app's, carry as
// tab_id for a tab's X-Tab-ID: the first 32 hex digits of its SHA-256.
func tabTagOf(tabID string) string {
	sum := sha256.Sum256([]byte(tabID))
	return hex.EncodeToString(sum[:16])
}
