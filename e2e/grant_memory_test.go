package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// The grant memory against the real example Laravel app on php-fpm,
// behind three recordsync instances of one cluster: the grants users got
// through /broadcasting/auth on one instance are answered on the others
// without PHP when the users' sockets come back there (an instance died:
// the reconnect storm), cluster-wide, bound to the user, the tenant and the
// site; a refusal stays a refusal, a logout ends the user's grants on every
// instance, and another tenant's host never gets them.

// sameBrowser is a client of host on c holding cl's cookies (cookies do not
// depend on the port: the browser of cl, sent to another instance behind
// the load balancer).
func sameBrowser(t *testing.T, cl *laravelClient, c *caddyProc, host string) *laravelClient {
	t.Helper()
	b := newLaravelClient(t, c.URL(), host)
	b.HTTP.Jar = cl.HTTP.Jar
	return b
}

// grantOn asks cl's instance for socket's grant of channel as pusher-js
// does (a form POST of socket_id and channel_name, with the session's
// cookies and CSRF token).
func grantOn(cl *laravelClient, csrf, socket, channel string) *laravelResponse {
	return postAuth(cl, csrf, "/broadcasting/auth", "application/x-www-form-urlencoded", "socket_id="+socket+"&channel_name="+channel)
}

// subscribeWith subscribes ws with the auth answer r (its channel_data for
// a presence channel) and returns the answer frame.
func subscribeWith(ws *wsClient, channel string, r *laravelResponse) frame {
	data := map[string]string{"channel": channel, "auth": gjson.GetBytes(r.Body, "auth").String()}
	if cd := gjson.GetBytes(r.Body, "channel_data"); cd.Exists() {
		data["channel_data"] = cd.String()
	}
	ws.send(map[string]any{"event": "pusher:subscribe", "data": data})
	return ws.read(5 * time.Second)
}

func TestGrantMemoryClusterLaravel(t *testing.T) {
	redisAddr, _, _ := startRedis(t)
	app := startLaravel(t, map[string]string{
		"BROADCAST_DRIVER": "redis",
		"REDIS_HOST":       "127.0.0.1",
		"REDIS_PORT":       fmt.Sprint(freePort(t)), // nobody listens: auth never connects
	})
	spy := startFCGISpy(t, app.FPMPort)
	// One state name on every instance, as one Caddyfile deployed to all
	// gives (here each instance's site address has its own port).
	site := rsLaravelSite(app, spy, rsOptions{Extra: fmt.Sprintf("name shop\n\t\tcluster redis://%s/0\n\t\tcluster_name grants\n\t\tauth_upstream /broadcasting/auth", redisAddr)})
	a, b, c := startCaddy(t, site), startCaddy(t, site), startCaddy(t, site)
	for _, inst := range []*caddyProc{a, b, c} {
		clusterUp(t, inst)
	}
	const host = "a.localhost"
	auths := func() int { return spy.Count("POST", "/broadcasting/auth") }

	type user struct {
		name, email string
		cl          *laravelClient
		csrf        string
		allowed     []string
		refused     []string
	}
	users := []*user{
		{name: "Alice", email: "alice@example.com", allowed: []string{"private-record.flow.1", "private-record.flow.2", "presence-record.flow.1"}},
		{name: "Bob", email: "bob@example.com", allowed: []string{"private-record.flow.1", "presence-record.flow.1"}},
		{name: "Carol", email: "carol@example.com", allowed: []string{"private-record.flow.1", "presence-record.flow.1"}, refused: []string{"private-record.flow.2"}},
	}

	// On A: each user's socket subscribes through the app's /broadcasting/auth.
	for _, u := range users {
		u.cl = newLaravelClient(t, a.URL(), host)
		u.csrf = u.cl.Login(u.email, "secret")
		ws := dialTenant(t, a.HTTPPort, host)
		for _, ch := range u.allowed {
			r := grantOn(u.cl, u.csrf, ws.SocketID, ch)
			wantStatus(t, u.name+" "+ch+" on A", r, 200)
			if r.Header.Get("X-Recordsync-Grant") != "" {
				t.Fatalf("%s %s on A: a first grant answered from memory", u.name, ch)
			}
			if f := subscribeWith(ws, ch, r); f.Event != "pusher_internal:subscription_succeeded" {
				t.Fatalf("%s subscribing %s on A: %+v", u.name, ch, f)
			}
		}
		for _, ch := range u.refused {
			wantStatus(t, u.name+" "+ch+" on A", grantOn(u.cl, u.csrf, ws.SocketID, ch), 403)
		}
	}
	asked := auths()
	if asked != 8 {
		t.Fatalf("%d auth requests reached PHP on A, want 8 (every first one)", asked)
	}

	// A dies; its users' new sockets come to B: every grant is answered
	// without PHP, signed for the new socket, and the signature opens it.
	a.Stop()
	for _, u := range users {
		ub := sameBrowser(t, u.cl, b, host)
		ws := dialTenant(t, b.HTTPPort, host)
		for _, ch := range u.allowed {
			r := grantOn(ub, u.csrf, ws.SocketID, ch)
			wantStatus(t, u.name+" "+ch+" on B", r, 200)
			if r.Header.Get("X-Recordsync-Grant") != "remembered" {
				t.Fatalf("%s %s on B: not from the grant memory: %s", u.name, ch, r.Body)
			}
			f := subscribeWith(ws, ch, r)
			if f.Event != "pusher_internal:subscription_succeeded" {
				t.Fatalf("%s subscribing %s on B with the remembered grant: %+v", u.name, ch, f)
			}
			if strings.HasPrefix(ch, "presence-") && !strings.Contains(f.dataString(), `"name":"`+u.name+`"`) {
				t.Fatalf("%s's presence on B: %s, want the channel_data the app gave", u.name, f.dataString())
			}
		}
		// A refusal is not remembered: the app decides again, and refuses.
		for _, ch := range u.refused {
			before := auths()
			r := grantOn(ub, u.csrf, ws.SocketID, ch)
			wantStatus(t, u.name+" "+ch+" on B", r, 403)
			if auths() != before+1 {
				t.Fatalf("%s %s on B did not reach PHP", u.name, ch)
			}
		}
	}
	if n := auths(); n != asked+1 {
		t.Fatalf("%d auth requests reached PHP for the storm on B, want 1 (Carol's refusal)", n-asked)
	}

	// auth_upstream shares the memory: Alice's plain socket on B, without
	// auth, is granted without PHP.
	alice, bob := users[0], users[1]
	aliceB := sameBrowser(t, alice.cl, b, host)
	plain := dialWithCookies(t, b.HTTPPort, host, aliceB)
	before := auths()
	if f := plain.subscribeNoAuth("private-record.flow.2"); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("Alice's socket without auth on B: %+v", f)
	}
	if auths() != before {
		t.Fatal("auth_upstream asked PHP for a remembered grant")
	}

	// Another tenant's host never gets Alice's grants: her session cookie
	// sent to b.localhost reaches PHP.
	other := dialTenant(t, b.HTTPPort, "b.localhost")
	before = auths()
	otherClient := newLaravelClient(t, b.URL(), "b.localhost")
	r := otherClient.Do("POST", "/broadcasting/auth", "socket_id="+other.SocketID+"&channel_name=private-record.flow.1",
		"Content-Type", "application/x-www-form-urlencoded", "X-CSRF-TOKEN", alice.csrf,
		"Cookie", "laravel_session="+alice.cl.Cookie("laravel_session"))
	if auths() != before+1 || r.Header.Get("X-Recordsync-Grant") != "" {
		t.Fatalf("Alice's grant on another tenant's host: %d %s, PHP asked %d times", r.Status, r.Body, auths()-before)
	}

	// Bob's grant is in C's local cache too.
	bobC := sameBrowser(t, bob.cl, c, host)
	wsC := dialTenant(t, c.HTTPPort, host)
	if r := grantOn(bobC, bob.csrf, wsC.SocketID, "private-record.flow.1"); r.Header.Get("X-Recordsync-Grant") != "remembered" {
		t.Fatalf("Bob on C: %d %s", r.Status, r.Body)
	}
	// Bob logs out through B (Laravel's logout gives his browser a new
	// session): his old session cookie, replayed on C, reaches PHP, which
	// refuses it.
	oldSession := bob.cl.Cookie("laravel_session")
	bobB := sameBrowser(t, bob.cl, b, host)
	wantStatus(t, "Bob's logout", bobB.Do("POST", "/logout", nil, "X-CSRF-TOKEN", bob.csrf), 200)
	if bob.cl.Cookie("laravel_session") == oldSession {
		t.Fatal("the logout did not renew Bob's session cookie")
	}
	replay := func(inst *caddyProc) *laravelResponse {
		t.Helper()
		ws := dialTenant(t, inst.HTTPPort, host)
		cl := newLaravelClient(t, inst.URL(), host)
		return cl.Do("POST", "/broadcasting/auth", "socket_id="+ws.SocketID+"&channel_name=private-record.flow.1",
			"Content-Type", "application/x-www-form-urlencoded", "X-CSRF-TOKEN", bob.csrf,
			"Cookie", "laravel_session="+oldSession)
	}
	for _, inst := range []*caddyProc{c, b} {
		var r *laravelResponse
		deadline := time.Now().Add(5 * time.Second)
		for {
			before := auths()
			r = replay(inst)
			if r.Header.Get("X-Recordsync-Grant") == "" && auths() == before+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Bob's old session still granted from memory after his logout: %d %s", r.Status, r.Body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if r.Status == http.StatusOK {
			t.Fatalf("PHP granted Bob's old session after his logout: %s", r.Body)
		}
	}

	// B counted what it answered.
	m := drillMetrics(t, b)
	if got := m[`recordsync_grants_total{result="remembered",source="auth_endpoint"}`]; got < 7 {
		t.Errorf("B's recordsync_grants_total{remembered,auth_endpoint} = %v, want at least 7", got)
	}
	if got := m[`recordsync_grants_total{result="remembered",source="auth_upstream"}`]; got != 1 {
		t.Errorf("B's recordsync_grants_total{remembered,auth_upstream} = %v, want 1", got)
	}
	if got := m[`recordsync_grants_ended_total{reason="logout"}`]; got < 1 {
		t.Errorf("B's recordsync_grants_ended_total{logout} = %v", got)
	}
}
