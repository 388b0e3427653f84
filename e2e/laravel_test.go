package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// laravelVersion is the shape of the app's record versions: updated_at in
// UTC with microseconds.
var laravelVersion = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

// plainLaravelSite serves app behind Caddy without recordsync.
func plainLaravelSite(app *laravelApp) string {
	return "http://:{PORT} {\n" + laravelSite(app) + "}\n"
}

func wantStatus(t testing.TB, what string, r *laravelResponse, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d\n%s", what, r.Status, status, r.Body)
	}
}

func wantField(t testing.TB, what string, r *laravelResponse, path, want string) {
	t.Helper()
	if got := gjson.GetBytes(r.Body, path).String(); got != want {
		t.Fatalf("%s: %s = %q, want %q\n%s", what, path, got, want, r.Body)
	}
}

func parseVersion(t testing.TB, v string) time.Time {
	t.Helper()
	if !laravelVersion.MatchString(v) {
		t.Fatalf("version %q is not ISO 8601 UTC with microseconds", v)
	}
	tm, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestLaravelAppDirect proves the example app itself, behind a plain Caddy
// (php_fastcgi only): session login, the record API with its client_version
// check (409 on a stale save), the version endpoint, permissions and tenants.
// The recordsync tests put the module in front of this same app.
func TestLaravelAppDirect(t *testing.T) {
	app := startLaravel(t, nil)
	caddy := startCaddy(t, plainLaravelSite(app))

	anon := newLaravelClient(t, caddy.URL(), "a.localhost")
	wantStatus(t, "anonymous GET flow", anon.Do("GET", "/api/v1/flows/1", nil), 401)
	wantStatus(t, "anonymous version poll", anon.Do("GET", "/api/v1/records/flow/1/version", nil), 401)
	if r := anon.Do("GET", "/flows/1", nil, "Accept", "text/html"); r.Status != http.StatusFound || !strings.HasSuffix(r.Header.Get("Location"), "/login") {
		t.Fatalf("anonymous editor page: %d to %q, want a redirect to /login", r.Status, r.Header.Get("Location"))
	}
	wrong := anon.Do("POST", "/login", map[string]string{"email": "alice@example.com", "password": "secret"})
	wantStatus(t, "login without CSRF token", wrong, 419)

	alice := newLaravelClient(t, caddy.URL(), "a.localhost")
	alice.Login("alice@example.com", "secret")
	me := alice.Do("GET", "/api/v1/me", nil)
	wantStatus(t, "me", me, 200)
	wantField(t, "me", me, "data.name", "Alice")

	// GET: the record shape, {"success":true,"data":{...}}.
	r := alice.Do("GET", "/api/v1/flows/1", nil)
	wantStatus(t, "GET flow 1", r, 200)
	wantField(t, "GET flow 1", r, "success", "true")
	wantField(t, "GET flow 1", r, "data.id", "1")
	wantField(t, "GET flow 1", r, "data.updated_by_name", "Alice")
	wantField(t, "GET flow 1", r, "data.updated_by", "1")
	if !strings.Contains(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET flow 1: Content-Type %q", r.Header.Get("Content-Type"))
	}
	loaded := gjson.GetBytes(r.Body, "data.updated_at").String()
	loadedAt := parseVersion(t, loaded)

	// Phase A: a stale client_version gets 409 from the app with the current version.
	r = alice.Do("PUT", "/api/v1/flows/1", map[string]string{"name": "Stale", "client_version": "2020-01-01T00:00:00.000000Z"})
	wantStatus(t, "PUT stale", r, 409)
	wantField(t, "PUT stale", r, "success", "false")
	wantField(t, "PUT stale", r, "message", "This record was changed by someone else.")
	wantField(t, "PUT stale", r, "data.updated_at", loaded)
	wantField(t, "PUT stale", r, "data.updated_by_id", "1")
	wantField(t, "PUT stale", r, "data.updated_by_name", "Alice")

	// The current version saves, with a new microsecond version.
	r = alice.Do("PUT", "/api/v1/flows/1", map[string]string{"name": "Onboarding v2", "description": "changed", "client_version": loaded})
	wantStatus(t, "PUT current", r, 200)
	wantField(t, "PUT current", r, "data.name", "Onboarding v2")
	wantField(t, "PUT current", r, "data.updated_by_name", "Alice")
	saved := gjson.GetBytes(r.Body, "data.updated_at").String()
	if !parseVersion(t, saved).After(loadedAt) {
		t.Fatalf("PUT current: version %s not after %s", saved, loaded)
	}
	if r.Header.Get("X-Recordsync-Broadcast") != "" {
		t.Fatalf("PUT current: X-Recordsync-Broadcast %q on a normal save", r.Header.Get("X-Recordsync-Broadcast"))
	}
	// The same instant written another way is the same version.
	sameInstant := parseVersion(t, saved).In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05.000000-07:00")
	r = alice.Do("PATCH", "/api/v1/flows/1", map[string]string{"description": "patched", "client_version": sameInstant})
	wantStatus(t, "PATCH with the version in another zone", r, 200)
	saved2 := gjson.GetBytes(r.Body, "data.updated_at").String()
	// The version Alice first loaded is stale now.
	wantStatus(t, "PUT with the first version", alice.Do("PUT", "/api/v1/flows/1", map[string]string{"name": "x", "client_version": loaded}), 409)
	wantStatus(t, "PUT with the previous version", alice.Do("PUT", "/api/v1/flows/1", map[string]string{"name": "x", "client_version": saved}), 409)

	// Bob saves without a loaded version: unchecked, and he becomes the last saver.
	bob := newLaravelClient(t, caddy.URL(), "a.localhost")
	bob.Login("bob@example.com", "secret")
	r = bob.Do("PUT", "/api/v1/flows/1", map[string]string{"description": "Bob was here"})
	wantStatus(t, "PUT without client_version", r, 200)
	wantField(t, "PUT without client_version", r, "data.updated_by_name", "Bob")
	wantField(t, "PUT without client_version", r, "data.updated_by", "2")
	current := gjson.GetBytes(r.Body, "data.updated_at").String()
	if current == saved2 {
		t.Fatalf("unconditional PUT kept the version %s", current)
	}
	r = alice.Do("PUT", "/api/v1/flows/1", map[string]string{"name": "x", "client_version": saved2})
	wantStatus(t, "Alice's stale save after Bob's", r, 409)
	wantField(t, "Alice's stale save after Bob's", r, "data.updated_by_name", "Bob")
	wantField(t, "Alice's stale save after Bob's", r, "data.updated_at", current)

	// Validation errors are JSON.
	r = alice.Do("PUT", "/api/v1/flows/1", map[string]string{"name": ""})
	wantStatus(t, "PUT empty name", r, 422)
	wantField(t, "PUT empty name", r, "success", "false")

	// Version polls.
	r = alice.Do("GET", "/api/v1/records/flow/1/version", nil)
	wantStatus(t, "version", r, 200)
	if got := gjson.GetBytes(r.Body, "data").Raw; got != fmt.Sprintf(`{"updated_at":%q,"updated_by_name":"Bob"}`, current) {
		t.Fatalf("version: data = %s", got)
	}
	wantStatus(t, "version of an unknown type", alice.Do("GET", "/api/v1/records/nope/1/version", nil), 404)
	wantStatus(t, "version of a missing flow", alice.Do("GET", "/api/v1/records/flow/999/version", nil), 404)
	wantStatus(t, "missing flow", alice.Do("GET", "/api/v1/flows/999", nil), 404)

	// Imports save and tell the proxy not to broadcast.
	r = alice.Do("PUT", "/api/v1/flows/3", map[string]string{"description": "imported"}, "X-Import", "1")
	wantStatus(t, "import", r, 200)
	if got := r.Header.Get("X-Recordsync-Broadcast"); got != "skip" {
		t.Fatalf("import: X-Recordsync-Broadcast = %q, want skip", got)
	}

	// Tasks: the list, one task, its guard, its version, and its project scope.
	r = alice.Do("GET", "/api/v1/projects/1/tasks", nil)
	wantStatus(t, "task list", r, 200)
	if n := len(gjson.GetBytes(r.Body, "data").Array()); n != 4 {
		t.Fatalf("task list: %d tasks, want 4\n%s", n, r.Body)
	}
	r = alice.Do("GET", "/api/v1/projects/1/tasks/2", nil)
	wantStatus(t, "GET task", r, 200)
	wantField(t, "GET task", r, "data.project_id", "1")
	taskVersion := gjson.GetBytes(r.Body, "data.updated_at").String()
	parseVersion(t, taskVersion)
	wantStatus(t, "PUT task stale", alice.Do("PATCH", "/api/v1/projects/1/tasks/2", map[string]string{"status": "done", "client_version": "2020-01-01T00:00:00.000000Z"}), 409)
	r = alice.Do("PATCH", "/api/v1/projects/1/tasks/2", map[string]string{"status": "done", "client_version": taskVersion})
	wantStatus(t, "PATCH task", r, 200)
	wantField(t, "PATCH task", r, "data.status", "done")
	r2 := alice.Do("GET", "/api/v1/records/projecttask/2/version", nil)
	wantStatus(t, "task version", r2, 200)
	wantField(t, "task version", r2, "data.updated_at", gjson.GetBytes(r.Body, "data.updated_at").String())
	wantStatus(t, "task under another project", alice.Do("GET", "/api/v1/projects/2/tasks/2", nil), 404)
	wantStatus(t, "bad task status", alice.Do("PATCH", "/api/v1/projects/1/tasks/2", map[string]string{"status": "lost"}), 422)

	// Carol (role guest) may not see flow 2 or project 2, in any form.
	carol := newLaravelClient(t, caddy.URL(), "a.localhost")
	carol.Login("carol@example.com", "secret")
	wantStatus(t, "Carol GET flow 1", carol.Do("GET", "/api/v1/flows/1", nil), 200)
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/flows/2"},
		{"PUT", "/api/v1/flows/2"},
		{"GET", "/api/v1/records/flow/2/version"},
		{"GET", "/api/v1/projects/2/tasks"},
		{"GET", "/api/v1/projects/2/tasks/5"},
		{"PATCH", "/api/v1/projects/2/tasks/5"},
		{"GET", "/api/v1/records/projecttask/5/version"},
	} {
		var body any
		if c.method != "GET" {
			body = map[string]string{"name": "Carol's", "title": "Carol's"}
		}
		r := carol.Do(c.method, c.path, body)
		wantStatus(t, "Carol "+c.method+" "+c.path, r, 403)
		if strings.Contains(string(r.Body), "updated_at") {
			t.Fatalf("Carol %s %s: the refusal leaks the version: %s", c.method, c.path, r.Body)
		}
	}
	wantStatus(t, "Carol's editor page for flow 2", carol.Do("GET", "/flows/2", nil, "Accept", "text/html"), 403)
	if r := carol.Do("GET", "/api/v1/flows", nil); r.Status != 200 || gjson.GetBytes(r.Body, "data.#.id").Raw != "[1,3]" {
		t.Fatalf("Carol's flow list: %d %s, want flows 1 and 3", r.Status, gjson.GetBytes(r.Body, "data.#.id").Raw)
	}

	// Pages render.
	for _, p := range []string{"/", "/flows/1", "/projects/1"} {
		r := alice.Do("GET", p, nil, "Accept", "text/html")
		wantStatus(t, "page "+p, r, 200)
		if !strings.Contains(string(r.Body), `<script src="/ws/recordsync.js"></script>`) {
			t.Fatalf("page %s does not load the browser kit", p)
		}
	}
	if r := alice.Do("GET", "/flows/1", nil, "Accept", "text/html"); !strings.Contains(string(r.Body), `name="client_version" value="`+current+`"`) {
		t.Fatalf("editor page does not carry the loaded version %s", current)
	}

	// Tenants: the same ids, different records; a session is only good in its tenant.
	bobB := newLaravelClient(t, caddy.URL(), "b.localhost")
	bobB.Login("bob@example.com", "secret")
	r = bobB.Do("GET", "/api/v1/flows/1", nil)
	wantStatus(t, "tenant b flow 1", r, 200)
	wantField(t, "tenant b flow 1", r, "data.name", "Customer onboarding (b)")
	wantField(t, "tenant b flow 1", r, "data.updated_by_name", "Alice")
	if v := gjson.GetBytes(r.Body, "data.updated_at").String(); v == current {
		t.Fatalf("tenant b's flow 1 has tenant a's version %s", v)
	}
	aSession := alice.Cookie("laravel_session")
	cross := newLaravelClient(t, caddy.URL(), "b.localhost")
	r = cross.Do("GET", "/api/v1/flows/1", nil, "Cookie", "laravel_session="+aSession)
	wantStatus(t, "tenant a's session in tenant b", r, 401)
	wantStatus(t, "unknown tenant", newLaravelClient(t, caddy.URL(), "zz.localhost").Do("GET", "/api/v1/flows/1", nil), 404)
	def := newLaravelClient(t, caddy.URL(), "")
	def.Login("alice@example.com", "secret")
	wantField(t, "default tenant", def.Do("GET", "/api/v1/flows/1", nil), "data.name", "Customer onboarding (default)")

	// Logout ends the session.
	wantStatus(t, "logout", bob.Do("POST", "/logout", nil, "X-CSRF-TOKEN", gjson.GetBytes(bob.Do("GET", "/api/v1/me", nil).Body, "data.csrf_token").String()), 200)
	wantStatus(t, "after logout", bob.Do("GET", "/api/v1/flows/1", nil), 401)

	// Latency of a record GET through Caddy → php-fpm → Laravel → SQLite.
	const n = 50
	durations := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		r := alice.Do("GET", "/api/v1/flows/1", nil)
		durations = append(durations, time.Since(start))
		wantStatus(t, "GET flow 1 (timed)", r, 200)
	}
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	var sum time.Duration
	for _, d := range durations {
		sum += d
	}
	t.Logf("GET /api/v1/flows/1 through plain Caddy + php-fpm (Laravel 8, SQLite), %d sequential: mean %v, p50 %v, p90 %v, max %v",
		n, (sum / n).Round(10*time.Microsecond), durations[n/2].Round(10*time.Microsecond),
		durations[n*9/10].Round(10*time.Microsecond), durations[n-1].Round(10*time.Microsecond))
}

// TestLaravelAppRacyGuard shows why the proxy must serialise writes: with
// RACY_GUARD_SLEEP_MS the app's own check-then-write lets several writers
// that loaded the same version all succeed (lost updates).
func TestLaravelAppRacyGuard(t *testing.T) {
	app := startLaravel(t, map[string]string{"RACY_GUARD_SLEEP_MS": "300"})
	caddy := startCaddy(t, plainLaravelSite(app))
	alice := newLaravelClient(t, caddy.URL(), "a.localhost")
	alice.Login("alice@example.com", "secret")
	loaded := gjson.GetBytes(alice.Do("GET", "/api/v1/flows/1", nil).Body, "data.updated_at").String()

	const writers = 4 // php-fpm's pool size
	var wg sync.WaitGroup
	statuses := make([]int, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = alice.Do("PUT", "/api/v1/flows/1", map[string]string{"name": fmt.Sprint("writer ", i), "client_version": loaded}).Status
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == 200 {
			ok++
		}
	}
	if ok < 2 {
		t.Fatalf("statuses %v: the racy app let %d writer(s) through, want several (is RACY_GUARD_SLEEP_MS applied?)", statuses, ok)
	}
	t.Logf("racy app without recordsync: %d of %d writers with the same loaded version succeeded (%v)", ok, writers, statuses)
}

// TestLaravelAppBroadcasts checks what the app publishes with Laravel's redis
// broadcaster (what recordsync's Redis ingress reads): the model observer's
// record.updated and task.updated with their payload (app/Events), toOthers'
// socket, tab ids, per-tenant prefixes, no broadcast for imports, artisan
// saves, channel authorisation, and saves that still succeed while Redis is
// down.
func TestLaravelAppBroadcasts(t *testing.T) {
	addr, stopRedis, startRedisAgain := startRedis(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	app := startLaravel(t, map[string]string{
		"BROADCAST_DRIVER":        "redis",
		"BROADCAST_FROM_OBSERVER": "1",
		"REDIS_HOST":              "127.0.0.1",
		"REDIS_PORT":              port,
		"REDIS_TENANT_PREFIX":     "1",
	})
	caddy := startCaddy(t, plainLaravelSite(app))
	sub := redisPSubscribe(t, addr, "tenant*")

	type event struct {
		Event  string          `json:"event"`
		Data   json.RawMessage `json:"data"`
		Socket *string         `json:"socket"`
	}
	next := func(what string) (redisMessage, event) {
		t.Helper()
		msg, ok := sub.Next(5 * time.Second)
		if !ok {
			t.Fatalf("%s: nothing published\n%s", what, app.Logs())
		}
		var ev event
		if err := json.Unmarshal([]byte(msg.Payload), &ev); err != nil {
			t.Fatalf("%s: payload %q: %v", what, msg.Payload, err)
		}
		return msg, ev
	}

	bob := newLaravelClient(t, caddy.URL(), "a.localhost")
	bob.Login("bob@example.com", "secret")
	r := bob.Do("PUT", "/api/v1/flows/1", map[string]string{"name": "Broadcast me"}, "X-Socket-ID", "123.456", "X-Tab-ID", "tab_bob1")
	wantStatus(t, "PUT flow", r, 200)
	version := gjson.GetBytes(r.Body, "data.updated_at").String()
	msg, ev := next("PUT flow")
	if msg.Channel != "tenanta_laravel_database_private-record.flow.1" || ev.Event != "record.updated" {
		t.Fatalf("PUT flow: published %s on %s", ev.Event, msg.Channel)
	}
	if ev.Socket == nil || *ev.Socket != "123.456" {
		t.Fatalf("PUT flow: socket = %v, want the request's X-Socket-ID (toOthers)", ev.Socket)
	}
	want := fmt.Sprintf(`{"tenant_id":"a","record_type":"flow","record_id":1,"updated_at_iso":%q,"updated_by_id":2,"updated_by_name":"Bob","tab_id":"%s","socket":"123.456"}`, version, tabTagOf("tab_bob1"))
	if string(ev.Data) != want {
		t.Fatalf("PUT flow: data\n%s\nwant\n%s", ev.Data, want)
	}
	if len(msg.Payload) > 1024 {
		t.Fatalf("payload is %d bytes, over 1 KB", len(msg.Payload))
	}

	// A task: its record channel and its project's list channel.
	r = bob.Do("PATCH", "/api/v1/projects/1/tasks/3", map[string]string{"status": "done"})
	wantStatus(t, "PATCH task", r, 200)
	got := map[string]event{}
	for range 2 {
		msg, ev := next("PATCH task")
		got[msg.Channel] = ev
	}
	if ev, ok := got["tenanta_laravel_database_private-record.projecttask.3"]; !ok || ev.Event != "record.updated" {
		t.Fatalf("PATCH task: no record.updated on the task's channel: %v", got)
	}
	list, ok := got["tenanta_laravel_database_private-project.1"]
	if !ok || list.Event != "task.updated" || gjson.GetBytes(list.Data, "task_id").Int() != 3 ||
		gjson.GetBytes(list.Data, "record_type").String() != "projecttask" || list.Socket != nil {
		t.Fatalf("PATCH task: list event %+v (data %s)", list, list.Data)
	}

	// An import is saved and not broadcast; the next message is tenant b's.
	wantStatus(t, "import", bob.Do("PUT", "/api/v1/flows/1", map[string]string{"name": "Imported"}, "X-Import", "1"), 200)
	bobB := newLaravelClient(t, caddy.URL(), "b.localhost")
	bobB.Login("bob@example.com", "secret")
	wantStatus(t, "PUT flow in b", bobB.Do("PUT", "/api/v1/flows/1", map[string]string{"name": "In b"}), 200)
	msg, ev = next("PUT flow in b")
	if msg.Channel != "tenantb_laravel_database_private-record.flow.1" || gjson.GetBytes(ev.Data, "tenant_id").String() != "b" {
		t.Fatalf("after an import: got %s on %s (an import must not broadcast)", ev.Data, msg.Channel)
	}

	// A save the proxy never sees: artisan.
	out := app.Artisan("--tenant=a", "flows:touch", "2", "--name=From artisan", "--by=alice@example.com")
	msg, ev = next("flows:touch")
	if msg.Channel != "tenanta_laravel_database_private-record.flow.2" || ev.Socket != nil ||
		gjson.GetBytes(ev.Data, "updated_by_name").String() != "Alice" ||
		gjson.GetBytes(ev.Data, "updated_at_iso").String() != gjson.Get(out, "updated_at").String() {
		t.Fatalf("flows:touch: got %s on %s; command printed %s", ev.Data, msg.Channel, out)
	}

	// Channel authorisation (routes/channels.php) with the redis broadcaster's answers.
	auth := func(c *laravelClient, channel string) *laravelResponse {
		return c.Do("POST", "/broadcasting/auth", "socket_id=1.2&channel_name="+channel,
			"Content-Type", "application/x-www-form-urlencoded")
	}
	r = auth(bob, "private-record.flow.2")
	wantStatus(t, "auth private", r, 200)
	if strings.TrimSpace(string(r.Body)) != "true" {
		t.Fatalf("auth private: %s, want true", r.Body)
	}
	r = auth(bob, "presence-record.flow.1")
	wantStatus(t, "auth presence", r, 200)
	if got := gjson.GetBytes(r.Body, "channel_data").Raw; got != `{"user_id":2,"user_info":{"id":2,"name":"Bob"}}` {
		t.Fatalf("auth presence: %s", r.Body)
	}
	wantStatus(t, "auth project", auth(bob, "private-project.2"), 200)
	carol := newLaravelClient(t, caddy.URL(), "a.localhost")
	carol.Login("carol@example.com", "secret")
	wantStatus(t, "Carol auth flow 1", auth(carol, "private-record.flow.1"), 200)
	for _, ch := range []string{"private-record.flow.2", "presence-record.flow.2", "private-project.2", "private-record.projecttask.5", "private-record.nope.1"} {
		wantStatus(t, "Carol auth "+ch, auth(carol, ch), 403)
	}
	wantStatus(t, "anonymous auth", auth(newLaravelClient(t, caddy.URL(), "a.localhost"), "private-record.flow.1"), 403)

	// Redis down: saves still succeed; back up: broadcasts resume.
	stopRedis()
	wantStatus(t, "PUT with Redis down", bob.Do("PUT", "/api/v1/flows/3", map[string]string{"name": "Redis is down"}), 200)
	startRedisAgain()
	sub = redisPSubscribe(t, addr, "tenant*")
	wantStatus(t, "PUT with Redis back", bob.Do("PUT", "/api/v1/flows/3", map[string]string{"name": "Redis is back"}), 200)
	msg, _ = next("PUT with Redis back")
	if msg.Channel != "tenanta_laravel_database_private-record.flow.3" {
		t.Fatalf("after Redis came back: published on %s", msg.Channel)
	}
}
