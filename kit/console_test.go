package kit

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// The console's assets are served with their types, revalidated with their
// ETag; nothing else is.
func TestServeConsoleAsset(t *testing.T) {
	for path, ctype := range map[string]string{
		"/_rs/console.js":  "text/javascript; charset=utf-8",
		"/_rs/console.css": "text/css; charset=utf-8",
	} {
		rr := httptest.NewRecorder()
		ServeConsoleAsset(rr, httptest.NewRequest(http.MethodGet, path, nil))
		if rr.Code != 200 || rr.Header().Get("Content-Type") != ctype || rr.Body.Len() == 0 {
			t.Fatalf("%s: %d %q", path, rr.Code, rr.Header().Get("Content-Type"))
		}
		again := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("If-None-Match", rr.Header().Get("ETag"))
		ServeConsoleAsset(again, req)
		if again.Code != http.StatusNotModified {
			t.Fatalf("%s revalidated: %d", path, again.Code)
		}
		post := httptest.NewRecorder()
		ServeConsoleAsset(post, httptest.NewRequest(http.MethodPost, path, nil))
		if post.Code != http.StatusMethodNotAllowed {
			t.Fatalf("POST %s: %d", path, post.Code)
		}
	}
	rr := httptest.NewRecorder()
	ServeConsoleAsset(rr, httptest.NewRequest(http.MethodGet, "/_rs/console.html", nil))
	if rr.Code != http.StatusNotFound {
		t.Fatalf("console.html as an asset: %d", rr.Code)
	}
}

// The page loads nothing from another host (no CDN) and names its own
// files under the console's path; its script sets data as text only.
func TestConsolePageIsSelfContained(t *testing.T) {
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//`)
	for name, body := range map[string][]byte{"console.html": ConsoleHTML, "console.js": ConsoleJS, "console.css": ConsoleCSS} {
		if m := external.Find(body); m != nil {
			t.Errorf("%s loads from elsewhere: %s", name, m)
		}
	}
	html := string(ConsoleHTML)
	for _, want := range []string{`src="{{base}}/console.js"`, `href="{{base}}/console.css"`, `data-base="{{base}}"`, `action="{{base}}/login"`} {
		if !strings.Contains(html, want) {
			t.Errorf("console.html lacks %s", want)
		}
	}
	if strings.Contains(string(ConsoleJS), "innerHTML") {
		t.Error("console.js writes HTML")
	}
}
