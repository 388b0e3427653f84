package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A POST that Laravel routes as PUT or PATCH is the write it is: guarded
// (a stale one answered from the cache), learned and published.
func TestMethodOverrideIsGuarded(t *testing.T) {
	t.Parallel()
	const path = "/api/v1/flows/1"
	const multipart = "multipart/form-data; boundary=B"
	mp := func(name, value string) string {
		return "--B\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n" +
			"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B--\r\n"
	}
	for _, tt := range []struct {
		name        string
		target      string
		ctype, body string
		hdr         []string
	}{
		{"X-HTTP-Method-Override: PUT", path, "application/json", `{"value":"v"}`, []string{"X-HTTP-Method-Override", "PUT"}},
		{"X-HTTP-Method-Override: patch", path, "application/json", `{"value":"v"}`, []string{"X-HTTP-Method-Override", "patch"}},
		{"X_HTTP_METHOD_OVERRIDE (the same CGI variable)", path, "application/json", `{"value":"v"}`, []string{"X_http_method_override", "PUT"}},
		{"header 0 is empty to PHP: _method decides", path, "application/json", `{"_method":"PUT","value":"v"}`, []string{"X-HTTP-Method-Override", "0"}},
		{"_method in a JSON body", path, "application/json", `{"_method":"PATCH","value":"v"}`, nil},
		{"_method last of two in a JSON body", path, "application/json", `{"_method":"POST","_method":"put","value":"v"}`, nil},
		{"_method in a form body", path, "application/x-www-form-urlencoded", "_method=PUT&value=v", nil},
		{".method in a form body (PHP reads _method)", path, "application/x-www-form-urlencoded", ".method=put&value=v", nil},
		{"_method in a multipart body", path, multipart, mp("_method", "PUT"), nil},
		{"_method in the query", path + "?_method=PATCH", "text/plain", "value=v", nil},
		{"_method in the query, JSON PHP cannot decode", path + "?_method=PUT", "application/json", "{\"value\":\"\xff\"}", nil},
		{"trailing slash, as Laravel routes it", path + "/", "application/json", `{"_method":"PUT","value":"v"}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &recordingPublisher{}
			h, obs := newTestHandler(t, func(o *Options) { o.Publisher = pub })
			app := newFakeApp()
			app.seed("flow", "1", 10)
			do(t, h, app, RequestInfo{}, "GET", path, tokenOK, "")
			do(t, h, app, RequestInfo{}, "PUT", path, tokenOther, putBody(version(10), "other"))
			cur := app.record("flow", "1").version
			calls, _ := app.stats()
			saves := len(pub.all())

			post := func(loaded string) *httptest.ResponseRecorder {
				return postAs(t, h, app, tt.target, tt.ctype, tt.body, loaded, tt.hdr)
			}
			// Stale: answered from the cache, never reaching the app.
			if w := post(version(10)); w.Code != http.StatusConflict || w.Header().Get(HeaderCache) != "hit" {
				t.Fatalf("stale overridden write: %d %v %s", w.Code, w.Header(), w.Body)
			}
			if c, _ := app.stats(); c != calls {
				t.Fatal("the stale overridden write reached the app")
			}
			if strings.HasSuffix(tt.target, "/") {
				return // the fake app has no route for it; the guard is what counts
			}
			// Current: reaches the app, is learned and published.
			if w := post(cur); w.Code != http.StatusOK {
				t.Fatalf("current overridden write: %d %s", w.Code, w.Body)
			}
			saved := app.record("flow", "1").version
			if saved == cur {
				t.Fatal("the app did not write")
			}
			all := pub.all()
			if len(all) != saves+1 || all[len(all)-1].Entry.Version != saved {
				t.Fatalf("published %+v, want the save of %s", all[saves:], saved)
			}
			if e, ok := h.store.Get(keyOf("flow", "1")); !ok || e.Version != saved {
				t.Fatalf("store holds %+v, want %s", e, saved)
			}
			if obs.get("override."+OverrideWrite) != 2 {
				t.Fatalf("overrides counted %v", obs.counts)
			}
		})
	}
}

// A POST that Laravel does not route as PUT/PATCH passes through untouched;
// one whose override cannot be read as PHP reads it passes through too, and
// is counted.
func TestMethodOverrideNotAWrite(t *testing.T) {
	t.Parallel()
	const path = "/api/v1/flows/1"
	for _, tt := range []struct {
		name        string
		target      string
		ctype, body string
		hdr         []string
		unread      bool
	}{
		{"no override", path, "application/json", `{"value":"v"}`, nil, false},
		{"_method POST", path, "application/json", `{"_method":"POST"}`, nil, false},
		{"_method not a string", path, "application/json", `{"_method":["PUT"]}`, nil, false},
		{"_method array in a form", path, "application/x-www-form-urlencoded", "_method[]=PUT", nil, false},
		{"_method in the body wins over the query", path + "?_method=PUT", "application/x-www-form-urlencoded", "_method=DELETE", nil, false},
		{"header wins over _method", path, "application/json", `{"_method":"PUT"}`, []string{"X-HTTP-Method-Override", "DELETE"}, false},
		{"_method in a body PHP does not parse, none in the query", path, "text/plain", "_method=PUT", nil, false},
		{"two spellings of the header", path, "application/json", `{}`, []string{"X-Http-Method-Override", "PUT", "X_http_method_override", "PATCH"}, true},
		{"body over max_body_bytes", path, "application/x-www-form-urlencoded", "value=" + strings.Repeat("x", 300) + "&_method=PUT", nil, true},
		{"multipart without a boundary", path, "multipart/form-data", "--B\r\n", nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &recordingPublisher{}
			h, obs := newTestHandler(t, func(o *Options) { o.Publisher = pub; o.MaxBodyBytes = 256 })
			app := newFakeApp()
			app.seed("flow", "1", 10)
			do(t, h, app, RequestInfo{}, "GET", path, tokenOK, "")
			do(t, h, app, RequestInfo{}, "PUT", path, tokenOther, putBody(version(10), "other"))
			calls, _ := app.stats()
			w := postAs(t, h, app, tt.target, tt.ctype, tt.body, version(10), tt.hdr)
			if c, _ := app.stats(); c != calls+1 || w.Header().Get(HeaderCache) != "" {
				t.Fatalf("not passed through: %d %v %s", w.Code, w.Header(), w.Body)
			}
			if len(pub.all()) != 1 {
				t.Fatalf("a POST was published: %+v", pub.all())
			}
			unread := obs.get("override."+OverrideUnread) == 1
			if unread != tt.unread || obs.get("override."+OverrideWrite) != 0 {
				t.Fatalf("overrides counted %v, want unread %v", obs.counts, tt.unread)
			}
		})
	}
}

// postAs sends a POST of body to target through h as the first user, with
// If-Match loaded and the header pairs hdr set exactly as spelled.
func postAs(t *testing.T, h *Handler, app *fakeApp, target, ctype, body, loaded string, hdr []string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	r.Header.Set("Authorization", tokenOK)
	r.Header.Set("Content-Type", ctype)
	r.Header.Set("If-Match", `"`+loaded+`"`)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header[hdr[i]] = []string{hdr[i+1]}
	}
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, RequestInfo{}, app.next); err != nil {
		t.Fatal(err)
	}
	return w
}
