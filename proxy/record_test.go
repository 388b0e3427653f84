package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recordsync/recordsync/versioncache"
)

// A GET of a record is learned, gets an ETag, and reaches the client
// otherwise unchanged; the upstream saw no Accept-Encoding.
func TestLearnFromGet(t *testing.T) {
	h, obs := newTestHandler(t, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	rr := do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", tokenOK, "")
	if rr.Code != 200 || rr.Body.String() != recordJSON("1", app.record("flow", "1")) {
		t.Fatalf("got %d %s", rr.Code, rr.Body)
	}
	if got := rr.Header().Get("ETag"); got != `"`+version(10)+`"` {
		t.Errorf("ETag = %q", got)
	}
	if app.lastAE != "" {
		t.Errorf("upstream saw Accept-Encoding %q", app.lastAE)
	}
	e, ok := h.store.Get(keyOf("flow", "1"))
	if !ok || e.Version != version(10) || e.UpdatedByID != "1" || e.UpdatedByName != "User 1" {
		t.Fatalf("store = %+v %v", e, ok)
	}
	if obs.get("learned.response") != 1 {
		t.Errorf("learned count %d", obs.get("learned.response"))
	}
}

// How responses are inspected: what is learned, and that the client always
// gets the app's bytes.
func TestInspection(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		hdr         map[string]string
		body        string
		wantVersion string // "" = nothing learned
		wantETag    string
		wantByID    string
	}{
		{"string version", 200, map[string]string{"Content-Type": "application/json"},
			`{"data":{"updated_at":"2026-01-01T12:00:00.5Z","updated_by":"abc","updated_by_name":"Ann"}}`,
			"2026-01-01T12:00:00.5Z", `"2026-01-01T12:00:00.5Z"`, `"abc"`},
		{"number version", 200, map[string]string{"Content-Type": "application/json"},
			`{"data":{"updated_at":17,"updated_by":5}}`, "17", `"17"`, "5"},
		{"quoted version gets no etag", 200, map[string]string{"Content-Type": "application/json"},
			`{"data":{"updated_at":"a\"b"}}`, `a"b`, "", ""},
		{"app etag kept", 200, map[string]string{"Content-Type": "application/json", "ETag": `W/"app"`},
			`{"data":{"updated_at":"3"}}`, "3", `W/"app"`, ""},
		{"created 201", 201, map[string]string{"Content-Type": "application/json"},
			`{"data":{"updated_at":"4"}}`, "4", `"4"`, ""},
		{"malformed", 200, map[string]string{"Content-Type": "application/json"},
			`{"data":{"updated_at":"3"}`, "", "", ""},
		{"missing field", 200, map[string]string{"Content-Type": "application/json"},
			`{"data":{"id":1}}`, "", "", ""},
		{"null field", 200, map[string]string{"Content-Type": "application/json"},
			`{"data":{"updated_at":null}}`, "", "", ""},
		{"empty field", 200, map[string]string{"Content-Type": "application/json"},
			`{"data":{"updated_at":""}}`, "", "", ""},
		{"not json type", 200, map[string]string{"Content-Type": "text/html"},
			`{"data":{"updated_at":"3"}}`, "", "", ""},
		{"compressed", 200, map[string]string{"Content-Type": "application/json", "Content-Encoding": "br"},
			`{"data":{"updated_at":"3"}}`, "", "", ""},
		{"server error not learned", 500, map[string]string{"Content-Type": "application/json"},
			`{"data":{"updated_at":"3"}}`, "", "", ""},
		{"not found not learned", 404, map[string]string{"Content-Type": "application/json"},
			`{"data":{"updated_at":"3"}}`, "", "", ""},
		{"empty body", 200, map[string]string{"Content-Type": "application/json"}, ``, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newTestHandler(t, nil)
			next := func(w http.ResponseWriter, r *http.Request) error {
				for k, v := range tt.hdr {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
				return nil
			}
			rr := httptest.NewRecorder()
			if err := h.ServeHTTP(rr, httptest.NewRequest("GET", "/api/v1/flows/1", nil), RequestInfo{}, next); err != nil {
				t.Fatal(err)
			}
			if rr.Code != tt.status || rr.Body.String() != tt.body {
				t.Fatalf("client got %d %q", rr.Code, rr.Body)
			}
			for k, v := range tt.hdr {
				if rr.Header().Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, rr.Header().Get(k), v)
				}
			}
			if got := rr.Header().Get("ETag"); got != tt.wantETag {
				t.Errorf("ETag = %q, want %q", got, tt.wantETag)
			}
			e, ok := h.store.Get(keyOf("flow", "1"))
			if tt.wantVersion == "" {
				if ok {
					t.Fatalf("learned %+v", e)
				}
				return
			}
			if !ok || e.Version != tt.wantVersion || e.UpdatedByID != tt.wantByID {
				t.Fatalf("store = %+v %v, want %q by %q", e, ok, tt.wantVersion, tt.wantByID)
			}
		})
	}
}

// The app's own 409 teaches the current version.
func TestLearnFromUpstreamConflict(t *testing.T) {
	h, obs := newTestHandler(t, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	rr := do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", "", putBody(version(3), "x"),
		"Cookie", "laravel_session=abc")
	if rr.Code != 409 {
		t.Fatalf("status %d %s", rr.Code, rr.Body)
	}
	if e, ok := h.store.Get(keyOf("flow", "1")); !ok || e.Version != version(10) {
		t.Fatalf("store %+v %v", e, ok)
	}
	if obs.get("learned.conflict_response") != 1 || obs.get("upstream_conflict") != 1 {
		t.Errorf("observer %v", obs.counts)
	}
	if rr.Header().Get("X-Recordsync-Cache") != "" {
		t.Error("an upstream answer marked as from cache")
	}
}

// The guard answers a stale write from the cache for an authorised caller.
func TestGuardConflictFromCache(t *testing.T) {
	for _, status := range []int{409, 412} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			h, obs := newTestHandler(t, func(o *Options) { o.ConflictStatus = status })
			app := newFakeApp()
			app.seed("flow", "1", 10)
			do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", tokenOK, "")
			// Someone else saves.
			do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tokenOther, putBody(version(10), "other"))
			callsBefore, _ := app.stats()

			for _, tc := range []struct {
				name string
				body string
				hdr  []string
			}{
				{"body client_version", putBody(version(10), "mine"), nil},
				{"if-match", putBody("", "mine"), []string{"If-Match", `"` + version(10) + `"`}},
			} {
				rr := do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tokenOK, tc.body, tc.hdr...)
				if rr.Code != status {
					t.Fatalf("%s: status %d, want %d", tc.name, rr.Code, status)
				}
				cur := app.record("flow", "1")
				var got struct {
					Success bool
					Message string
					Data    struct {
						UpdatedAt     string          `json:"updated_at"`
						UpdatedByID   json.RawMessage `json:"updated_by_id"`
						UpdatedByName *string         `json:"updated_by_name"`
					}
				}
				if err := json.Unmarshal(rr.Body.Bytes(), &got); err != nil {
					t.Fatalf("%s: body %s: %v", tc.name, rr.Body, err)
				}
				if got.Success || got.Message != MessageConflict || got.Data.UpdatedAt != cur.version ||
					string(got.Data.UpdatedByID) != "6" || got.Data.UpdatedByName == nil || *got.Data.UpdatedByName != "User 6" {
					t.Fatalf("%s: body %s", tc.name, rr.Body)
				}
				if rr.Header().Get("ETag") != `"`+cur.version+`"` || rr.Header().Get("Content-Type") != "application/json" ||
					rr.Header().Get("X-Recordsync-Cache") != "hit" {
					t.Errorf("%s: headers %v", tc.name, rr.Header())
				}
			}
			if calls, _ := app.stats(); calls != callsBefore {
				t.Errorf("upstream called %d times for stale writes", calls-callsBefore)
			}
			if obs.get("conflict_from_cache") != 2 {
				t.Errorf("conflicts from cache %d", obs.get("conflict_from_cache"))
			}
			if app.record("flow", "1").value != "other" {
				t.Error("stale write reached the app")
			}
		})
	}
}

// Callers the app has not authorised go upstream and learn nothing from the
// proxy; a current version goes upstream too.
func TestGuardPassesUpstream(t *testing.T) {
	h, obs := newTestHandler(t, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", tokenOK, "")
	do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tokenOK, putBody(version(10), "a")) // now version 11

	tests := []struct {
		name     string
		auth     string
		body     string
		wantCode int
	}{
		{"anonymous", "", putBody(version(10), "x"), 401},
		{"forbidden", tokenForbidden, putBody(version(10), "x"), 403},
		{"authorised elsewhere only (other user never read it)", tokenOther, putBody(version(10), "x"), 409},
		{"current version", tokenOK, putBody(version(11), "b"), 200},
		{"no loaded version", tokenOK, putBody("", "c"), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := app.stats()
			rr := do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tt.auth, tt.body)
			if rr.Code != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", rr.Code, tt.wantCode, rr.Body)
			}
			if after, _ := app.stats(); after != before+1 {
				t.Fatal("did not go upstream")
			}
			if strings.Contains(rr.Body.String(), MessageConflict) || rr.Header().Get("X-Recordsync-Cache") != "" {
				t.Fatalf("answered by the proxy: %s", rr.Body)
			}
		})
	}
	if obs.get("conflict_from_cache") != 0 {
		t.Errorf("conflicts from cache %d", obs.get("conflict_from_cache"))
	}
}

// Tenant A's versions and authorisations never answer tenant B.
func TestTenantIsolation(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	a := RequestInfo{Tenant: "a.example", Tenanted: true}
	b := RequestInfo{Tenant: "b.example", Tenanted: true}
	do(t, h, app, a, "GET", "/api/v1/flows/1", tokenOK, "")
	do(t, h, app, a, "PUT", "/api/v1/flows/1", tokenOK, putBody(version(10), "a")) // A: version 11
	if _, ok := h.store.Get(versioncache.Key{Tenant: "b.example", Type: "flow", ID: "1"}); ok {
		t.Fatal("tenant B has tenant A's version")
	}
	if e, _ := h.store.Get(versioncache.Key{Tenant: "a.example", Type: "flow", ID: "1"}); e.Version != version(11) {
		t.Fatalf("tenant A = %q", e.Version)
	}
	// Tenant B: the same credential, the same record id, a stale version by
	// A's cache: must go upstream (B is authorised nowhere yet).
	before, _ := app.stats()
	rr := do(t, h, app, b, "PUT", "/api/v1/flows/1", tokenOK, putBody(version(10), "b"))
	if after, _ := app.stats(); after != before+1 || rr.Header().Get("X-Recordsync-Cache") != "" {
		t.Fatal("tenant B answered from tenant A's cache")
	}
	// Polls: B's poll goes upstream although A is authorised and cached.
	do(t, h, app, a, "GET", "/api/v1/records/flow/1/version", tokenOK, "")
	rr = do(t, h, app, b, "GET", "/api/v1/records/flow/1/version", tokenOther, "")
	if rr.Header().Get("X-Recordsync-Cache") != "miss" {
		t.Fatal("tenant B poll answered from cache")
	}
}

// Tenanted site, empty tenant key: passed through uninspected, counted.
func TestTenantMissing(t *testing.T) {
	h, obs := newTestHandler(t, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	info := RequestInfo{Tenanted: true}
	rr := do(t, h, app, info, "GET", "/api/v1/flows/1", tokenOK, "")
	if rr.Header().Get("ETag") != "" || app.lastAE == "" {
		t.Fatal("inspected a request without tenant")
	}
	rr = do(t, h, app, info, "GET", "/api/v1/records/flow/1/version", tokenOK, "")
	if rr.Header().Get("X-Recordsync-Cache") != "" {
		t.Fatal("poll without tenant handled")
	}
	if obs.get("tenant_missing") != 2 {
		t.Fatalf("tenant_missing = %d", obs.get("tenant_missing"))
	}
	if _, ok := h.store.Get(keyOf("flow", "1")); ok {
		t.Fatal("learned into the empty tenant")
	}
}

func TestPublish(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		hdr      []string
		appExtra http.Header
		auth     string
		want     bool
		// versions is how many VersionOnly saves (a version learned
		// without a write to announce) go to the Publisher.
		versions int
	}{
		{"put", "PUT", "/api/v1/flows/1", putBody("", "v"), []string{"X-Tab-ID", "tab_1", "X-Socket-Id", "123.456"}, nil, tokenOK, true, 0},
		{"patch", "PATCH", "/api/v1/flows/1", putBody("", "v"), nil, nil, tokenOK, true, 0},
		{"list route", "PUT", "/api/v1/projects/5/tasks/1", putBody("", "v"), nil, nil, tokenOK, true, 0},
		{"get", "GET", "/api/v1/flows/1", "", nil, nil, tokenOK, false, 1},
		{"import", "PUT", "/api/v1/flows/1", putBody("", "v"), []string{"X-Import", "1"}, nil, tokenOK, false, 1},
		{"skip header", "PUT", "/api/v1/flows/1", putBody("", "v"), nil, http.Header{"X-Recordsync-Broadcast": {"skip"}}, tokenOK, false, 1},
		{"upstream conflict", "PUT", "/api/v1/flows/1", putBody(version(1), "v"), nil, nil, tokenOK, false, 1},
		{"unauthorised", "PUT", "/api/v1/flows/1", putBody("", "v"), nil, nil, "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &recordingPublisher{}
			h, _ := newTestHandler(t, func(o *Options) { o.Publisher = pub })
			app := newFakeApp()
			app.seed("flow", "1", 10)
			app.seed("projecttask", "1", 10)
			app.extra = tt.appExtra
			rr := do(t, h, app, RequestInfo{Tenant: "t1"}, tt.method, tt.path, tt.auth, tt.body, tt.hdr...)
			if rr.Header().Get("X-Recordsync-Broadcast") != "" {
				t.Error("X-Recordsync-Broadcast reached the client")
			}
			if v := pub.versions(); len(v) != tt.versions {
				t.Fatalf("shared %d versions, want %d: %+v", len(v), tt.versions, v)
			}
			saves := pub.all()
			if !tt.want {
				if len(saves) != 0 {
					t.Fatalf("published %+v", saves)
				}
				return
			}
			if len(saves) != 1 {
				t.Fatalf("published %d saves", len(saves))
			}
			s := saves[0]
			typ := "flow"
			if strings.Contains(tt.path, "projects") {
				typ = "projecttask"
			}
			cur := app.record(typ, "1")
			if s.Key != (versioncache.Key{Tenant: "t1", Type: typ, ID: "1"}) || s.Entry.Version != cur.version ||
				s.Entry.UpdatedByID != "5" || s.Entry.UpdatedByName != "User 5" {
				t.Fatalf("save %+v", s)
			}
			if tt.name == "put" && (s.TabID != "tab_1" || s.SocketID != "123.456") {
				t.Errorf("tab %q socket %q", s.TabID, s.SocketID)
			}
			if typ == "projecttask" {
				want := []versioncache.List{{Channel: "project.5", Event: "task.updated", IDKey: "task_id"}}
				if len(s.Lists) != 1 || s.Lists[0] != want[0] {
					t.Errorf("lists %+v", s.Lists)
				}
			} else if len(s.Lists) != 0 {
				t.Errorf("lists %+v", s.Lists)
			}
		})
	}
}

// Publisher is called after the response was written.
func TestPublishAfterResponse(t *testing.T) {
	client := &countingWriter{ResponseRecorder: httptest.NewRecorder()}
	var atPublish int
	pub := publisherFunc(func(versioncache.Saved) { atPublish = client.written })
	h, _ := newTestHandler(t, func(o *Options) { o.Publisher = pub })
	app := newFakeApp()
	app.seed("flow", "1", 1)
	r := httptest.NewRequest("PUT", "/api/v1/flows/1", strings.NewReader(putBody("", "v")))
	r.Header.Set("Authorization", tokenOK)
	r.Header.Set("Content-Type", "application/json")
	if err := h.ServeHTTP(client, r, RequestInfo{}, app.next); err != nil {
		t.Fatal(err)
	}
	if atPublish == 0 || atPublish != client.Body.Len() {
		t.Fatalf("published with %d of %d bytes written", atPublish, client.Body.Len())
	}
}

type publisherFunc func(versioncache.Saved)

func (f publisherFunc) Saved(s versioncache.Saved) { f(s) }

// Errors of next come back unchanged and nothing is written for them.
func TestNextError(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	boom := errors.New("upstream down")
	rr := httptest.NewRecorder()
	r := httptest.NewRequest("PUT", "/api/v1/flows/1", strings.NewReader(putBody("1", "v")))
	r.Header.Set("Content-Type", "application/json")
	err := h.ServeHTTP(rr, r, RequestInfo{}, func(w http.ResponseWriter, r *http.Request) error { return boom })
	if err != boom {
		t.Fatalf("err = %v", err)
	}
	if rr.Body.Len() != 0 || len(rr.Header()) != 0 {
		t.Fatalf("wrote %d %q %v", rr.Code, rr.Body, rr.Header())
	}
	if h.turns.size() != 0 {
		t.Fatal("turn kept after an error")
	}
	// A whole response followed by an error: the response is sent as is,
	// the error returned, nothing learned.
	rr = httptest.NewRecorder()
	err = h.ServeHTTP(rr, httptest.NewRequest("GET", "/api/v1/flows/1", nil), RequestInfo{}, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"data":{"updated_at":"5"}}`))
		return boom
	})
	if err != boom || rr.Body.String() != `{"data":{"updated_at":"5"}}` {
		t.Fatalf("err %v body %q", err, rr.Body)
	}
	if _, ok := h.store.Get(keyOf("flow", "1")); ok {
		t.Fatal("learned from a failed response")
	}
}

// A panic in next (reverse_proxy's http.ErrAbortHandler) releases the turn.
func TestPanicReleasesTurn(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.WriteWait = 200 * time.Millisecond })
	put := func(next Next) (code int, panicked bool) {
		defer func() {
			if v := recover(); v != nil {
				if v != http.ErrAbortHandler {
					panic(v)
				}
				panicked = true
			}
		}()
		rr := httptest.NewRecorder()
		r := httptest.NewRequest("PUT", "/api/v1/flows/1", strings.NewReader(putBody("1", "v")))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rr, r, RequestInfo{}, next)
		return rr.Code, false
	}
	_, panicked := put(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"data":`))
		panic(http.ErrAbortHandler)
	})
	if !panicked {
		t.Fatal("panic swallowed")
	}
	if h.turns.size() != 0 {
		t.Fatal("turn kept after panic")
	}
	code, _ := put(func(w http.ResponseWriter, r *http.Request) error { w.WriteHeader(204); return nil })
	if code != 204 {
		t.Fatalf("next write got %d", code)
	}
}

// A write that waits too long for its record's turn gets 503; one whose
// client goes away gives up too.
func TestWriteWaitTimeout(t *testing.T) {
	h, obs := newTestHandler(t, func(o *Options) { o.WriteWait = 50 * time.Millisecond })
	release := make(chan struct{})
	entered := make(chan struct{})
	slow := func(w http.ResponseWriter, r *http.Request) error {
		close(entered)
		<-release
		w.WriteHeader(204)
		return nil
	}
	req := func(ctx context.Context) *http.Request {
		r := httptest.NewRequest("PUT", "/api/v1/flows/1", strings.NewReader(putBody("1", "v"))).WithContext(ctx)
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.ServeHTTP(httptest.NewRecorder(), req(context.Background()), RequestInfo{}, slow)
	}()
	<-entered
	never := func(w http.ResponseWriter, r *http.Request) error { t.Error("waiter went upstream"); return nil }

	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req(context.Background()), RequestInfo{}, never)
	if rr.Code != 503 || !strings.Contains(rr.Body.String(), `"success":false`) {
		t.Fatalf("timeout: %d %s", rr.Code, rr.Body)
	}

	// A client that goes away stops waiting: a handler sharing the same
	// Memory (the same turns) but with a long WriteWait, so that only the
	// cancel can end the wait well before it.
	patient, _ := newTestHandler(t, func(o *Options) { o.WriteWait = time.Minute; o.Memory = h.own; o.Store = h.store; o.Observer = obs })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	rr = httptest.NewRecorder()
	start := time.Now()
	patient.ServeHTTP(rr, req(ctx), RequestInfo{}, never)
	if rr.Code != 503 || time.Since(start) > 30*time.Second {
		t.Fatalf("cancel: %d after %v", rr.Code, time.Since(start))
	}

	// A different record does not wait.
	rr = httptest.NewRecorder()
	r := httptest.NewRequest("PUT", "/api/v1/flows/2", strings.NewReader(putBody("1", "v")))
	r.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rr, r, RequestInfo{}, func(w http.ResponseWriter, r *http.Request) error { w.WriteHeader(204); return nil })
	if rr.Code != 204 {
		t.Fatalf("other record: %d", rr.Code)
	}
	close(release)
	wg.Wait()
	if obs.get("write_wait_timeout") != 2 || obs.waiting.Load() != 0 || obs.maxWait.Load() != 1 {
		t.Fatalf("timeouts %d waiting %d max %d", obs.get("write_wait_timeout"), obs.waiting.Load(), obs.maxWait.Load())
	}
	if h.turns.size() != 0 {
		t.Fatal("turns not freed")
	}
}

// Methods other than GET/PUT/PATCH and other paths reach next untouched.
func TestPassThrough(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	for _, tc := range []struct{ method, path string }{
		{"POST", "/api/v1/flows/1"},
		{"DELETE", "/api/v1/flows/1"},
		{"HEAD", "/api/v1/flows/1"},
		{"GET", "/api/v1/flows"},
		{"GET", "/api/v1/records/unknown/1/version"},
		{"PUT", "/api/v1/records/flow/1/version"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader("x"))
		r.Header.Set("Accept-Encoding", "gzip")
		w := httptest.NewRecorder()
		var gotW http.ResponseWriter
		h.ServeHTTP(w, r, RequestInfo{}, func(w http.ResponseWriter, r2 *http.Request) error {
			gotW = w
			if r2 != r || r2.Header.Get("Accept-Encoding") != "gzip" {
				t.Errorf("%s %s: request changed", tc.method, tc.path)
			}
			return nil
		})
		if gotW != w {
			t.Errorf("%s %s: writer wrapped", tc.method, tc.path)
		}
	}
}

// FuzzInspect: whatever the app answers, the client gets it byte for byte.
func FuzzInspect(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"data":{"updated_at":"2026-01-01T12:00:00.000000Z","updated_by":5,"updated_by_name":"A"}}`))
	f.Add(409, "application/json", []byte(`{"data":{"updated_at":7}}`))
	f.Add(200, "application/json", []byte(`{"data":{"updated_at":"\u0000\""}}`))
	f.Add(200, "application/vnd+json", []byte(`[1,2`))
	f.Add(200, "text/html", []byte(`<html>`))
	h, _ := newTestHandler(f, func(o *Options) { o.MaxBodyBytes = 512 })
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte) {
		if status < 200 || status > 599 {
			status = 200
		}
		next := func(w http.ResponseWriter, r *http.Request) error {
			w.Header()["Content-Type"] = []string{ct}
			w.WriteHeader(status)
			w.Write(body)
			return nil
		}
		rr := httptest.NewRecorder()
		if err := h.ServeHTTP(rr, httptest.NewRequest("GET", "/api/v1/flows/1", nil), RequestInfo{}, next); err != nil {
			t.Fatal(err)
		}
		if rr.Code != status || string(rr.Body.Bytes()) != string(body) {
			t.Fatalf("client got %d %q", rr.Code, rr.Body)
		}
		if e, ok := h.store.Get(keyOf("flow", "1")); ok {
			if e.Version == "" || (e.UpdatedByID != "" && !json.Valid([]byte(e.UpdatedByID))) {
				t.Fatalf("stored %+v", e)
			}
			b := appendVersionData(nil, e)
			if !json.Valid(b) {
				t.Fatalf("invalid JSON answer %q", b)
			}
		}
	})
}

// php_fastcgi rewrites r.URL.Path to /index.php in place while the request
// is upstream: the save must still publish with the parameters of the path
// as it was matched (a regression: params of the rewritten path panicked).
func TestPublishAfterPathRewrite(t *testing.T) {
	pub := &recordingPublisher{}
	h, _ := newTestHandler(t, func(o *Options) { o.Publisher = pub })
	app := newFakeApp()
	app.seed("projecttask", "1", 1)
	rewriting := func(w http.ResponseWriter, r *http.Request) error {
		err := app.next(w, r)
		r.URL.Path = "/index.php"
		return err
	}
	r := httptest.NewRequest("PUT", "/api/v1/projects/5/tasks/1", strings.NewReader(putBody("", "v")))
	r.Header.Set("Authorization", tokenOK)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, RequestInfo{}, rewriting); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	saves := pub.all()
	if len(saves) != 1 || saves[0].Lists[0].Channel != "project.5" {
		t.Fatalf("saves %+v", saves)
	}
}

// A version the proxy learned without a write to announce goes to the
// Publisher once, as VersionOnly (the other instances' caches learn it):
// again only when it advanced the cache.
func TestShareLearnedVersions(t *testing.T) {
	pub := &recordingPublisher{}
	h, _ := newTestHandler(t, func(o *Options) { o.Publisher = pub })
	app := newFakeApp()
	app.seed("flow", "1", 10)
	info := RequestInfo{Tenant: "t1"}
	do(t, h, app, info, "GET", "/api/v1/flows/1", tokenOK, "")
	do(t, h, app, info, "GET", "/api/v1/flows/1", tokenOK, "")
	h.store.Forget(versioncache.Key{Tenant: "t1", Type: "flow", ID: "1"})
	do(t, h, app, info, "GET", "/api/v1/records/flow/1/version", tokenOK, "")
	v := pub.versions()
	if len(v) != 2 || len(pub.all()) != 0 {
		t.Fatalf("shared %+v, announced %+v", v, pub.all())
	}
	for _, s := range v {
		if s.Key != (versioncache.Key{Tenant: "t1", Type: "flow", ID: "1"}) || s.Entry.Version != version(10) || s.Lists != nil || s.SocketID != "" {
			t.Fatalf("shared %+v", s)
		}
	}
}
