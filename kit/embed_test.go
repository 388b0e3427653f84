package kit

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestConfigure(t *testing.T) {
	got := Configure(Config{Key: "k</script>&", WSPath: "/ws"})
	want := `/*recordsync:config*/{"key":"k\u003c/script\u003e\u0026","wsPath":"/ws"}/*recordsync:end*/`
	if !bytes.Contains(got, []byte(want)) {
		t.Fatalf("configured kit lacks %s", want)
	}
	if len(got) != len(JS)-len("{}")+len(want)-len("/*recordsync:config*//*recordsync:end*/") {
		t.Fatalf("configured kit has %d bytes, shipped %d: more than the config changed", len(got), len(JS))
	}
	routes := Configure(Config{Records: map[string]string{"flow": "/api/v1/flows/{id}"}})
	if !bytes.Contains(routes, []byte(`/*recordsync:config*/{"records":{"flow":"/api/v1/flows/{id}"}}/*recordsync:end*/`)) {
		t.Fatal("the record routes are not in the configured kit")
	}
	if empty := Configure(Config{}); !bytes.Equal(empty, JS) {
		t.Fatal("an empty config changes the file")
	}
}

func TestServe(t *testing.T) {
	h := New(Config{Key: "app-key", WSPath: "/ws"})
	js, mjs := Paths("/ws")
	if js != "/ws/recordsync.js" || mjs != "/ws/recordsync.mjs" {
		t.Fatalf("Paths = %q, %q", js, mjs)
	}
	do := func(method, path string, hdr ...string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(method, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	w := do("GET", js)
	if w.Code != 200 {
		t.Fatalf("GET %s: %d", js, w.Code)
	}
	for name, want := range map[string]string{
		"Content-Type":  "text/javascript; charset=utf-8",
		"Cache-Control": "no-cache",
	} {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	etag := w.Header().Get("ETag")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("ETag %q", etag)
	}
	if !strings.Contains(w.Body.String(), `{"key":"app-key","wsPath":"/ws"}`) {
		t.Fatal("served kit lacks its configuration")
	}

	if w := do("GET", js, "If-None-Match", etag); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Fatalf("If-None-Match %s: %d, %d bytes", etag, w.Code, w.Body.Len())
	}
	if w := do("GET", js, "If-None-Match", `W/`+etag); w.Code != http.StatusNotModified {
		t.Fatalf("weak If-None-Match: %d", w.Code)
	}
	if w := do("GET", js, "If-None-Match", `"other"`); w.Code != 200 {
		t.Fatalf("other If-None-Match: %d", w.Code)
	}
	if w := do("HEAD", js); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Fatalf("HEAD: %d, %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
	if w := do("POST", js); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
	if w := do("GET", "/ws/other.js"); w.Code != http.StatusNotFound {
		t.Fatalf("other file: %d", w.Code)
	}

	w = do("GET", mjs)
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/javascript; charset=utf-8" ||
		!strings.Contains(w.Body.String(), "import './recordsync.js';") {
		t.Fatalf("GET %s: %d %q", mjs, w.Code, w.Header().Get("Content-Type"))
	}
	if w.Header().Get("ETag") == etag {
		t.Fatal("both files have one ETag")
	}

	// Another key is another file, so another ETag.
	if other := New(Config{Key: "other"}); other.js.etag == h.js.etag {
		t.Fatal("the ETag does not depend on the configuration")
	}
}

func TestServeUnconfigured(t *testing.T) {
	w := httptest.NewRecorder()
	Serve(w, httptest.NewRequest("GET", "/assets/recordsync.js", nil))
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), JS) {
		t.Fatalf("Serve: %d, %d bytes (want the shipped file)", w.Code, w.Body.Len())
	}
}
