package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// Channel grants and method overrides against the real example app on
// php-fpm, as an attacker would try them: recordsync signs exactly what PHP
// read, lets a grant through only for a socket of the tenant that granted
// it, and guards a POST that Laravel routes as a PUT.

// postAuth posts body to path on c as pusher-js would, with the session's
// CSRF token.
func postAuth(c *laravelClient, csrf, path, ctype, body string) *laravelResponse {
	return c.Do("POST", path, body, "Content-Type", ctype, "X-CSRF-TOKEN", csrf, "Accept", "*/*")
}

// authMetric is recordsync_auth_signatures_total{result}.
func authMetric(t *testing.T, c *caddyProc, result string) float64 {
	return drillMetrics(t, c)[`recordsync_auth_signatures_total{result="`+result+`"}`]
}

// TestGrantPHPAliasesLaravel: the redis broadcaster answers `true` for the
// channel PHP read; recordsync signs only when it read the same one. Carol
// may see flow 1, not flow 2.
func TestGrantPHPAliasesLaravel(t *testing.T) {
	_, spy, c := startRSLaravel(t, map[string]string{"BROADCAST_DRIVER": "redis"}, rsOptions{})
	carol := newLaravelClient(t, c.URL(), "a.localhost")
	csrf := carol.Login("carol@example.com", "secret")
	ws := dialTenant(t, c.HTTPPort, "a.localhost")
	const form = "application/x-www-form-urlencoded"

	// Her own channel: signed, and the signature opens it.
	r := postAuth(carol, csrf, "/broadcasting/auth", form, "socket_id="+ws.SocketID+"&channel_name=private-record.flow.1")
	wantStatus(t, "Carol's own channel", r, 200)
	auth := gjson.GetBytes(r.Body, "auth").String()
	if auth == "" {
		t.Fatalf("Carol's own channel: not signed: %s", r.Body)
	}
	ws.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": "private-record.flow.1", "auth": auth}})
	if f := ws.read(5 * time.Second); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("subscribing with the signature: %+v", f)
	}
	// Flow 2 plainly: the app refuses.
	wantStatus(t, "Carol asks for flow 2", postAuth(carol, csrf, "/broadcasting/auth", form, "socket_id="+ws.SocketID+"&channel_name=private-record.flow.2"), 403)

	unsignedBefore := authMetric(t, c, "unsigned")
	for _, tc := range []struct{ name, path, ctype, body string }{
		// PHP reads the last channel_name, which channel[name becomes.
		{"channel[name after channel_name", "/broadcasting/auth", form,
			"socket_id=" + ws.SocketID + "&channel_name=private-record.flow.2&channel[name=private-record.flow.1"},
		{"channel%5Bname, encoded", "/broadcasting/auth", form,
			"socket_id=" + ws.SocketID + "&channel_name=private-record.flow.2&channel%5Bname=private-record.flow.1"},
		{"channel.name", "/broadcasting/auth", form,
			"socket_id=" + ws.SocketID + "&channel_name=private-record.flow.2&channel.name=private-record.flow.1"},
		// JSON PHP cannot decode: Laravel takes every field from the query.
		{"invalid UTF-8 JSON, fields in the query", "/broadcasting/auth?socket[id=" + ws.SocketID + "&channel[name=private-record.flow.1", "application/json",
			`{"socket_id":"` + ws.SocketID + `","channel_name":"private-record.flow.2","x":"` + "\xff" + `"}`},
		{"JSON nested 512 deep, fields in the query", "/broadcasting/auth?socket_id=" + ws.SocketID + "&channel_name=private-record.flow.1", "application/json",
			`{"socket_id":"` + ws.SocketID + `","channel_name":"private-record.flow.2","x":` + strings.Repeat("[", 511) + strings.Repeat("]", 511) + `}`},
	} {
		r := postAuth(carol, csrf, tc.path, tc.ctype, tc.body)
		// The app granted (it read flow 1), and the answer stays unsigned.
		wantStatus(t, tc.name, r, 200)
		if strings.TrimSpace(string(r.Body)) != "true" {
			t.Fatalf("%s: answer %s, want the app's unsigned true", tc.name, r.Body)
		}
		if last, ok := spy.Last("POST", "/broadcasting/auth"); !ok || string(last.Body) != tc.body {
			t.Fatalf("%s: the app did not get the body as sent: %+v", tc.name, last)
		}
	}
	if got := authMetric(t, c, "unsigned") - unsignedBefore; got != 5 {
		t.Fatalf("unsigned grants counted %v, want 5", got)
	}
	// Flow 2 stays closed to her socket.
	ws.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": "private-record.flow.2", "auth": auth}})
	if f := ws.read(5 * time.Second); f.Event != "pusher:subscription_error" && f.Event != "pusher:error" {
		t.Fatalf("flow 2 with flow 1's signature: %+v", f)
	}
	if t.Failed() {
		t.Logf("caddy log:\n%s", c.Log())
	}
}

// TestGrantTenantsLaravel: the app signs (BROADCAST_DRIVER=signonly, as the
// pusher/reverb drivers do); a user of tenant a posts a socket of tenant b
// to a's /broadcasting/auth, by every path Laravel routes there: 403.
func TestGrantTenantsLaravel(t *testing.T) {
	_, _, c := startRSLaravel(t, map[string]string{
		"BROADCAST_DRIVER":  "signonly",
		"PUSHER_APP_KEY":    testAppKey,
		"PUSHER_APP_SECRET": testAppSecret,
	}, rsOptions{})
	alice := newLaravelClient(t, c.URL(), "a.localhost")
	csrf := alice.Login("alice@example.com", "secret")
	own := dialTenant(t, c.HTTPPort, "a.localhost")
	other := dialTenant(t, c.HTTPPort, "b.localhost")
	const form = "application/x-www-form-urlencoded"
	const channel = "private-record.flow.1"

	r := postAuth(alice, csrf, "/broadcasting/auth", form, "socket_id="+own.SocketID+"&channel_name="+channel)
	wantStatus(t, "Alice's own socket", r, 200)
	if gjson.GetBytes(r.Body, "auth").String() == "" {
		t.Fatalf("Alice's own socket: %s", r.Body)
	}
	passed := authMetric(t, c, "passed")
	refused := authMetric(t, c, "refused")
	for _, path := range []string{"/broadcasting/auth", "/broadcasting/auth/", "/index.php/broadcasting/auth"} {
		r := postAuth(alice, csrf, path, form, "socket_id="+other.SocketID+"&channel_name="+channel)
		wantStatus(t, "b's socket through a's "+path, r, 403)
		if strings.Contains(string(r.Body), "auth") {
			t.Fatalf("b's socket through a's %s: %s", path, r.Body)
		}
	}
	// Broadcast::routes also answers GET, reading the query: watched too.
	r = alice.Do("GET", "/broadcasting/auth?socket_id="+other.SocketID+"&channel_name="+channel, nil)
	wantStatus(t, "b's socket through a GET", r, 403)
	if got := authMetric(t, c, "refused") - refused; got != 4 {
		t.Fatalf("refused grants counted %v, want 4", got)
	}
	if got := authMetric(t, c, "passed") - passed; got != 0 {
		t.Fatalf("a grant for b's socket passed (%v)", got)
	}
	// b's socket cannot open a's channel by any signature it could get.
	other.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": channel, "auth": "x:y"}})
	if f := other.read(5 * time.Second); f.Event == "pusher_internal:subscription_succeeded" {
		t.Fatalf("b's socket subscribed: %+v", f)
	}
	if t.Failed() {
		t.Logf("caddy log:\n%s", c.Log())
	}
}

// TestMethodOverrideLaravel: POSTs that Laravel routes as PUT/PATCH (a
// form's _method, X-HTTP-Method-Override, _method in JSON, in the query)
// are guarded, learned and broadcast like the PUT they are.
func TestMethodOverrideLaravel(t *testing.T) {
	_, spy, c := startRSLaravel(t, map[string]string{
		"BROADCAST_DRIVER":  "signonly",
		"PUSHER_APP_KEY":    testAppKey,
		"PUSHER_APP_SECRET": testAppSecret,
	}, rsOptions{})
	const path = "/api/v1/flows/1"
	alice := newLaravelClient(t, c.URL(), "a.localhost")
	alice.Login("alice@example.com", "secret")
	bob := newLaravelClient(t, c.URL(), "a.localhost")
	bobCSRF := bob.Login("bob@example.com", "secret")
	ws := dialTenant(t, c.HTTPPort, "a.localhost")
	r := postAuth(bob, bobCSRF, "/broadcasting/auth", "application/x-www-form-urlencoded", "socket_id="+ws.SocketID+"&channel_name=private-record.flow.1")
	ws.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": "private-record.flow.1", "auth": gjson.GetBytes(r.Body, "auth").String()}})
	if f := ws.read(5 * time.Second); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("Bob's subscription: %+v (auth answer %s)", f, r.Body)
	}
	events := streamEvents(ws)

	loaded := recVersion(alice.Do("GET", path, nil))
	for i, tc := range []struct {
		name, target, ctype string
		body                func(name string) string
		hdr                 []string
	}{
		{"a form's _method=PUT", path, "application/x-www-form-urlencoded", func(n string) string { return "_method=PUT&name=" + n }, nil},
		{"X-HTTP-Method-Override: PATCH", path, "application/json", func(n string) string { return `{"name":"` + n + `"}` }, []string{"X-HTTP-Method-Override", "PATCH"}},
		{"_method in JSON", path, "application/json", func(n string) string { return `{"_method":"put","name":"` + n + `"}` }, nil},
		{"_method in the query", path + "?_method=PATCH", "application/x-www-form-urlencoded", func(n string) string { return "name=" + n }, nil},
		{".method in a form (PHP reads _method)", path, "application/x-www-form-urlencoded", func(n string) string { return ".method=put&name=" + n }, nil},
	} {
		// Someone else saves first: the loaded version is now stale.
		wantStatus(t, "Bob's PUT", bob.Do("PUT", path, map[string]string{"name": fmt.Sprintf("bob %d", i)}, "X-Socket-ID", "1.1"), 200)
		if ev, ok := events.nextEvent(5 * time.Second); !ok || ev.Event != "record.updated" {
			t.Fatalf("%s: Bob's save not broadcast: %+v", tc.name, ev)
		}
		posts := spy.Count("POST", path)
		hdr := append([]string{"Content-Type", tc.ctype, "If-Match", etagOf(loaded)}, tc.hdr...)
		r := alice.Do("POST", tc.target, tc.body(fmt.Sprintf("stale %d", i)), hdr...)
		wantStatus(t, tc.name+", stale", r, 409)
		wantHeader(t, tc.name+", stale", r, "X-Recordsync-Cache", "hit")
		if spy.Count("POST", path) != posts {
			t.Fatalf("%s: the stale write reached PHP", tc.name)
		}
		current := recVersion(alice.Do("GET", path, nil))
		name := fmt.Sprintf("alice %d", i)
		hdr = append([]string{"Content-Type", tc.ctype, "If-Match", etagOf(current)}, tc.hdr...)
		r = alice.Do("POST", tc.target, tc.body(name), hdr...)
		wantStatus(t, tc.name+", current", r, 200)
		wantField(t, tc.name+", current", r, "data.name", name)
		saved := recVersion(r)
		ev, ok := events.nextEvent(5 * time.Second)
		if !ok || ev.Event != "record.updated" || gjson.Get(ev.dataString(), "updated_at_iso").String() != saved {
			t.Fatalf("%s: the save of %s was not broadcast: %+v", tc.name, saved, ev)
		}
		loaded = saved
		// And the poll answers it from the cache.
		wantField(t, tc.name+", poll", alice.Do("GET", "/api/v1/records/flow/1/version", nil), "data.updated_at", saved)
	}
	if got := drillMetrics(t, c)[`recordsync_method_overrides_total{outcome="write"}`]; got != 10 {
		t.Fatalf("overrides counted %v, want 10", got)
	}
	if t.Failed() {
		t.Logf("caddy log:\n%s", c.Log())
	}
}
