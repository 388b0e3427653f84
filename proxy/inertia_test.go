package proxy

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recordsync/recordsync/versioncache"
	"github.com/tidwall/gjson"
)

// inertiaApp answers as an app with inertia-laravel does
// (https://inertiajs.com/the-protocol): GET /flows/{id} is the page
// Flows/Edit with the flow in props.flow — JSON with X-Inertia: true to an
// X-Inertia request, else HTML with the page in the root view (3.x's
// script element, or 2.x's data-page attribute with ?v2) — and a PUT
// checks client_version, saves, and redirects 303 to the page (a stale
// one redirects back without saving).
type inertiaApp struct {
	mu      sync.Mutex
	n       int // flow 1's version number
	by      int
	writes  int
	reads   int
	holdPut chan struct{} // when set, a PUT waits for it
}

func (a *inertiaApp) page(id string) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	flow := map[string]any{"id": 1, "name": fmt.Sprintf("name %d", a.n), "updated_at": version(a.n), "updated_by": a.by, "updated_by_name": fmt.Sprintf("user %d", a.by)}
	b, _ := json.Marshal(map[string]any{
		"component": "Flows/Edit",
		"props":     map[string]any{"errors": map[string]any{}, "auth": map[string]any{"user": map[string]any{"id": 9}}, "flow": flow},
		"url":       "/flows/" + id,
		"version":   "abc",
	})
	return b
}

func (a *inertiaApp) next(w http.ResponseWriter, r *http.Request) error {
	id := strings.TrimPrefix(r.URL.Path, "/flows/")
	switch r.Method {
	case http.MethodGet:
		a.mu.Lock()
		a.reads++
		a.mu.Unlock()
		p := a.page(id)
		w.Header().Set("Vary", "X-Inertia")
		if r.Header.Get("X-Inertia") == "true" {
			w.Header().Set("X-Inertia", "true")
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(p)
			return nil
		}
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		if r.URL.Query().Has("v2") {
			fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>x</title></head><body><div id=\"app\" data-page=\"%s\"></div></body></html>", html.EscapeString(string(p)))
		} else {
			fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>x</title></head><body><script data-page=\"app\" type=\"application/json\">%s</script><div id=\"app\"></div></body></html>", p)
		}
	case http.MethodPut:
		if a.holdPut != nil {
			<-a.holdPut
		}
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		if gjson.GetBytes(body, "client_version").String() == version(a.n) {
			a.n++
			a.by = 9
			a.writes++
		}
		a.mu.Unlock()
		w.Header().Set("Location", "http://example.com/flows/"+id)
		w.WriteHeader(http.StatusSeeOther)
	}
	return nil
}

func newInertiaHandler(t *testing.T, pub *recordingPublisher) (*Handler, *countingObserver) {
	t.Helper()
	return newTestHandler(t, func(o *Options) {
		o.Routes = []RouteSpec{{Type: "flow", Pattern: "/api/v1/flows/{id}", Inertia: &InertiaSpec{Props: "flow", Patterns: []string{"/flows/{id}"}}}}
		o.Printer = versioncache.NewPrinter([]byte("test"))
		if pub != nil {
			o.Publisher = pub
		}
	})
}

// visit sends an Inertia request (X-Inertia) or a first load through h.
func visit(t *testing.T, h *Handler, app *inertiaApp, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "http://example.com"+path, rd)
	r.Header.Set("Authorization", tokenOK)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, RequestInfo{}, app.next); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestInertiaLearnsPages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, path string
		hdr        []string
	}{
		{"X-Inertia JSON", "/flows/1", []string{"X-Inertia", "true"}},
		{"first load, 3.x script element", "/flows/1", nil},
		{"first load, 2.x data-page attribute", "/flows/1?v2", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := &inertiaApp{n: 4, by: 3}
			h, obs := newInertiaHandler(t, nil)
			w := visit(t, h, app, "GET", tc.path, "", tc.hdr...)
			if w.Code != 200 || !strings.Contains(w.Body.String(), "Flows/Edit") {
				t.Fatalf("page %d %s", w.Code, w.Body)
			}
			if w.Header().Get("ETag") != "" {
				t.Fatal("an Inertia page got the record's ETag: the page is more than the record")
			}
			e, ok := h.store.Get(keyOf("flow", "1"))
			if !ok || e.Version != version(4) || e.UpdatedByID != "3" || e.UpdatedByName != "user 3" {
				t.Fatalf("learned %+v %v", e, ok)
			}
			if obs.get("learned.response") != 1 {
				t.Fatalf("counts %v", obs.counts)
			}
		})
	}
}

func TestPageFromHTML(t *testing.T) {
	t.Parallel()
	page := `{"component":"A","props":{"x":"<b>&amp;'\""}}`
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"script", `<html><body><script data-page="app" type="application/json">` + page + `</script></body></html>`, page},
		{"div", `<div id="app" data-page="` + html.EscapeString(page) + `"></div>`, page},
		{"div, single quotes", `<div id='app' data-page='` + html.EscapeString(page) + `'></div>`, page},
		{"two pages", `<div data-page="{}"></div><div data-page="{}"></div>`, ""},
		// A browser keeps the first of a repeated attribute (HTML,
		// "Attribute name state": the second is dropped), so does the tokenizer.
		{"twice on one element", `<div data-page="{}" data-page="[]"></div>`, "{}"},
		{"a script of another type", `<script data-page="app">` + page + `</script>`, ""},
		{"escaped text is no attribute", `<p>data-page="{}"</p>`, ""},
		{"in a comment", `<!-- <div data-page="{}"> -->`, ""},
		{"none", `<html></html>`, ""},
	} {
		got, ok := pageFromHTML([]byte(tc.doc))
		if ok != (tc.want != "") || (ok && string(got) != tc.want) {
			t.Errorf("%s: %q %v, want %q", tc.name, got, ok, tc.want)
		}
	}
}

func FuzzPageFromHTML(f *testing.F) {
	f.Add(`<script data-page="app" type="application/json">{"component":"A","props":{}}</script>`)
	f.Add(`<div id="app" data-page="{&quot;component&quot;:&quot;A&quot;}"></div>`)
	f.Add(`<div data-page="{}"><script data-page="x" type="application/json">{}</script>`)
	f.Fuzz(func(t *testing.T, doc string) {
		got, ok := pageFromHTML([]byte(doc))
		if ok && !strings.Contains(doc, "data-page") {
			t.Fatalf("a page %q from a document without data-page", got)
		}
		// The same document reads the same way again.
		again, ok2 := pageFromHTML([]byte(doc))
		if ok != ok2 || string(got) != string(again) {
			t.Fatalf("read %q %v, then %q %v", got, ok, again, ok2)
		}
	})
}

// An Inertia write's save is learned from the page its redirect leads to,
// announced for the writer's socket and tab, and the record's turn is held
// until then: a second writer on the old version waits and is answered at
// the edge (it carries the kit's X-Tab-ID).
func TestInertiaWriteLearnedFromPage(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	app := &inertiaApp{n: 4, by: 3}
	h, _ := newInertiaHandler(t, pub)
	visit(t, h, app, "GET", "/flows/1", "", "X-Inertia", "true")

	w := visit(t, h, app, "PUT", "/flows/1", `{"client_version":"`+version(4)+`","name":"n"}`,
		"X-Inertia", "true", HeaderTabID, "tab-1", HeaderSocketID, "1.1")
	if w.Code != http.StatusSeeOther {
		t.Fatalf("write %d", w.Code)
	}
	if len(pub.all()) != 0 {
		t.Fatal("announced before the page came")
	}
	// Another tab's stale write waits for the turn the page releases.
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		r := httptest.NewRequest("PUT", "http://example.com/flows/1", strings.NewReader(`{"client_version":"`+version(4)+`","name":"m"}`))
		r.Header.Set("Authorization", tokenOK)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Inertia", "true")
		r.Header.Set(HeaderTabID, "tab-2")
		rr := httptest.NewRecorder()
		_ = h.ServeHTTP(rr, r, RequestInfo{}, app.next)
		done <- rr
	}()
	select {
	case rr := <-done:
		t.Fatalf("the second write did not wait for the page: %d %s", rr.Code, rr.Body)
	case <-time.After(200 * time.Millisecond):
	}
	// The browser's XHR follows the redirect.
	visit(t, h, app, "GET", "/flows/1", "", "X-Inertia", "true", HeaderTabID, "tab-1", HeaderSocketID, "1.1")
	saves := pub.all()
	if len(saves) != 1 || saves[0].Entry.Version != version(5) || saves[0].SocketID != "1.1" || saves[0].TabID != "tab-1" || saves[0].Entry.UpdatedByID != "9" {
		t.Fatalf("saves %+v", saves)
	}
	if got := saves[0].Entry.Changed; len(got) != 1 || got[0] != "name" {
		t.Fatalf("changed %v, want [name]", got)
	}
	rr := <-done
	if rr.Code != http.StatusConflict || gjson.Get(rr.Body.String(), "data.updated_at").String() != version(5) {
		t.Fatalf("the stale write: %d %s", rr.Code, rr.Body)
	}
	if app.writes != 1 {
		t.Fatalf("the app saved %d times", app.writes)
	}
}

// Without the kit (no X-Tab-ID) a stale Inertia write is not answered at
// the edge: the app answers it as it always does (its redirect back).
func TestInertiaStaleWriteWithoutKitGoesToApp(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	app := &inertiaApp{n: 4}
	h, _ := newInertiaHandler(t, pub)
	visit(t, h, app, "GET", "/flows/1", "", "X-Inertia", "true")
	w := visit(t, h, app, "PUT", "/flows/1", `{"client_version":"`+version(3)+`"}`, "X-Inertia", "true")
	if w.Code != http.StatusSeeOther {
		t.Fatalf("stale write without the kit: %d %s", w.Code, w.Body)
	}
	// The page after the app's redirect back shows no new version: no save.
	visit(t, h, app, "GET", "/flows/1", "", "X-Inertia", "true")
	if len(pub.all()) != 0 {
		t.Fatalf("announced %+v", pub.all())
	}
	// With the kit, the same write is answered at the edge.
	w = visit(t, h, app, "PUT", "/flows/1", `{"client_version":"`+version(3)+`"}`, "X-Inertia", "true", HeaderTabID, "t")
	if w.Code != http.StatusConflict || w.Header().Get(HeaderInertia) != "" {
		t.Fatalf("stale write with the kit: %d %v", w.Code, w.Header())
	}
}

// A redirect elsewhere (another record, another host) keeps no turn, and a
// redirect that is never followed gives the turn up after inertiaFollowWait.
func TestInertiaRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	app := &inertiaApp{n: 4}
	h, obs := newInertiaHandler(t, pub)
	visit(t, h, app, "GET", "/flows/1", "", "X-Inertia", "true")
	visit(t, h, app, "PUT", "/flows/1", `{"client_version":"`+version(4)+`"}`, "X-Inertia", "true", HeaderTabID, "t")
	start := time.Now()
	w := visit(t, h, app, "PUT", "/flows/1", `{"client_version":"`+version(4)+`"}`, "X-Inertia", "true")
	if waited := time.Since(start); waited < inertiaFollowWait/2 {
		t.Fatalf("the next write did not wait for the page (%s)", waited)
	}
	if w.Code != http.StatusSeeOther || obs.get("refused."+RefusedInertiaUnfollowed) != 1 {
		t.Fatalf("next write %d, counts %v", w.Code, obs.counts)
	}
	for _, loc := range []string{"http://other.example/flows/1", "/flows/2", "/dashboard", "//other.example/flows/1"} {
		if p, ok := redirectTo(httptest.NewRequest("PUT", "http://example.com/flows/1", nil), loc); ok {
			if rt, pt := h.matchRoute(p); rt != nil && pt.param(p, "id") == "1" {
				t.Errorf("%s leads to flow 1's page", loc)
			}
		}
	}
	if len(pub.all()) != 0 {
		t.Fatalf("announced %+v", pub.all())
	}
}

func TestInertiaOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec InertiaSpec
		ok   bool
	}{
		{InertiaSpec{Props: "flow"}, true},
		{InertiaSpec{Props: "data.flow", Patterns: []string{"/p/{project}/flows/{id}"}}, true},
		{InertiaSpec{Props: ""}, false},
		{InertiaSpec{Props: "flow.*"}, false},
		{InertiaSpec{Props: "flow", Patterns: []string{"/flows/{other}"}}, false},
	} {
		_, err := New(Options{Store: newStore(t), Routes: []RouteSpec{{Type: "flow", Pattern: "/api/flows/{id}", Inertia: &tc.spec}}})
		if (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.spec, err)
		}
	}
	// The who-saved-it fields keep their names inside the record object.
	rd := newReader("data.updated_at", "data.updated_by", "meta.by")
	in, err := rd.inertia("flow")
	if err != nil || in.version != "props.flow.updated_at" || in.byID != "props.flow.updated_by" || in.byName != "" {
		t.Fatalf("%+v %v", in, err)
	}
}
