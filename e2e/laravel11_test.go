package e2e

// The parts of Laravel 11-13 recordsync works with, emulated by the example
// app on Debian's Laravel 8.83 (examples/laravel/README.md, "What is
// emulated"): APP_PREVIOUS_KEYS, Sanctum tokens with broadcasting auth at
// /api/broadcasting/auth, Broadcast::userRoutes(), and Eloquent model
// broadcasting, each proved against the real app and recordsync.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/recordsync/recordsync/internal/harness"
	"github.com/tidwall/gjson"
)

// reencryptSession is PHP, run in the app with its environment: it opens the
// session cookie RS_COOKIE_NAME=RS_COOKIE_VALUE with the app's own encrypter
// and encrypts the same session id again under RS_KEY as Laravel's
// EncryptCookies does (Illuminate/Cookie/Middleware/EncryptCookies.php,
// encrypt: CookieValuePrefix::create(name, key).value, not serialized), with
// the app's cipher: the cookie a browser holds from before a key rotation.
const reencryptSession = `
$app = require getcwd().'/bootstrap/app.php';
$app->make(Illuminate\Contracts\Console\Kernel::class)->bootstrap();
$name = getenv('RS_COOKIE_NAME');
$id = Illuminate\Cookie\CookieValuePrefix::remove($app['encrypter']->decrypt(getenv('RS_COOKIE_VALUE'), false));
$key = getenv('RS_KEY');
if (str_starts_with($key, 'base64:')) { $key = base64_decode(substr($key, 7)); }
$enc = new Illuminate\Encryption\Encrypter($key, config('app.cipher'));
echo $enc->encrypt(Illuminate\Cookie\CookieValuePrefix::create($name, $key).$id, false);
`

// sessionUnder returns the session cookie value (decoded) of the client's
// session named name, encrypted under key by PHP.
func sessionUnder(t *testing.T, app *laravelApp, name, value, key string) string {
	t.Helper()
	plain, err := url.QueryUnescape(value)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(phpBin(t), "-r", reencryptSession)
	cmd.Dir = app.Dir
	cmd.Env = os.Environ()
	for k, v := range app.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "RS_COOKIE_NAME="+name, "RS_COOKIE_VALUE="+plain, "RS_KEY="+key)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("php re-encrypting the session: %v\n%s", err, out)
	}
	return string(out)
}

// cookieGet is a GET on c's site for host carrying exactly the Cookie
// header cookies (no jar: the app's re-encrypted Set-Cookie is not taken).
func cookieGet(t *testing.T, c *caddyProc, host, path, cookies string) *laravelResponse {
	t.Helper()
	cl := newLaravelClient(t, c.URL(), host)
	cl.HTTP.Jar = nil
	return cl.Do("GET", path, nil, "Cookie", cookies)
}

// TestLaravel11PreviousKeys: the app runs with APP_NAME "Acme Portal" (its
// session cookie acme_portal_session, Laravel 8's Str::slug(APP_NAME, '_')),
// AES-256-GCM, APP_KEY=new and APP_PREVIOUS_KEYS=old (Laravel 11's
// rotation). A session cookie encrypted under the old key, as a browser
// holds it from before the rotation, still logs its user in (one under a key
// the app never had does not). recordsync with `callers { laravel_app_key
// new; laravel_previous_keys old }` reads that session: Alice's second poll
// is answered from the cache and no cookie is counted unverified. With only
// laravel_app_key it is not read: every poll goes to the app, each counted
// session_unverified, and the XSRF-TOKEN cookie beside it, which verifies
// under the new key and holds a session-shaped token, is not taken as the
// session either.
func TestLaravel11PreviousKeys(t *testing.T) {
	t.Parallel()
	oldKey, err := harness.NewLaravelAppKey()
	if err != nil {
		t.Fatal(err)
	}
	newKey, _ := harness.NewLaravelAppKey()
	strayKey, _ := harness.NewLaravelAppKey()
	app, spy, rotated := startRSLaravel(t, map[string]string{
		"APP_NAME":          "Acme Portal",
		"APP_CIPHER":        "AES-256-GCM",
		"APP_KEY":           newKey,
		"APP_PREVIOUS_KEYS": oldKey,
	}, rsOptions{NoAppKey: true, Extra: fmt.Sprintf("callers {\n\t\t\tlaravel_app_key %s\n\t\t\tlaravel_previous_keys %s\n\t\t}", newKey, oldKey)})
	current := startCaddy(t, rsLaravelSite(app, spy, rsOptions{}))
	const name, poll = "acme_portal_session", "/api/v1/records/flow/1/version"

	alice := loginAs(t, rotated, "a.localhost", "alice@example.com")
	session, xsrf := alice.Cookie(name), alice.Cookie("XSRF-TOKEN")
	if session == "" || xsrf == "" || alice.Cookie("laravel_session") != "" {
		t.Fatalf("the app's cookies are not %s and XSRF-TOKEN", name)
	}
	old := sessionUnder(t, app, name, session, oldKey)
	if !gcmPayload(old) {
		t.Fatalf("the old-key cookie is not an AES-256-GCM payload: %q", old)
	}
	oldCookie := name + "=" + url.QueryEscape(old)
	stray := name + "=" + url.QueryEscape(sessionUnder(t, app, name, session, strayKey))

	// The app: the old key's cookie is Alice's session; a stray key's is nobody's.
	r := cookieGet(t, rotated, "a.localhost", "/api/v1/me", oldCookie)
	wantStatus(t, "the old-key session at the app", r, 200)
	wantField(t, "the old-key session at the app", r, "data.name", "Alice")
	wantStatus(t, "a stray key's session at the app", cookieGet(t, rotated, "a.localhost", "/api/v1/me", stray), 401)

	// recordsync with laravel_previous_keys reads it.
	wantHeader(t, "first poll, previous keys", cookieGet(t, rotated, "a.localhost", poll, oldCookie), "X-Recordsync-Cache", "miss")
	for i := range 2 {
		r = cookieGet(t, rotated, "a.localhost", poll, oldCookie)
		wantStatus(t, fmt.Sprint("poll ", i, ", previous keys"), r, 200)
		wantHeader(t, fmt.Sprint("poll ", i, ", previous keys"), r, "X-Recordsync-Cache", "hit")
	}
	// The same session under the new key (as the app re-encrypts it) is the same caller.
	wantHeader(t, "the new-key cookie of the same session", cookieGet(t, rotated, "a.localhost", poll, name+"="+session), "X-Recordsync-Cache", "hit")
	if m := drillMetrics(t, rotated); m[`recordsync_proxy_refused_total{reason="session_unverified"}`] != 0 {
		t.Errorf("with the previous key, sessions were counted unverified: %v", refusedMetrics(m))
	}

	// Without laravel_previous_keys: not read; XSRF-TOKEN is no session either.
	both := oldCookie + "; XSRF-TOKEN=" + xsrf
	for i := range 3 {
		r = cookieGet(t, current, "a.localhost", poll, both)
		wantStatus(t, fmt.Sprint("poll ", i, ", no previous keys"), r, 200)
		wantHeader(t, fmt.Sprint("poll ", i, ", no previous keys"), r, "X-Recordsync-Cache", "miss")
	}
	if m := drillMetrics(t, current); m[`recordsync_proxy_refused_total{reason="session_unverified"}`] < 3 {
		t.Errorf("the old-key sessions are not counted unverified: %v", refusedMetrics(m))
	}
}

// TestLaravel11SanctumEcho runs e2e/node/sanctum.test.mjs: laravel-echo +
// pusher-js authorise a private and a presence channel with a Sanctum
// Bearer token through recordsync against the app's /api/broadcasting/auth
// (api + auth:sanctum, the redis broadcaster's unsigned grants, signed by
// recordsync); Carol is refused flow 2, wrong tokens are refused.
func TestLaravel11SanctumEcho(t *testing.T) {
	t.Parallel()
	_, spy, c := startRSLaravel(t, map[string]string{
		"BROADCAST_DRIVER": "redis",
		"REDIS_HOST":       "127.0.0.1",
		"REDIS_PORT":       fmt.Sprint(freePort(t)), // nobody listens: channel auth never connects
	}, rsOptions{})
	runNodeTest(t, "sanctum.test.mjs", map[string]string{
		"RS_HOST":    "127.0.0.1",
		"RS_PORT":    fmt.Sprint(c.HTTPPort),
		"RS_APP_KEY": testAppKey,
	})
	// Bob's private and presence grants and Carol's flow 1 (at least), signed
	// by recordsync: the app signs nothing with the redis broadcaster. Bob's
	// second request for flow 2 (Echo's, after the test's own) is answered
	// from the grant memory, signed without the app.
	if n := authMetric(t, c, "signed") + authMetric(t, c, "remembered"); n < 4 {
		t.Errorf("recordsync signed %v grants of /api/broadcasting/auth, want 4 or more", n)
	}
	if n := spy.Count("POST", "/api/broadcasting/auth"); n < 6 {
		t.Errorf("%d channel auth requests reached the app, want 6 or more", n)
	}
}

// userAuthSignature is the Pusher protocol's user authentication
// signature (pusher-http-php src/Pusher.php, authenticateUser):
// hex(hmac_sha256(secret, socket_id + "::user::" + user_data)).
func userAuthSignature(secret, socketID, userData string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(socketID + "::user::" + userData))
	return hex.EncodeToString(m.Sum(nil))
}

// TestLaravel11UserAuth: the app's /broadcasting/user-auth (web, session)
// and /api/broadcasting/user-auth (api, auth:sanctum), Laravel 11's
// Broadcast::userRoutes(), asked directly (a Caddy without recordsync).
// With the signonly broadcaster they answer as Laravel 11's pusher
// broadcaster does, {"auth":"key:hmac","user_data":"{\"id\":\"2\",...}"},
// the signature checked here with the Pusher formula; with the redis
// broadcaster the user array itself, unsigned. A guest gets 403 on the
// session route, a missing or wrong token 401 on the token route.
func TestLaravel11UserAuth(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"signonly", "redis"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			app := startLaravel(t, map[string]string{
				"BROADCAST_DRIVER":  driver,
				"PUSHER_APP_KEY":    testAppKey,
				"PUSHER_APP_SECRET": testAppSecret,
				"REDIS_PORT":        fmt.Sprint(freePort(t)),
			})
			c := startCaddy(t, plainLaravelSite(app))
			bob := loginAs(t, c, "a.localhost", "bob@example.com")
			api := newLaravelClient(t, c.URL(), "a.localhost")
			r := api.Do("POST", "/api/tokens", map[string]string{"email": "bob@example.com", "password": "secret"})
			wantStatus(t, "POST /api/tokens", r, 201)
			bearer := "Bearer " + gjson.GetBytes(r.Body, "data.token").String()
			const form = "application/x-www-form-urlencoded"
			const socket = "1234.5678"
			const userData = `{"id":"2","name":"Bob"}`

			for _, tc := range []struct {
				name string
				r    *laravelResponse
			}{
				{"session", bob.Do("POST", "/broadcasting/user-auth", "socket_id="+socket, "Content-Type", form)},
				{"token", api.Do("POST", "/api/broadcasting/user-auth", "socket_id="+socket, "Content-Type", form, "Authorization", bearer)},
			} {
				wantStatus(t, tc.name, tc.r, 200)
				if driver == "redis" {
					wantJSON(t, tc.name, tc.r.Body, userData)
					continue
				}
				var got struct {
					Auth     string `json:"auth"`
					UserData string `json:"user_data"`
				}
				if err := json.Unmarshal(tc.r.Body, &got); err != nil {
					t.Fatalf("%s: %v: %s", tc.name, err, tc.r.Body)
				}
				want := testAppKey + ":" + userAuthSignature(testAppSecret, socket, userData)
				if got.UserData != userData || got.Auth != want {
					t.Fatalf("%s: got %s, want auth %s and user_data %s", tc.name, tc.r.Body, want, userData)
				}
			}

			guest := newLaravelClient(t, c.URL(), "a.localhost")
			guest.Do("GET", "/login", nil, "Accept", "text/html") // a session without a user
			wantStatus(t, "a guest", guest.Do("POST", "/broadcasting/user-auth", "socket_id="+socket, "Content-Type", form), 403)
			anon := newLaravelClient(t, c.URL(), "a.localhost")
			wantStatus(t, "no token", anon.Do("POST", "/api/broadcasting/user-auth", "socket_id="+socket, "Content-Type", form), 401)
			wantStatus(t, "a wrong token", anon.Do("POST", "/api/broadcasting/user-auth", "socket_id="+socket,
				"Content-Type", form, "Authorization", bearer+"x"), 401)
			// The token route ignores the session: Bob's cookies alone are no token.
			wantStatus(t, "cookies on the token route", bob.Do("POST", "/api/broadcasting/user-auth", "socket_id="+socket, "Content-Type", form), 401)
		})
	}
}

// TestLaravel11ModelBroadcasts: the app with MODEL_BROADCASTS=1 (Flow uses
// Eloquent's BroadcastsEvents) and the redis broadcaster, recordsync with
// its redis ingress and `model App.Models.Flow`. An artisan flows:touch, a
// save the proxy never sees, reaches a subscriber of
// private-App.Models.Flow.1 as FlowUpdated exactly once (the app also sends
// record.updated for it, which recordsync must not turn into a second
// FlowUpdated), and moves recordsync's version cache: Alice's poll answers
// the new version from the cache and a write on the old one is answered 409
// at the edge.
func TestLaravel11ModelBroadcasts(t *testing.T) {
	t.Parallel()
	addr, _, _ := startRedis(t)
	_, port, _ := net.SplitHostPort(addr)
	app := startLaravel(t, map[string]string{
		"BROADCAST_DRIVER":    "redis",
		"MODEL_BROADCASTS":    "1",
		"REDIS_HOST":          "127.0.0.1",
		"REDIS_PORT":          port,
		"REDIS_TENANT_PREFIX": "1",
	})
	spy := startFCGISpy(t, app.FPMPort)
	site := rsLaravelSite(app, spy, rsOptions{FlowModel: true, Extra: fmt.Sprintf(
		"redis redis://%s/0\n\t\tredis_tenant_pattern \"tenant{tenant}_laravel_database_\"", addr)})
	// The tenant as the app's per-tenant Redis prefix carries it: a of a.localhost.
	site = strings.Replace(site, "tenant {http.request.host}\n", "tenant {http.request.host.labels.1}\n", 1)
	c := startCaddy(t, site)
	const path, poll = "/api/v1/flows/1", "/api/v1/records/flow/1/version"

	alice := loginAs(t, c, "a.localhost", "alice@example.com")
	loaded := recVersion(alice.Do("GET", path, nil))
	wantField(t, "a poll before", alice.Do("GET", poll, nil), "data.updated_at", loaded)

	ws := dialWithCookies(t, c.HTTPPort, "a.localhost", alice)
	for _, ch := range []string{"private-App.Models.Flow.1", "private-App.Models.Flow.3"} {
		if f := ws.subscribePrivate(ch, testAppKey, testAppSecret); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("%s: %+v", ch, f)
		}
	}
	var saved struct {
		UpdatedAt string `json:"updated_at"`
	}
	out := app.Artisan("--tenant=a", "flows:touch", "1", "--name=Renamed by a job", "--by=bob@example.com")
	if err := json.Unmarshal([]byte(out), &saved); err != nil || saved.UpdatedAt == "" || saved.UpdatedAt == loaded {
		t.Fatalf("flows:touch printed %q", out)
	}
	// A later save of flow 3 closes the window: whatever flow 1's save sent
	// to this socket comes before flow 3's FlowUpdated.
	out3 := app.Artisan("--tenant=a", "flows:touch", "3", "--by=bob@example.com")
	want := map[string]string{
		"private-App.Models.Flow.1": fmt.Sprintf(`{"model":{"id":1,"updated_at":%q}}`, saved.UpdatedAt),
		"private-App.Models.Flow.3": fmt.Sprintf(`{"model":{"id":3,"updated_at":%q}}`, gjson.Get(out3, "updated_at").String()),
	}
	for _, ch := range []string{"private-App.Models.Flow.1", "private-App.Models.Flow.3"} {
		f := ws.read(10 * time.Second)
		for f.Event == "pusher:ping" {
			f = ws.read(10 * time.Second)
		}
		if f.Event != "FlowUpdated" || f.Channel != ch || f.dataString() != want[ch] {
			t.Fatalf("got %s on %s: %s; want FlowUpdated on %s: %s", f.Event, f.Channel, f.dataString(), ch, want[ch])
		}
	}

	r := alice.Do("GET", poll, nil)
	wantHeader(t, "a poll after the job", r, "X-Recordsync-Cache", "hit")
	wantField(t, "a poll after the job", r, "data.updated_at", saved.UpdatedAt)
	puts := spy.Count("PUT", path)
	r = alice.Do("PUT", path, map[string]string{"name": "Alice's stale edit", "client_version": loaded})
	wantStatus(t, "a write on the old version", r, http.StatusConflict)
	wantHeader(t, "a write on the old version", r, "X-Recordsync-Cache", "hit")
	if n := spy.Count("PUT", path); n != puts {
		t.Fatalf("the stale write reached the app")
	}
}
