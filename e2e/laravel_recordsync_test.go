package e2e

// End-to-end tests of the proxy (stale writes stopped at the edge, version
// polls answered from memory) and of its broadcasts through the REAL example
// Laravel app: Caddy with recordsync → php_fastcgi → php-fpm →
// Laravel 8 → SQLite. Between Caddy and php-fpm sits fcgiSpy, a FastCGI
// forwarder that records every request that reached PHP (method, URI, body),
// so the tests can prove what recordsync answered itself and what it passed
// on byte for byte.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// ---------------------------------------------------------------------------
// FastCGI spy

// fcgiRequest is one request that reached php-fpm.
type fcgiRequest struct {
	Method, URI string
	Params      map[string]string
	Body        []byte
}

// fcgiSpy forwards FastCGI connections from Caddy to php-fpm unchanged and
// decodes what Caddy sends (FCGI_PARAMS, FCGI_STDIN) to record each request.
type fcgiSpy struct {
	t      testing.TB
	ln     net.Listener
	Port   int
	target string

	mu   sync.Mutex
	reqs []fcgiRequest
}

// startFCGISpy listens on a free loopback port and forwards to php-fpm at
// 127.0.0.1:fpmPort until the test ends.
func startFCGISpy(t testing.TB, fpmPort int) *fcgiSpy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fcgiSpy{t: t, ln: ln, Port: ln.Addr().(*net.TCPAddr).Port, target: fmt.Sprintf("127.0.0.1:%d", fpmPort)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *fcgiSpy) serve(client net.Conn) {
	defer client.Close()
	up, err := net.DialTimeout("tcp", s.target, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		io.Copy(client, up)
		client.Close()
	}()
	s.forward(client, up)
}

// forward copies FastCGI records (header: version, type, request id, content
// length, padding length, reserved) from the web server to php-fpm one by
// one, and records a request when its empty FCGI_STDIN record (end of body)
// passes — before that record is forwarded, so a request is always recorded
// by the time PHP can answer it.
func (s *fcgiSpy) forward(client io.Reader, up io.Writer) {
	const (
		typeParams = 4
		typeStdin  = 5
	)
	type pending struct {
		params bytes.Buffer
		body   bytes.Buffer
	}
	reqs := map[uint16]*pending{}
	br := bufio.NewReader(client)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		typ, id := hdr[1], binary.BigEndian.Uint16(hdr[2:4])
		rest := make([]byte, int(binary.BigEndian.Uint16(hdr[4:6]))+int(hdr[6]))
		if _, err := io.ReadFull(br, rest); err != nil {
			return
		}
		content := rest[:binary.BigEndian.Uint16(hdr[4:6])]
		p := reqs[id]
		if p == nil {
			p = &pending{}
			reqs[id] = p
		}
		switch typ {
		case typeParams:
			p.params.Write(content)
		case typeStdin:
			if len(content) > 0 {
				p.body.Write(content)
				break
			}
			params := decodeFCGIParams(p.params.Bytes())
			s.mu.Lock()
			s.reqs = append(s.reqs, fcgiRequest{
				Method: params["REQUEST_METHOD"], URI: params["REQUEST_URI"],
				Params: params, Body: append([]byte(nil), p.body.Bytes()...),
			})
			s.mu.Unlock()
			delete(reqs, id)
		}
		if _, err := up.Write(hdr[:]); err != nil {
			return
		}
		if _, err := up.Write(rest); err != nil {
			return
		}
	}
}

// decodeFCGIParams decodes FastCGI name-value pairs (lengths of 1 byte, or
// 4 bytes with the high bit set).
func decodeFCGIParams(b []byte) map[string]string {
	m := map[string]string{}
	length := func() (int, bool) {
		if len(b) == 0 {
			return 0, false
		}
		if b[0]&0x80 == 0 {
			n := int(b[0])
			b = b[1:]
			return n, true
		}
		if len(b) < 4 {
			return 0, false
		}
		n := int(binary.BigEndian.Uint32(b) & 0x7fffffff)
		b = b[4:]
		return n, true
	}
	for len(b) > 0 {
		nl, ok1 := length()
		vl, ok2 := length()
		if !ok1 || !ok2 || nl+vl > len(b) {
			return m
		}
		m[string(b[:nl])] = string(b[nl : nl+vl])
		b = b[nl+vl:]
	}
	return m
}

// Requests returns a copy of what reached PHP so far.
func (s *fcgiSpy) Requests() []fcgiRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fcgiRequest(nil), s.reqs...)
}

// Count is how many requests with method to exactly path (without query)
// reached PHP so far.
func (s *fcgiSpy) Count(method, path string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.SplitN(r.URI, "?", 2)[0] == path {
			n++
		}
	}
	return n
}

// Last returns the last request with method to path that reached PHP.
func (s *fcgiSpy) Last(method, path string) (fcgiRequest, bool) {
	reqs := s.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == method && strings.SplitN(reqs[i].URI, "?", 2)[0] == path {
			return reqs[i], true
		}
	}
	return fcgiRequest{}, false
}

// ---------------------------------------------------------------------------
// Sites

// rsOptions varies the recordsync block of rsLaravelSite.
type rsOptions struct {
	// NoAppKey leaves out laravel_app_key (callers are then keyed on the raw
	// session cookie, which Laravel re-encrypts on every response).
	NoAppKey bool
	// Extra lines inside the recordsync block, e.g. "conflict_status 412".
	Extra string
	// MergePatches turns merge_patches on for flows.
	MergePatches bool
	// FlowModel announces flows as App.Models.Flow model broadcasts.
	FlowModel bool
	// Inertia reads flows also from the example app's Inertia pages
	// (/inertia/flows/{id}, the record in props.flow).
	Inertia bool
	// Build, when set, is a folder Caddy serves at /build/ in front of the
	// app (pages the tests bundle, as a Vite build would put them in
	// public/build/).
	Build string
}

// rsLaravelSite is the Caddyfile site of these tests: recordsync with the
// example app's record routes, tenant = host, the hub on, in front of the
// app through the spy.
func rsLaravelSite(app *laravelApp, spy *fcgiSpy, o rsOptions) string {
	var b strings.Builder
	b.WriteString("http://:{PORT} {\n\trecordsync {\n")
	b.WriteString("\t\ttenant {http.request.host}\n")
	b.WriteString("\t\tupdated_by_id data.updated_by\n")
	b.WriteString("\t\tupdated_by_name data.updated_by_name\n")
	b.WriteString("\t\trecord flow /api/v1/flows/{id} {\n")
	if o.MergePatches {
		b.WriteString("\t\t\tmerge_patches\n")
	}
	if o.FlowModel {
		b.WriteString("\t\t\tmodel App.Models.Flow\n")
	}
	if o.Inertia {
		b.WriteString("\t\t\tinertia flow /inertia/flows/{id}\n")
	}
	b.WriteString("\t\t}\n")
	b.WriteString("\t\trecord projecttask /api/v1/projects/{project}/tasks/{id} {\n\t\t\tlist project.{project} task.updated task_id\n\t\t}\n")
	if !o.NoAppKey {
		fmt.Fprintf(&b, "\t\tlaravel_app_key %s\n", app.AppKey)
	}
	fmt.Fprintf(&b, "\t\tapp_id %s\n\t\tapp_key %s\n\t\tapp_secret %s\n", testAppID, testAppKey, testAppSecret)
	b.WriteString("\t\timport_header X-Import\n")
	if o.Extra != "" {
		b.WriteString("\t\t" + o.Extra + "\n")
	}
	b.WriteString("\t}\n")
	fmt.Fprintf(&b, "\troot * %q\n\tphp_fastcgi 127.0.0.1:%d\n", app.Root, spy.Port)
	b.WriteString("}\n")
	if o.Build == "" {
		return b.String()
	}
	// The app's directives in a handle of their own, after /build/.
	site := b.String()
	head := "http://:{PORT} {\n"
	return head + fmt.Sprintf("\thandle_path /build/* {\n\t\troot * %q\n\t\tfile_server\n\t}\n\thandle {\n", o.Build) +
		strings.TrimSuffix(strings.TrimPrefix(site, head), "}\n") + "\t}\n}\n"
}

// startRSLaravel starts the example app (with env), the spy and a Caddy with
// recordsync in front of them.
func startRSLaravel(t *testing.T, env map[string]string, o rsOptions) (*laravelApp, *fcgiSpy, *caddyProc) {
	t.Helper()
	app := startLaravel(t, env)
	spy := startFCGISpy(t, app.FPMPort)
	return app, spy, startCaddy(t, rsLaravelSite(app, spy, o))
}

// ---------------------------------------------------------------------------
// Helpers

func recVersion(r *laravelResponse) string { return gjson.GetBytes(r.Body, "data.updated_at").String() }

func etagOf(v string) string { return `"` + v + `"` }

func wantHeader(t testing.TB, what string, r *laravelResponse, name, want string) {
	t.Helper()
	if got := r.Header.Get(name); got != want {
		t.Fatalf("%s: header %s = %q, want %q\n%s", what, name, got, want, r.Body)
	}
}

// wantJSON compares a body with the JSON want, ignoring key order and spacing.
// withFields adds members (JSON text, e.g. `"a":1,"b":2`) to the data
// object of a conflict body.
func withFields(t testing.TB, body []byte, members string) string {
	t.Helper()
	s := strings.TrimSpace(string(body))
	if !strings.HasSuffix(s, "}}") {
		t.Fatalf("conflict body %s does not end with its data object", body)
	}
	return s[:len(s)-2] + "," + members + "}}"
}

func wantJSON(t testing.TB, what string, body []byte, want string) {
	t.Helper()
	var got, exp any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: body is not JSON (%v): %s", what, err, body)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("%s: bad expectation %s: %v", what, want, err)
	}
	g, _ := json.Marshal(got)
	e, _ := json.Marshal(exp)
	if !bytes.Equal(g, e) {
		t.Fatalf("%s: body\n%s\nwant\n%s", what, body, want)
	}
}

// noVersionLeak fails when an answer to a caller who may not see a record
// carries a version or a name.
func noVersionLeak(t testing.TB, what string, r *laravelResponse) {
	t.Helper()
	if bytes.Contains(r.Body, []byte("updated_at")) || bytes.Contains(r.Body, []byte("updated_by")) || r.Header.Get("ETag") != "" {
		t.Fatalf("%s: the answer leaks a version: ETag %q, body %s", what, r.Header.Get("ETag"), r.Body)
	}
}

// tryDo is laravelClient.Do for goroutines: it returns an error instead of
// failing the test (t.Fatal must not be called off the test's goroutine).
func tryDo(c *laravelClient, method, path string, body any, headers ...string) (*laravelResponse, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &laravelResponse{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// login makes a client of host on c and logs it in as the user.
func loginAs(t testing.TB, c *caddyProc, host, email string) *laravelClient {
	t.Helper()
	cl := newLaravelClient(t, c.URL(), host)
	cl.Login(email, "secret")
	return cl
}

// ---------------------------------------------------------------------------
// Tests

// TestRecordsyncLaravelLearning: versions are learned from the app's record
// answers and come back as ETags, on GET and on a successful PUT/PATCH, for
// both record types.
func TestRecordsyncLaravelLearning(t *testing.T) {
	_, spy, c := startRSLaravel(t, nil, rsOptions{})
	alice := loginAs(t, c, "a.localhost", "alice@example.com")

	for _, tc := range []struct{ path, method string }{
		{"/api/v1/flows/1", "PUT"},
		{"/api/v1/projects/1/tasks/2", "PATCH"},
	} {
		r := alice.Do("GET", tc.path, nil)
		wantStatus(t, "GET "+tc.path, r, 200)
		loaded := recVersion(r)
		parseVersion(t, loaded)
		wantHeader(t, "GET "+tc.path, r, "ETag", etagOf(loaded))

		body := map[string]string{"client_version": loaded}
		if strings.Contains(tc.path, "tasks") {
			body["status"] = "doing"
		} else {
			body["name"] = "Learned"
		}
		before := spy.Count(tc.method, tc.path)
		r = alice.Do(tc.method, tc.path, body)
		wantStatus(t, tc.method+" current "+tc.path, r, 200)
		saved := recVersion(r)
		if !parseVersion(t, saved).After(parseVersion(t, loaded)) {
			t.Fatalf("%s %s: version %s not after %s", tc.method, tc.path, saved, loaded)
		}
		wantHeader(t, tc.method+" "+tc.path, r, "ETag", etagOf(saved))
		wantHeader(t, tc.method+" "+tc.path, r, "X-Recordsync-Cache", "")
		if spy.Count(tc.method, tc.path) != before+1 {
			t.Fatalf("%s %s with the current version did not reach the app", tc.method, tc.path)
		}
		wantHeader(t, "GET after save "+tc.path, alice.Do("GET", tc.path, nil), "ETag", etagOf(saved))
	}
	// A list answer has no single version: no ETag.
	wantHeader(t, "GET list", alice.Do("GET", "/api/v1/flows", nil), "ETag", "")
}

// TestRecordsyncLaravelGuard: Bob saves, Alice's stale save is answered 409
// by the proxy itself (X-Recordsync-Cache: hit), in the app's own shape with
// Bob's name, and never reaches PHP; with client_version, If-Match or both;
// and 412 with conflict_status 412.
func TestRecordsyncLaravelGuard(t *testing.T) {
	app, spy, c := startRSLaravel(t, nil, rsOptions{})
	const path = "/api/v1/flows/1"
	alice := loginAs(t, c, "a.localhost", "alice@example.com")
	bob := loginAs(t, c, "a.localhost", "bob@example.com")

	stale := recVersion(alice.Do("GET", path, nil))
	if v := recVersion(bob.Do("GET", path, nil)); v != stale {
		t.Fatalf("Alice and Bob loaded different versions %s, %s", stale, v)
	}
	r := bob.Do("PUT", path, map[string]string{"name": "Bob's name", "client_version": stale})
	wantStatus(t, "Bob's save", r, 200)
	current := recVersion(r)

	// The app's own 409 for the same stale write, from a session the proxy
	// has not seen authorised yet (so it goes upstream): the reference shape.
	fresh := loginAs(t, c, "a.localhost", "alice@example.com")
	appConflict := fresh.Do("PUT", path, map[string]string{"name": "x", "client_version": stale})
	wantStatus(t, "the app's own conflict", appConflict, 409)
	wantHeader(t, "the app's own conflict", appConflict, "X-Recordsync-Cache", "")
	wantJSON(t, "the app's own conflict", appConflict.Body, fmt.Sprintf(
		`{"success":false,"message":"This record was changed by someone else.","data":{"updated_at":%q,"updated_by_id":2,"updated_by_name":"Bob"}}`, current))

	putsBefore := spy.Count("PUT", path) + spy.Count("PATCH", path)
	for _, tc := range []struct {
		name    string
		method  string
		body    map[string]string
		headers []string
	}{
		{"client_version", "PUT", map[string]string{"name": "Alice's", "client_version": stale}, nil},
		{"If-Match", "PUT", map[string]string{"name": "Alice's"}, []string{"If-Match", etagOf(stale)}},
		{"If-Match and client_version", "PATCH", map[string]string{"name": "Alice's", "client_version": stale}, []string{"If-Match", etagOf(stale)}},
		{"weak If-Match", "PUT", map[string]string{"name": "Alice's"}, []string{"If-Match", "W/" + etagOf(stale)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := alice.Do(tc.method, path, tc.body, tc.headers...)
			wantStatus(t, "Alice's stale save", r, 409)
			wantHeader(t, "Alice's stale save", r, "X-Recordsync-Cache", "hit")
			wantHeader(t, "Alice's stale save", r, "ETag", etagOf(current))
			// The app's own shape, and what the edge knows of the fields:
			// Bob changed name since Alice's version, her body changes it
			// too.
			wantJSON(t, "Alice's stale save", r.Body, withFields(t, appConflict.Body,
				`"changed_fields":["name"],"your_fields":["name"],"overlapping_fields":["name"]`))
		})
	}
	if n := spy.Count("PUT", path) + spy.Count("PATCH", path); n != putsBefore {
		t.Fatalf("%d stale write(s) reached PHP; the proxy must answer them itself", n-putsBefore)
	}
	r = alice.Do("GET", path, nil)
	wantField(t, "after the stale saves", r, "data.name", "Bob's name")
	wantField(t, "after the stale saves", r, "data.updated_at", current)

	// Alice reloads and saves with the current version: through to the app.
	r = alice.Do("PUT", path, map[string]string{"name": "Alice's, after reloading"}, "If-Match", etagOf(current))
	wantStatus(t, "Alice's save with the current version", r, 200)
	wantField(t, "Alice's save with the current version", r, "data.updated_by_name", "Alice")

	// conflict_status 412, on its own Caddy in front of the same app.
	c412 := startCaddy(t, rsLaravelSite(app, spy, rsOptions{Extra: "conflict_status 412"}))
	alice412 := loginAs(t, c412, "a.localhost", "alice@example.com")
	bob412 := loginAs(t, c412, "a.localhost", "bob@example.com")
	stale = recVersion(alice412.Do("GET", path, nil))
	bob412.Do("GET", path, nil)
	r = bob412.Do("PUT", path, map[string]string{"name": "Bob again"}, "If-Match", etagOf(stale))
	wantStatus(t, "Bob's save (412 site)", r, 200)
	current = recVersion(r)
	putsBefore = spy.Count("PUT", path)
	r = alice412.Do("PUT", path, map[string]string{"name": "Alice's"}, "If-Match", etagOf(stale))
	wantStatus(t, "Alice's stale save (412 site)", r, 412)
	wantHeader(t, "Alice's stale save (412 site)", r, "X-Recordsync-Cache", "hit")
	wantHeader(t, "Alice's stale save (412 site)", r, "ETag", etagOf(current))
	wantField(t, "Alice's stale save (412 site)", r, "data.updated_by_name", "Bob")
	if spy.Count("PUT", path) != putsBefore {
		t.Fatal("the stale write reached PHP on the 412 site")
	}
}

// TestRecordsyncLaravelPermissions: Carol may not see flow 2. Her stale write
// gets the APP's 403, never a 409 from the cache, and no answer she gets
// carries a version; her polls get 403; anonymous callers get the app's 401.
func TestRecordsyncLaravelPermissions(t *testing.T) {
	_, spy, c := startRSLaravel(t, nil, rsOptions{})
	const path, poll = "/api/v1/flows/2", "/api/v1/records/flow/2/version"
	alice := loginAs(t, c, "a.localhost", "alice@example.com")
	stale := recVersion(alice.Do("GET", path, nil))
	r := alice.Do("PUT", path, map[string]string{"name": "Restricted, changed", "client_version": stale})
	wantStatus(t, "Alice's save of flow 2", r, 200)
	wantStatus(t, "Alice's poll of flow 2", alice.Do("GET", poll, nil), 200) // the cache has flow 2's version

	carol := loginAs(t, c, "a.localhost", "carol@example.com")
	anon := newLaravelClient(t, c.URL(), "a.localhost")
	const appForbidden = `{"success":false,"message":"You do not have access to this record."}`
	for _, tc := range []struct {
		name    string
		client  *laravelClient
		method  string
		path    string
		body    any
		headers []string
		status  int
		cache   string // X-Recordsync-Cache
		body2   string // exact JSON body, if set
		upTo    bool   // must reach PHP
	}{
		{"Carol PUT stale client_version", carol, "PUT", path, map[string]string{"name": "Carol's", "client_version": stale}, nil, 403, "", appForbidden, true},
		{"Carol PUT stale If-Match", carol, "PUT", path, map[string]string{"name": "Carol's"}, []string{"If-Match", etagOf(stale)}, 403, "", appForbidden, true},
		{"Carol GET", carol, "GET", path, nil, nil, 403, "", appForbidden, true},
		// The app's 403s to her write and GET are remembered: her poll is refused without PHP.
		{"Carol's poll after the app's refusals", carol, "GET", poll, nil, nil, 403, "hit", "", false},
		// A record she never asked for: the first poll asks the app, the next is remembered.
		{"Carol's first poll of task 5", carol, "GET", "/api/v1/records/projecttask/5/version", nil, nil, 403, "miss", appForbidden, true},
		{"Carol's second poll of task 5", carol, "GET", "/api/v1/records/projecttask/5/version", nil, nil, 403, "hit", "", false},
		{"Carol PUT stale after the denial", carol, "PUT", path, map[string]string{"name": "Carol's", "client_version": stale}, nil, 403, "", appForbidden, true},
		{"anonymous PUT stale", anon, "PUT", path, map[string]string{"name": "anon", "client_version": stale}, nil, 401, "", "", true},
		{"anonymous poll", anon, "GET", poll, nil, nil, 401, "", "", true},
		{"anonymous poll of flow 1", anon, "GET", "/api/v1/records/flow/1/version", nil, nil, 401, "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := spy.Count(tc.method, tc.path)
			r := tc.client.Do(tc.method, tc.path, tc.body, tc.headers...)
			wantStatus(t, tc.name, r, tc.status)
			if tc.cache != "" {
				wantHeader(t, tc.name, r, "X-Recordsync-Cache", tc.cache)
			} else if tc.status == 403 || tc.method != "GET" {
				wantHeader(t, tc.name, r, "X-Recordsync-Cache", "")
			}
			if tc.body2 != "" {
				wantJSON(t, tc.name, r.Body, tc.body2)
			}
			noVersionLeak(t, tc.name, r)
			if reached := spy.Count(tc.method, tc.path) > before; reached != tc.upTo {
				t.Fatalf("%s: reached PHP = %v, want %v", tc.name, reached, tc.upTo)
			}
		})
	}
	// Carol may poll flow 1: the app authorises her, then the cache answers.
	wantHeader(t, "Carol's poll of flow 1", carol.Do("GET", "/api/v1/records/flow/1/version", nil), "X-Recordsync-Cache", "miss")
	r = carol.Do("GET", "/api/v1/records/flow/1/version", nil)
	wantStatus(t, "Carol's second poll of flow 1", r, 200)
	wantHeader(t, "Carol's second poll of flow 1", r, "X-Recordsync-Cache", "hit")
	// Nothing Carol did changed flow 2.
	wantField(t, "flow 2 after Carol", alice.Do("GET", path, nil), "data.name", "Restricted, changed")
}

// TestRecordsyncLaravelNoLostUpdates: with the app's own guard made racy
// (RACY_GUARD_SLEEP_MS=300), 8 logged-in sessions that all loaded flow 3 PUT
// at once through recordsync: exactly one succeeds, seven get 409, and the
// record is the winner's. (Without the proxy, TestLaravelAppRacyGuard shows
// the app losing updates.)
func TestRecordsyncLaravelNoLostUpdates(t *testing.T) {
	_, spy, c := startRSLaravel(t, map[string]string{"RACY_GUARD_SLEEP_MS": "300"}, rsOptions{})
	const path, writers = "/api/v1/flows/3", 8
	users := []string{"alice@example.com", "bob@example.com"}
	clients := make([]*laravelClient, writers)
	loaded := make([]string, writers)
	for i := range writers {
		clients[i] = loginAs(t, c, "a.localhost", users[i%2])
		loaded[i] = recVersion(clients[i].Do("GET", path, nil))
	}
	for i := range loaded {
		if loaded[i] != loaded[0] {
			t.Fatalf("the writers loaded different versions: %v", loaded)
		}
	}

	putsBefore := spy.Count("PUT", path)
	results := make([]*laravelResponse, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = tryDo(clients[i], "PUT", path, map[string]string{"name": fmt.Sprint("writer ", i), "client_version": loaded[i]})
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}

	winner, conflicts, fromCache := -1, 0, 0
	statuses := make([]int, writers)
	for i, r := range results {
		statuses[i] = r.Status
		switch r.Status {
		case 200:
			if winner >= 0 {
				t.Fatalf("two writers succeeded (%d and %d): a lost update; statuses %v", winner, i, statuses)
			}
			winner = i
		case 409:
			conflicts++
			if r.Header.Get("X-Recordsync-Cache") == "hit" {
				fromCache++
			}
		}
	}
	if winner < 0 || conflicts != writers-1 {
		t.Fatalf("statuses %v: want exactly 1 × 200 and %d × 409", statuses, writers-1)
	}
	won := recVersion(results[winner])
	for i, r := range results {
		if i != winner && recVersion(r) != won {
			t.Fatalf("writer %d's 409 names version %s, want the winner's %s", i, recVersion(r), won)
		}
	}
	r := clients[0].Do("GET", path, nil)
	wantField(t, "the record after the race", r, "data.name", fmt.Sprint("writer ", winner))
	wantField(t, "the record after the race", r, "data.updated_at", won)
	reached := spy.Count("PUT", path) - putsBefore
	if reached < 1 {
		t.Fatal("the winning write never reached PHP")
	}
	t.Logf("racy app behind recordsync: %d concurrent writers → statuses %v in %v; %d conflict(s) answered from the cache, %d write(s) reached PHP",
		writers, statuses, elapsed.Round(time.Millisecond), fromCache, reached)
}

// TestRecordsyncLaravelPolls: version polls with a real Laravel session.
// With laravel_app_key the first poll of a session goes upstream and the
// rest are answered from the cache (304 for If-None-Match), and a save by
// someone else shows at once. Without it, Laravel re-encrypts the session
// cookie on every answer, so (almost) every poll is a miss. Both hit rates
// are logged.
func TestRecordsyncLaravelPolls(t *testing.T) {
	app, spy, c := startRSLaravel(t, nil, rsOptions{})
	noKey := startCaddy(t, rsLaravelSite(app, spy, rsOptions{NoAppKey: true}))
	const path, poll = "/api/v1/flows/1", "/api/v1/records/flow/1/version"

	alice := loginAs(t, c, "a.localhost", "alice@example.com")
	bob := loginAs(t, c, "a.localhost", "bob@example.com")

	r := alice.Do("GET", poll, nil)
	wantStatus(t, "first poll", r, 200)
	wantHeader(t, "first poll", r, "X-Recordsync-Cache", "miss")
	v := recVersion(r)
	parseVersion(t, v)
	upstreamPolls := spy.Count("GET", poll)
	r = alice.Do("GET", poll, nil)
	wantStatus(t, "second poll", r, 200)
	wantHeader(t, "second poll", r, "X-Recordsync-Cache", "hit")
	wantHeader(t, "second poll", r, "ETag", etagOf(v))
	// The app's fields, as the app answers them (recordsync adds updated_by_id).
	wantField(t, "second poll", r, "success", "true")
	wantField(t, "second poll", r, "data.updated_at", v)
	wantField(t, "second poll", r, "data.updated_by_name", "Alice")
	r = alice.Do("GET", poll, nil, "If-None-Match", etagOf(v))
	wantStatus(t, "poll with If-None-Match", r, 304)
	wantHeader(t, "poll with If-None-Match", r, "X-Recordsync-Cache", "hit")
	if spy.Count("GET", poll) != upstreamPolls {
		t.Fatal("a poll answered from the cache reached PHP")
	}

	// Bob saves; Alice's next poll shows it, learned from Bob's PUT.
	bobLoaded := recVersion(bob.Do("GET", path, nil))
	r = bob.Do("PUT", path, map[string]string{"name": "Bob's", "client_version": bobLoaded})
	wantStatus(t, "Bob's save", r, 200)
	saved := recVersion(r)
	r = alice.Do("GET", poll, nil, "If-None-Match", etagOf(v))
	wantStatus(t, "poll after Bob's save", r, 200)
	wantHeader(t, "poll after Bob's save", r, "X-Recordsync-Cache", "hit")
	wantField(t, "poll after Bob's save", r, "data.updated_at", saved)
	wantField(t, "poll after Bob's save", r, "data.updated_by_name", "Bob")

	// Hit rates over 50 polls with a save by Bob every 10 polls.
	measure := func(site *caddyProc, label string) float64 {
		t.Helper()
		poller := loginAs(t, site, "a.localhost", "alice@example.com")
		saver := loginAs(t, site, "a.localhost", "bob@example.com")
		current := recVersion(saver.Do("GET", path, nil))
		const polls = 50
		hits, phpBefore := 0, spy.Count("GET", poll)
		for i := range polls {
			if i > 0 && i%10 == 0 {
				r := saver.Do("PUT", path, map[string]string{"description": fmt.Sprint(label, " save ", i), "client_version": current})
				wantStatus(t, label+" save", r, 200)
				current = recVersion(r)
			}
			r := poller.Do("GET", poll, nil)
			wantStatus(t, label+" poll", r, 200)
			if got := recVersion(r); got != current {
				t.Fatalf("%s poll %d: version %s, want the latest save %s", label, i, got, current)
			}
			if r.Header.Get("X-Recordsync-Cache") == "hit" {
				hits++
			}
		}
		if php := spy.Count("GET", poll) - phpBefore; php != polls-hits {
			t.Fatalf("%s: %d polls reached PHP, but %d were misses", label, php, polls-hits)
		}
		return float64(hits) / polls
	}
	withKey := measure(c, "with laravel_app_key")
	withoutKey := measure(noKey, "without laravel_app_key")
	t.Logf("poll hit rate of a real Laravel session over 50 polls with 4 saves interleaved: %.2f with laravel_app_key, %.2f without (Laravel re-encrypts laravel_session on every response)",
		withKey, withoutKey)
	if withKey < 0.9 {
		t.Errorf("hit rate with laravel_app_key = %.2f, want ≥ 0.9", withKey)
	}
	if withoutKey > 0.1 {
		t.Errorf("hit rate without laravel_app_key = %.2f, want about 0 (the raw cookie changes every answer)", withoutKey)
	}
}

// TestRecordsyncLaravelTenants: tenants a and b both have flow 1. What is
// learned in a never answers b: b's polls and writes go to b's app and get
// b's versions, and a's session is anonymous in b.
func TestRecordsyncLaravelTenants(t *testing.T) {
	_, spy, c := startRSLaravel(t, nil, rsOptions{})
	const path, poll = "/api/v1/flows/1", "/api/v1/records/flow/1/version"
	aliceA := loginAs(t, c, "a.localhost", "alice@example.com")
	bobB := loginAs(t, c, "b.localhost", "bob@example.com")

	// b loads its flow 1 first, then a saves its own: a's version is the newest.
	r := bobB.Do("GET", path, nil)
	wantField(t, "b's flow 1", r, "data.name", "Customer onboarding (b)")
	bVersion := recVersion(r)
	aLoaded := recVersion(aliceA.Do("GET", path, nil))
	r = aliceA.Do("PUT", path, map[string]string{"name": "a's flow", "client_version": aLoaded})
	wantStatus(t, "a's save", r, 200)
	aVersion := recVersion(r)
	wantStatus(t, "a's poll", aliceA.Do("GET", poll, nil), 200)
	wantHeader(t, "a's second poll", aliceA.Do("GET", poll, nil), "X-Recordsync-Cache", "hit")
	if !parseVersion(t, aVersion).After(parseVersion(t, bVersion)) {
		t.Fatalf("a's version %s is not newer than b's %s", aVersion, bVersion)
	}

	// b's polls of flow 1 (Bob's GET authorised him): b's version, from b's entry.
	for range 2 {
		r = bobB.Do("GET", poll, nil)
		wantStatus(t, "b's poll", r, 200)
		wantHeader(t, "b's poll", r, "X-Recordsync-Cache", "hit")
		wantField(t, "b's poll", r, "data.updated_at", bVersion)
	}
	wantHeader(t, "b's GET", bobB.Do("GET", path, nil), "ETag", etagOf(bVersion))

	// Flow 3 is known only in a: b's first poll of it goes to b's app.
	const poll3 = "/api/v1/records/flow/3/version"
	aliceA.Do("GET", "/api/v1/flows/3", nil)
	a3 := recVersion(aliceA.Do("GET", poll3, nil))
	before3 := spy.Count("GET", poll3)
	r = bobB.Do("GET", poll3, nil)
	wantStatus(t, "b's first poll of flow 3", r, 200)
	wantHeader(t, "b's first poll of flow 3", r, "X-Recordsync-Cache", "miss")
	if spy.Count("GET", poll3) != before3+1 {
		t.Fatal("b's first poll of flow 3 did not reach PHP")
	}
	if b3 := recVersion(r); b3 == a3 {
		t.Fatalf("b's flow 3 has a's version %s", b3)
	}

	// b writes with b's version, which is older than a's: goes to the app, 200.
	before := spy.Count("PUT", path)
	r = bobB.Do("PUT", path, map[string]string{"name": "b's flow", "client_version": bVersion})
	wantStatus(t, "b's save with b's version", r, 200)
	wantField(t, "b's save with b's version", r, "data.name", "b's flow")
	if spy.Count("PUT", path) != before+1 {
		t.Fatal("b's save did not reach PHP")
	}
	// And b's save never moves a: a's poll still says a's version.
	wantField(t, "a's poll after b's save", aliceA.Do("GET", poll, nil), "data.updated_at", aVersion)

	// a's session in b's host is anonymous there: the app's 401, no version.
	cross := newLaravelClient(t, c.URL(), "b.localhost")
	for _, p := range []string{poll, poll} {
		r = cross.Do("GET", p, nil, "Cookie", "laravel_session="+aliceA.Cookie("laravel_session"))
		wantStatus(t, "a's session polling b", r, 401)
		noVersionLeak(t, "a's session polling b", r)
	}
	r = cross.Do("PUT", path, map[string]string{"name": "x", "client_version": "2020-01-01T00:00:00.000000Z"}, "Cookie", "laravel_session="+aliceA.Cookie("laravel_session"))
	wantStatus(t, "a's session writing in b", r, 401)
	// An unknown tenant: the app's 404 passes through.
	r = newLaravelClient(t, c.URL(), "zz.localhost").Do("GET", poll, nil)
	wantStatus(t, "unknown tenant", r, 404)
	wantJSON(t, "unknown tenant", r.Body, `{"success":false,"message":"Unknown tenant."}`)
}

// TestRecordsyncLaravelBadInput: bodies recordsync must not (or cannot)
// inspect reach the app byte for byte and get the app's own answer, never a
// 409 from the cache, even though each carries a stale client_version.
func TestRecordsyncLaravelBadInput(t *testing.T) {
	_, spy, c := startRSLaravel(t, nil, rsOptions{})
	const path = "/api/v1/flows/1"
	alice := loginAs(t, c, "a.localhost", "alice@example.com")
	bob := loginAs(t, c, "a.localhost", "bob@example.com")
	stale := recVersion(alice.Do("GET", path, nil))
	r := bob.Do("PUT", path, map[string]string{"name": "Bob's", "client_version": stale})
	wantStatus(t, "Bob's save", r, 200)

	// Control: a well-formed stale JSON write is answered from the cache.
	staleJSON := fmt.Sprintf(`{"name":"Alice's","client_version":%q}`, stale)
	r = alice.Do("PUT", path, staleJSON, "Content-Type", "application/json")
	wantStatus(t, "control", r, 409)
	wantHeader(t, "control", r, "X-Recordsync-Cache", "hit")

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(staleJSON))
	zw.Close()
	huge := fmt.Sprintf(`{"name":"Alice's huge","client_version":%q,"padding":%q}`, stale, strings.Repeat("x", 1<<20+1000))

	for _, tc := range []struct {
		name    string
		body    []byte
		headers []string
		check   func(t *testing.T, r *laravelResponse)
	}{
		{"malformed JSON", []byte(`{"name":"Alice's","client_version":"` + stale), []string{"Content-Type", "application/json"},
			func(t *testing.T, r *laravelResponse) {
				// Laravel reads no fields from it: an unchecked save of nothing.
				if r.Status != 200 && r.Status != 400 && r.Status != 422 {
					t.Fatalf("status %d: %s", r.Status, r.Body)
				}
			}},
		{"gzip-encoded JSON", gz.Bytes(), []string{"Content-Type", "application/json", "Content-Encoding", "gzip"}, nil},
		{"text/plain", []byte(staleJSON), []string{"Content-Type", "text/plain"}, nil},
		{"form-encoded", []byte("name=Alice%27s&client_version=" + stale), []string{"Content-Type", "application/x-www-form-urlencoded"},
			func(t *testing.T, r *laravelResponse) {
				// The app reads client_version from a form too: its own 409.
				wantStatus(t, "form", r, 409)
				wantField(t, "form", r, "message", "This record was changed by someone else.")
			}},
		{"JSON over 1 MiB", []byte(huge), []string{"Content-Type", "application/json"},
			func(t *testing.T, r *laravelResponse) {
				// Unchecked by the proxy; the app's own guard answers 409.
				wantStatus(t, "huge", r, 409)
				wantField(t, "huge", r, "message", "This record was changed by someone else.")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := spy.Count("PUT", path)
			r := alice.Do("PUT", path, tc.body, tc.headers...)
			wantHeader(t, tc.name, r, "X-Recordsync-Cache", "")
			if r.Status == 409 && r.Header.Get("X-Recordsync-Cache") != "" {
				t.Fatalf("%s: answered from the cache", tc.name)
			}
			if spy.Count("PUT", path) != before+1 {
				t.Fatalf("%s: did not reach PHP", tc.name)
			}
			got, _ := spy.Last("PUT", path)
			if sha256.Sum256(got.Body) != sha256.Sum256(tc.body) {
				t.Fatalf("%s: PHP got %d bytes that differ from the %d sent", tc.name, len(got.Body), len(tc.body))
			}
			for i := 0; i+1 < len(tc.headers); i += 2 {
				param := "HTTP_" + strings.ToUpper(strings.ReplaceAll(tc.headers[i], "-", "_"))
				if tc.headers[i] == "Content-Type" {
					param = "CONTENT_TYPE"
				}
				if got.Params[param] != tc.headers[i+1] {
					t.Fatalf("%s: PHP got %s = %q, want %q", tc.name, param, got.Params[param], tc.headers[i+1])
				}
			}
			t.Logf("%s (%d bytes): the app answered %d", tc.name, len(tc.body), r.Status)
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// TestRecordsyncLaravelEcho drives laravel-echo + pusher-js from
// npm against recordsync in front of the real app, which signs
// /broadcasting/auth with BROADCAST_DRIVER=signonly and decides with
// routes/channels.php: Alice's save reaches Bob as record.updated (not
// Alice's own socket), and Carol is refused flow 2's channel with 403.
func TestRecordsyncLaravelEcho(t *testing.T) {
	_, _, c := startRSLaravel(t, map[string]string{
		"BROADCAST_DRIVER":  "signonly",
		"PUSHER_APP_KEY":    testAppKey,
		"PUSHER_APP_SECRET": testAppSecret,
	}, rsOptions{})
	runNodeTest(t, "laravel.test.mjs", map[string]string{
		// 127.0.0.1: the app's tenant "default"; recordsync's tenant "127.0.0.1".
		"RS_HOST":    "127.0.0.1",
		"RS_PORT":    fmt.Sprint(c.HTTPPort),
		"RS_APP_KEY": testAppKey,
	})
}
