package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBrowserKitServed: the module serves the browser kit at
// {ws_path}/recordsync.js (and .mjs) with the app key and ws_path filled in,
// revalidated with its ETag; other methods and paths under ws_path are not
// taken by it.
func TestBrowserKitServed(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream %s %s", r.Method, r.URL.Path)
	}))
	defer up.Close()
	base := startTestCaddy(t, fmt.Sprintf(`
		recordsync {
			name kit
			record flow /api/v1/flows/{id}
			app_id 1
			app_key kit-key
			app_secret kit-secret
			ws_path /live
		}
		reverse_proxy %s`, up.Listener.Addr()))

	do := func(method, path string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, body := do("GET", "/live/recordsync.js")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET kit: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	if !strings.Contains(body, `/*recordsync:config*/{"key":"kit-key","wsPath":"/live","records":{"flow":"/api/v1/flows/{id}"}}/*recordsync:end*/`) {
		t.Fatal("the served kit does not carry the app key, ws_path and record routes")
	}
	etag := resp.Header.Get("ETag")
	if resp, _ := do("GET", "/live/recordsync.js", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match %s: %d", etag, resp.StatusCode)
	}
	if resp, body := do("GET", "/live/recordsync.mjs"); resp.StatusCode != 200 || !strings.Contains(body, "export default RecordSync") {
		t.Fatalf("GET module: %d", resp.StatusCode)
	}
	// Not the kit: a POST, another file, the default /ws (ws_path is /live).
	if _, body := do("POST", "/live/recordsync.js"); strings.Contains(body, "RecordSync") {
		t.Fatal("POST served the kit")
	}
	if _, body := do("GET", "/ws/recordsync.js"); body != "upstream GET /ws/recordsync.js" {
		t.Fatalf("GET /ws/recordsync.js with ws_path /live: %q", body)
	}
}
