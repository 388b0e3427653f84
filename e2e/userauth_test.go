package e2e

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/recordsync/recordsync/pusher"
	"github.com/tidwall/gjson"
)

// TestUserAuthThroughRecordsync: the example app's Broadcast::userRoutes()
// emulation (/broadcasting/user-auth with the session, and
// /api/broadcasting/user-auth with a Sanctum token) behind recordsync.
//   - redis broadcaster: the app answers the user's info unsigned;
//     recordsync signs it for the socket_id, as the pusher broadcaster
//     would, and what pusher-js would send with pusher:signin verifies.
//   - signonly broadcaster: the app signs (PHP's HMAC); recordsync lets
//     the answer through untouched, which it does only when the app's
//     signature is the one it makes itself (so PHP and recordsync agree).
//   - either way, a socket of another tenant, or one that is not open, is
//     answered 403 in place of the app's grant.
func TestUserAuthThroughRecordsync(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"redis", "signonly"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			_, spy, c := startRSLaravel(t, map[string]string{
				"BROADCAST_DRIVER":  driver,
				"PUSHER_APP_KEY":    testAppKey,
				"PUSHER_APP_SECRET": testAppSecret,
				"REDIS_PORT":        fmt.Sprint(freePort(t)), // the redis broadcaster publishes nothing here
			}, rsOptions{})
			bob := loginAs(t, c, "a.localhost", "bob@example.com")
			api := newLaravelClient(t, c.URL(), "a.localhost")
			r := api.Do("POST", "/api/tokens", map[string]string{"email": "bob@example.com", "password": "secret"})
			wantStatus(t, "POST /api/tokens", r, 201)
			bearer := "Bearer " + gjson.GetBytes(r.Body, "data.token").String()
			ws := dialWithCookies(t, c.HTTPPort, "a.localhost", bob)
			other := dialWithCookies(t, c.HTTPPort, "b.localhost", nil)
			const form = "application/x-www-form-urlencoded"
			const userData = `{"id":"2","name":"Bob"}`

			for _, tc := range []struct {
				name string
				r    *laravelResponse
			}{
				{"session", bob.Do("POST", "/broadcasting/user-auth", "socket_id="+ws.SocketID, "Content-Type", form)},
				{"token", api.Do("POST", "/api/broadcasting/user-auth", "socket_id="+ws.SocketID, "Content-Type", form, "Authorization", bearer)},
			} {
				wantStatus(t, tc.name, tc.r, 200)
				var got struct {
					Auth     string `json:"auth"`
					UserData string `json:"user_data"`
				}
				if err := json.Unmarshal(tc.r.Body, &got); err != nil {
					t.Fatalf("%s: %v: %s", tc.name, err, tc.r.Body)
				}
				if got.UserData != userData {
					t.Fatalf("%s: user_data %q, want %q", tc.name, got.UserData, userData)
				}
				if err := pusher.VerifyUserAuth(testAppKey, testAppSecret, ws.SocketID, got.UserData, got.Auth); err != nil {
					t.Fatalf("%s: %s does not verify: %v", tc.name, tc.r.Body, err)
				}
			}

			// Another tenant's socket, and one that is not open: the app
			// grants (it cannot know), recordsync answers 403.
			before := spy.Count("POST", "/broadcasting/user-auth")
			for _, sock := range []string{other.SocketID, "999.999"} {
				r := bob.Do("POST", "/broadcasting/user-auth", "socket_id="+sock, "Content-Type", form)
				wantStatus(t, "socket "+sock, r, 403)
				wantJSON(t, "socket "+sock, r.Body, `{"success":false,"message":"Forbidden."}`)
			}
			if n := spy.Count("POST", "/broadcasting/user-auth") - before; n != 2 {
				t.Fatalf("the app was asked %d times, want 2 (it decides who the user is; recordsync binds the answer)", n)
			}
			m, err := c.Metrics()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"redis": "signed", "signonly": "passed"}[driver]
			if got := m[`recordsync_auth_signatures_total{result="`+want+`"}`]; got < 2 {
				t.Fatalf("recordsync_auth_signatures_total{result=%q} = %v, want 2 or more", want, got)
			}
			if got := m[`recordsync_auth_signatures_total{result="refused"}`]; got != 2 {
				t.Fatalf("refused = %v, want 2", got)
			}
		})
	}
}
