package proxy

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/recordsync/recordsync/versioncache"
)

// send runs one request through h with next as the app; hdr are header
// pairs (added, so a name may repeat).
func send(tb testing.TB, h *Handler, next Next, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	rr := httptest.NewRecorder()
	if err := h.ServeHTTP(rr, req, RequestInfo{}, next); err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return rr
}

func writeAppJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// sessionApp authenticates as a Laravel app on the web guard does: by its
// session cookie only (the raw value names the user here), never by an
// Authorization header, which a site-wide basic_auth or an SPA without a
// token sends. Alice and Bob may read flow 1, Carol may not; flow 3 is
// public (anyone, even without a session). calls counts what reached it.
func sessionApp(calls *atomic.Int32) Next {
	rec := recordJSON("1", appRecord{version: version(10), value: "secret plan", by: 1})
	return func(w http.ResponseWriter, r *http.Request) error {
		calls.Add(1)
		if strings.HasSuffix(r.URL.Path, "/3") || strings.Contains(r.URL.Path, "/flow/3/") {
			writeAppJSON(w, 200, recordJSON("3", appRecord{version: version(3), value: "public", by: 1}))
			return nil
		}
		user := ""
		if c, err := r.Cookie("laravel_session"); err == nil {
			user = c.Value
		}
		switch user {
		case "alice", "bob":
			writeAppJSON(w, 200, rec)
		case "carol":
			writeAppJSON(w, 403, `{"success":false,"message":"You do not have access to this record."}`)
		default:
			writeAppJSON(w, 401, `{"success":false,"message":"Unauthenticated."}`)
		}
		return nil
	}
}

// The caller is who the app authenticates. An Authorization header that is
// the same for everyone — a site-wide basic_auth's Basic credentials, the
// "Bearer null" of an SPA whose token is not set — is not the caller: one
// user's answer must never serve another.
func TestCallerIsNotASharedAuthorizationHeader(t *testing.T) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("staff:site-password"))
	for _, tc := range []struct{ name, auth, reason string }{
		{"site-wide Basic", basic, RefusedCredentialBasic},
		{"Bearer null", "Bearer null", RefusedCredentialNotToken},
		{"Bearer undefined", "Bearer undefined", RefusedCredentialNotToken},
		{"empty Bearer", "Bearer ", RefusedCredentialNotToken},
		{"not a token", "Bearer [object Object]", RefusedCredentialNotToken},
		{"another scheme", "Digest username=\"staff\"", RefusedCredentialNotToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, obs := newTestHandler(t, nil)
			var calls atomic.Int32
			app := sessionApp(&calls)

			// Alice reads flow 1: the app shows it to her, recordsync learns it.
			rr := send(t, h, app, "GET", "/api/v1/flows/1", "", "Authorization", tc.auth, "Cookie", "laravel_session=alice")
			if rr.Code != 200 {
				t.Fatalf("Alice's GET: %d", rr.Code)
			}
			// Carol polls it with the same header and her own session: only
			// the app may answer her, and it refuses.
			rr = send(t, h, app, "GET", pollPath, "", "Authorization", tc.auth, "Cookie", "laravel_session=carol")
			if rr.Code != 403 || rr.Header().Get(HeaderCache) != "miss" || strings.Contains(rr.Body.String(), version(10)) || rr.Header().Get("ETag") != "" {
				t.Fatalf("Carol's poll: %d %s %v (answered for Alice's header)", rr.Code, rr.Body, rr.Header())
			}
			// Nor does Carol's stale write get Alice's 409 with the version and
			// who saved it: it goes to the app.
			before := calls.Load()
			rr = send(t, h, app, "PUT", "/api/v1/flows/1", putBody(version(5), "x"), "Authorization", tc.auth, "Cookie", "laravel_session=carol")
			if rr.Code != 403 || calls.Load() != before+1 {
				t.Fatalf("Carol's stale write: %d %s, reached the app %d times", rr.Code, rr.Body, calls.Load()-before)
			}
			// Alice's own poll is answered from the cache: her session is the caller.
			rr = send(t, h, app, "GET", pollPath, "", "Authorization", tc.auth, "Cookie", "laravel_session=alice")
			if rr.Code != 200 || rr.Header().Get(HeaderCache) != "hit" {
				t.Fatalf("Alice's poll: %d %v", rr.Code, rr.Header())
			}
			// The header alone is nobody: every poll of the public flow 3 goes to
			// the app, however often it answered 200.
			for i := 0; i < 3; i++ {
				rr = send(t, h, app, "GET", "/api/v1/records/flow/3/version", "", "Authorization", tc.auth)
				if rr.Code != 200 || rr.Header().Get(HeaderCache) != "miss" {
					t.Fatalf("poll %d with the header alone: %d %v", i, rr.Code, rr.Header())
				}
			}
			if obs.get("refused."+tc.reason) == 0 {
				t.Errorf("refusal not counted as %s: %v", tc.reason, obs.counts)
			}
		})
	}
}

// With laravel_app_key, a Bearer value that is not a token next to a
// verified session: the session is the caller; next to a cookie that does
// not verify: nobody.
func TestCallerWithAppKey(t *testing.T) {
	h, obs := newTestHandler(t, func(o *Options) { o.LaravelAppKey = laravelAppKey })
	req := func(hdr ...string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		return r
	}
	session := h.credentialID(req("Cookie", "laravel_session="+laravelCookie), RequestInfo{})
	if session == "" {
		t.Fatal("verified session is no caller")
	}
	for _, auth := range []string{"Bearer null", "Bearer undefined", "Bearer ", "Basic c3RhZmY6cHc=", "bearer lowercase-is-not-read"} {
		if got := h.credentialID(req("Authorization", auth, "Cookie", "laravel_session="+laravelCookie2), RequestInfo{}); got != session {
			t.Errorf("%q next to the session: not the session", auth)
		}
		if got := h.credentialID(req("Authorization", auth, "Cookie", "laravel_session="+laravelCookieOtherName), RequestInfo{}); got != "" {
			t.Errorf("%q next to a cookie that does not verify is a caller", auth)
		}
		if got := h.credentialID(req("Authorization", auth), RequestInfo{}); got != "" {
			t.Errorf("%q alone is a caller", auth)
		}
	}
	if obs.get("refused."+RefusedSessionUnverified) == 0 {
		t.Errorf("unverified session not counted: %v", obs.counts)
	}
}

// The token is what Laravel's Request::bearerToken reads: after the last
// "Bearer ", up to a comma, repeated headers joined as PHP sees them.
func TestBearerTokenAsLaravelReadsIt(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	token := func(values ...string) string {
		r := httptest.NewRequest("GET", "/", nil)
		for _, v := range values {
			r.Header.Add("Authorization", v)
		}
		return h.bearerToken(r)
	}
	for _, tc := range []struct {
		values []string
		want   string
	}{
		{[]string{"Bearer 1|abcDEF123"}, "1|abcDEF123"},
		{[]string{"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln-_w"}, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln-_w"},
		{[]string{"Basic c3RhZmY6cHc=, Bearer tok"}, "tok"},
		{[]string{"Bearer tok,extra"}, "tok"},
		{[]string{"Bearer a", "Bearer b"}, "b"},
		{[]string{"bearer tok"}, ""},
		{[]string{"Bearer null"}, ""},
		{[]string{"Bearer NULL"}, ""},
		{[]string{"Bearer undefined"}, ""},
		{[]string{"Bearer "}, ""},
		{[]string{"Bearer two words"}, ""},
		{[]string{"Basic c3RhZmY6cHc="}, ""},
		{[]string{"Bearer " + strings.Repeat("a", maxTokenBytes+1)}, ""},
	} {
		if got := token(tc.values...); got != tc.want {
			t.Errorf("%q: token %q, want %q", tc.values, got, tc.want)
		}
	}
}

// A real token is a caller, with or without a session; a token with a
// session is the pair, so a token someone made up next to their own session
// authorises nobody else.
func TestTokenIsACaller(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	var calls atomic.Int32
	tokens := map[string]string{"1|tok-of-alice": "alice", "2|tok-of-carol": "carol"}
	app := func(w http.ResponseWriter, r *http.Request) error {
		calls.Add(1)
		if u, ok := tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]; ok {
			r.Header.Set("Cookie", "laravel_session="+u)
		}
		return sessionApp(new(atomic.Int32))(w, r)
	}
	if rr := send(t, h, app, "GET", "/api/v1/flows/1", "", "Authorization", "Bearer 1|tok-of-alice"); rr.Code != 200 {
		t.Fatalf("Alice's GET: %d", rr.Code)
	}
	if rr := send(t, h, app, "GET", pollPath, "", "Authorization", "Bearer 1|tok-of-alice"); rr.Header().Get(HeaderCache) != "hit" {
		t.Fatalf("Alice's token poll: %d %v", rr.Code, rr.Header())
	}
	rr := send(t, h, app, "GET", pollPath, "", "Authorization", "Bearer 2|tok-of-carol")
	if rr.Code != 403 || rr.Header().Get(HeaderCache) != "miss" {
		t.Fatalf("Carol's token poll: %d %v", rr.Code, rr.Header())
	}
	// Carol's session with a token that authenticates nobody at the app:
	// the pair is a caller of its own, asked of the app.
	rr = send(t, h, app, "GET", pollPath, "", "Authorization", "Bearer made-up-token", "Cookie", "laravel_session=carol")
	if rr.Code != 403 || rr.Header().Get(HeaderCache) != "miss" {
		t.Fatalf("made-up token with Carol's session: %d %v", rr.Code, rr.Header())
	}
}

// notTheRecord are 2xx answers that are not the record: none authorises.
var notTheRecord = []struct {
	name   string
	answer func(w http.ResponseWriter)
}{
	{"SPA catch-all page", func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		io.WriteString(w, `<!doctype html><html><body><div id="app"></div></body></html>`)
	}},
	{"success false", func(w http.ResponseWriter) {
		writeAppJSON(w, 200, `{"success":false,"message":"Could not save."}`)
	}},
	{"preview without the version", func(w http.ResponseWriter) {
		writeAppJSON(w, 200, `{"success":true,"data":{"id":1,"name":"Preview"}}`)
	}},
	{"version at another path", func(w http.ResponseWriter) {
		writeAppJSON(w, 200, fmt.Sprintf(`{"success":true,"version":%q}`, version(10)))
	}},
	{"empty JSON", func(w http.ResponseWriter) { writeAppJSON(w, 200, ``) }},
	{"204", func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }},
	{"record over max_body_size", func(w http.ResponseWriter) {
		writeAppJSON(w, 200, fmt.Sprintf(`{"success":true,"data":{"updated_at":%q,"pad":%q}}`, version(10), strings.Repeat("x", 2048)))
	}},
}

// "Authorised" is learned only from an answer that is the record: a 2xx
// that is not (an SPA's page, a 200 {"success":false}, JSON without the
// version at version_field) lets neither the poll cache nor the guard answer
// that caller.
func TestOnlyTheRecordAuthorises(t *testing.T) {
	for _, tc := range notTheRecord {
		t.Run(tc.name, func(t *testing.T) {
			h, obs := newTestHandler(t, func(o *Options) { o.MaxBodyBytes = 1024 })
			var calls atomic.Int32
			app := func(w http.ResponseWriter, r *http.Request) error {
				calls.Add(1)
				if r.Header.Get("Authorization") == tokenOK {
					writeAppJSON(w, 200, recordJSON("1", appRecord{version: version(10), value: "secret", by: 1}))
					return nil
				}
				tc.answer(w)
				return nil
			}
			// Someone the app shows the record to: recordsync learns it.
			if rr := send(t, h, app, "GET", "/api/v1/flows/1", "", "Authorization", tokenOK); rr.Code != 200 {
				t.Fatalf("GET: %d", rr.Code)
			}
			// Mallory's record GET and poll get the 2xx that is not the record.
			send(t, h, app, "GET", "/api/v1/flows/1", "", "Authorization", "Bearer mallory")
			send(t, h, app, "GET", pollPath, "", "Authorization", "Bearer mallory")
			// So her polls still go to the app, and learn nothing from the cache.
			before := calls.Load()
			rr := send(t, h, app, "GET", pollPath, "", "Authorization", "Bearer mallory")
			if rr.Header().Get(HeaderCache) != "miss" || calls.Load() != before+1 || strings.Contains(rr.Body.String(), "User 1") {
				t.Fatalf("poll after a 2xx that is not the record: %d %s %v", rr.Code, rr.Body, rr.Header())
			}
			// And her stale write is not answered 409 from the cache.
			rr = send(t, h, app, "PUT", "/api/v1/flows/1", putBody(version(5), "x"), "Authorization", "Bearer mallory")
			if rr.Header().Get(HeaderCache) == "hit" || calls.Load() != before+2 || strings.Contains(rr.Body.String(), "User 1") {
				t.Fatalf("stale write after a 2xx that is not the record: %d %s %v", rr.Code, rr.Body, rr.Header())
			}
			if obs.get("refused."+RefusedNotRecord) == 0 {
				t.Errorf("not counted: %v", obs.counts)
			}
		})
	}
}

// The record and the version endpoint's answer authorise; 401 and 403 still
// deny (the remembered status is answered).
func TestRecordAndVersionAnswersAuthorise(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	app.seed("flow", "2", 20)
	// The version endpoint's own answer: the next poll is a hit.
	do(t, h, app, RequestInfo{}, "GET", pollPath, tokenOK, "")
	if rr := do(t, h, app, RequestInfo{}, "GET", pollPath, tokenOK, ""); rr.Header().Get(HeaderCache) != "hit" {
		t.Fatalf("poll after the version endpoint's answer: %v", rr.Header())
	}
	// A record answer: the next poll is a hit.
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/2", tokenOther, "")
	if rr := do(t, h, app, RequestInfo{}, "GET", "/api/v1/records/flow/2/version", tokenOther, ""); rr.Header().Get(HeaderCache) != "hit" {
		t.Fatalf("poll after the record's answer: %v", rr.Header())
	}
	// 403 denies.
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/2", tokenForbidden, "")
	if rr := do(t, h, app, RequestInfo{}, "GET", "/api/v1/records/flow/2/version", tokenForbidden, ""); rr.Code != 403 || rr.Header().Get(HeaderCache) != "hit" {
		t.Fatalf("poll after a 403: %d %v", rr.Code, rr.Header())
	}
}

// gatedBody is a request body that hands out its bytes only when told:
// a client trickling its upload. started is closed at the first Read.
type gatedBody struct {
	data    []byte
	gate    chan struct{}
	started chan struct{}
	once    sync.Once
}

func newGatedBody(s string) *gatedBody {
	return &gatedBody{data: []byte(s), gate: make(chan struct{}), started: make(chan struct{})}
}

func (b *gatedBody) Read(p []byte) (int, error) {
	b.once.Do(func() { close(b.started) })
	if len(b.data) == 0 {
		return 0, io.EOF
	}
	<-b.gate
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

func (b *gatedBody) Close() error { return nil }

// A conditional write takes its record's turn only once its body is here: an
// anonymous client trickling its upload holds nobody's write.
func TestSlowUploadHoldsNoTurn(t *testing.T) {
	h, obs := newTestHandler(t, func(o *Options) { o.WriteWait = 2 * time.Second })
	app := newFakeApp()
	app.seed("flow", "1", 10)
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", tokenOK, "")
	// The upstream takes the request body in before it answers (as
	// reverse_proxy and php_fastcgi hand it on).
	upstream := func(w http.ResponseWriter, r *http.Request) error {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		return app.next(w, r)
	}

	slow := newGatedBody(`{"value":"slow"}`)
	done := make(chan int, 1)
	go func() {
		req := httptest.NewRequest("PUT", "/api/v1/flows/1", nil)
		req.Body, req.ContentLength = slow, -1
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("If-Match", etagOf(version(10)))
		rr := httptest.NewRecorder()
		_ = h.ServeHTTP(rr, req, RequestInfo{}, upstream)
		done <- rr.Code
	}()
	<-slow.started

	// Alice's write goes through at once, while the upload trickles.
	rr := send(t, h, upstream, "PUT", "/api/v1/flows/1", putBody(version(10), "alice"), "Authorization", tokenOK)
	if rr.Code != 200 {
		t.Fatalf("a write behind a trickling upload: %d %s", rr.Code, rr.Body)
	}
	if obs.get("write_wait_timeout") != 0 {
		t.Fatal("a write waited out write_wait behind an upload")
	}
	close(slow.gate)
	if code := <-done; code != 401 {
		t.Fatalf("the anonymous upload: %d", code)
	}
}

// A body over max_body_size takes no turn: it passes unguarded (counted)
// while another write of the record holds the turn.
func TestOversizedConditionalWriteTakesNoTurn(t *testing.T) {
	h, obs := newTestHandler(t, func(o *Options) { o.MaxBodyBytes = 64; o.WriteWait = 2 * time.Second })
	app, release, first := holdFirstWrite(t, h)
	big := fmt.Sprintf(`{"value":%q}`, strings.Repeat("x", 100))
	rr := send(t, h, app, "PUT", "/api/v1/flows/1", big, "If-Match", etagOf(version(10)))
	if rr.Code != 200 {
		t.Fatalf("oversized write: %d", rr.Code)
	}
	if obs.get("refused."+RefusedBodyUnread) != 1 {
		t.Fatalf("not counted: %v", obs.counts)
	}
	release()
	<-first
}

// holdFirstWrite sends a conditional PUT of flow 1 (loaded on version 10)
// through h to app, which holds that first write at the app until release
// is called and answers every write with version 11; it returns once the
// first write is at the app. first receives its status.
func holdFirstWrite(t *testing.T, h *Handler) (app Next, release func(), first <-chan int) {
	t.Helper()
	hold := make(chan struct{})
	arrived := make(chan struct{})
	var stuck atomic.Bool
	app = func(w http.ResponseWriter, r *http.Request) error {
		if stuck.CompareAndSwap(false, true) {
			close(arrived)
			<-hold
		}
		writeAppJSON(w, 200, recordJSON("1", appRecord{version: version(11), value: "v", by: 1}))
		return nil
	}
	code := make(chan int, 1)
	go func() {
		req := httptest.NewRequest("PUT", "/api/v1/flows/1", strings.NewReader(`{"value":"first"}`))
		req.Header.Set("If-Match", etagOf(version(10)))
		rr := httptest.NewRecorder()
		_ = h.ServeHTTP(rr, req, RequestInfo{}, app)
		code <- rr.Code
	}()
	<-arrived
	return app, func() { close(hold) }, code
}

// A turn is held at most TurnTimeout (by default twice WriteWait): a write
// stuck at the app gives the record to the next writer (counted).
func TestTurnHasAnUpperBound(t *testing.T) {
	h, obs := newTestHandler(t, func(o *Options) { o.WriteWait = 50 * time.Millisecond })
	expired := make(chan struct{})
	var once sync.Once
	f := func(reason string) {
		if reason == RefusedTurnExpired {
			once.Do(func() { close(expired) })
		}
	}
	obs.onRefused.Store(&f)

	app, release, first := holdFirstWrite(t, h)
	select {
	case <-expired:
	case <-time.After(10 * time.Second):
		t.Fatal("the stuck write's turn never expired")
	}
	// The next writer gets the turn while the first is still at the app.
	rr := send(t, h, app, "PUT", "/api/v1/flows/1", `{"value":"second"}`, "If-Match", etagOf(version(10)))
	if rr.Code != 200 {
		t.Fatalf("the next writer: %d %s", rr.Code, rr.Body)
	}
	release()
	if code := <-first; code != 200 {
		t.Fatalf("the stuck write: %d", code)
	}
	if h.turns.size() != 0 {
		t.Fatalf("%d turns left", h.turns.size())
	}
}

// An answer that will not be learned from (its headers say it is not JSON)
// frees the turn when its headers go out, not when its body is done.
func TestStreamedAnswerFreesTheTurn(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.WriteWait = 2 * time.Second })
	hold := make(chan struct{})
	streaming := make(chan struct{})
	var first atomic.Bool
	app := func(w http.ResponseWriter, r *http.Request) error {
		if first.CompareAndSwap(false, true) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(200)
			io.WriteString(w, "<p>")
			close(streaming)
			<-hold // the rest of the page, to a slow reader
			io.WriteString(w, "</p>")
			return nil
		}
		writeAppJSON(w, 200, recordJSON("1", appRecord{version: version(11), value: "v", by: 1}))
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		req := httptest.NewRequest("PUT", "/api/v1/flows/1", strings.NewReader(`{"value":"first"}`))
		req.Header.Set("If-Match", etagOf(version(10)))
		_ = h.ServeHTTP(httptest.NewRecorder(), req, RequestInfo{}, app)
	}()
	<-streaming
	rr := send(t, h, app, "PUT", "/api/v1/flows/1", `{"value":"second"}`, "If-Match", etagOf(version(10)))
	if rr.Code != 200 {
		t.Fatalf("the next writer while an unlearnable answer streams: %d %s", rr.Code, rr.Body)
	}
	close(hold)
	<-done
}

// Strings learned from answers are bounded: a long version is not learned,
// a long updated_by_id not kept, a long name cut at a character boundary.
func TestLearnedStringsAreBounded(t *testing.T) {
	h, obs := newTestHandler(t, nil)
	answer := ""
	app := func(w http.ResponseWriter, r *http.Request) error {
		writeAppJSON(w, 200, answer)
		return nil
	}
	long := strings.Repeat("9", versioncache.MaxVersionBytes+1)
	answer = fmt.Sprintf(`{"success":true,"data":{"updated_at":%q}}`, long)
	rr := send(t, h, app, "GET", "/api/v1/flows/1", "", "Authorization", tokenOK)
	if _, ok := h.store.Get(keyOf("flow", "1")); ok || rr.Header().Get("ETag") != "" {
		t.Fatalf("a %d-byte version was learned", len(long))
	}
	if obs.get("refused."+RefusedVersionTooLong) != 1 {
		t.Fatalf("not counted: %v", obs.counts)
	}

	atBound := strings.Repeat("9", versioncache.MaxVersionBytes)
	name := strings.Repeat("é", 100) // 200 bytes, two per character
	answer = fmt.Sprintf(`{"success":true,"data":{"updated_at":%q,"updated_by":%q,"updated_by_name":%q}}`,
		atBound, strings.Repeat("u", versioncache.MaxByIDBytes), name)
	send(t, h, app, "GET", "/api/v1/flows/2", "", "Authorization", tokenOK)
	e, ok := h.store.Get(keyOf("flow", "2"))
	if !ok || e.Version != atBound {
		t.Fatalf("a %d-byte version was not learned: %+v", len(atBound), e)
	}
	if len(e.UpdatedByID) > versioncache.MaxByIDBytes {
		t.Errorf("updated_by_id of %d bytes kept", len(e.UpdatedByID))
	}
	if len(e.UpdatedByName) > versioncache.MaxNameBytes || !utf8.ValidString(e.UpdatedByName) || !strings.HasPrefix(name, e.UpdatedByName) || len(e.UpdatedByName) < versioncache.MaxNameBytes-1 {
		t.Errorf("name %q (%d bytes)", e.UpdatedByName, len(e.UpdatedByName))
	}
	if obs.get("refused."+RefusedUpdatedByIDTooLong) != 1 || obs.get("refused."+RefusedUpdatedByNameTruncated) != 1 {
		t.Errorf("not counted: %v", obs.counts)
	}

	answer = fmt.Sprintf(`{"success":true,"data":{"updated_at":%q,"updated_by":1,"updated_by_name":"Bob"}}`, version(30))
	send(t, h, app, "GET", "/api/v1/flows/3", "", "Authorization", tokenOK)
	if e, _ := h.store.Get(keyOf("flow", "3")); e.UpdatedByID != "1" || e.UpdatedByName != "Bob" {
		t.Errorf("short fields changed: %+v", e)
	}
}

func etagOf(v string) string { return `"` + v + `"` }
