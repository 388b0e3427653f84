package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// The console block reads into ConsoleConfig, and back from its JSON.
func TestUnmarshalCaddyfileConsole(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`recordsync {
		console /_recordsync {
			viewer alice a.example.com *.b.example.com
			viewer ops * {
				token {env.RECORDSYNC_CONSOLE_TOKEN}
			}
			user {http.request.header.X-Forwarded-User}
			payloads
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &ConsoleConfig{
		Path: "/_recordsync",
		Viewers: []ConsoleViewerConfig{
			{Name: "alice", Tenants: []string{"a.example.com", "*.b.example.com"}},
			{Name: "ops", Tenants: []string{"*"}, Token: "{env.RECORDSYNC_CONSOLE_TOKEN}"},
		},
		User:     "{http.request.header.X-Forwarded-User}",
		Payloads: true,
	}
	if !reflect.DeepEqual(h.Console, want) {
		t.Fatalf("console %+v, want %+v", h.Console, want)
	}
	back := unmarshalAsCaddy(t, mustJSON(t, h))
	if !reflect.DeepEqual(back.Console, want) {
		t.Fatalf("read back %+v", back.Console)
	}
}

// Errors in the console block name their line.
func TestUnmarshalCaddyfileConsoleErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
	}{
		{"no path", "recordsync {\n\tconsole {\n\t\tviewer a *\n\t}\n}", "console takes the console's path"},
		{"bad path", "recordsync {\n\tconsole _rs {\n\t\tviewer a *\n\t}\n}", "must start with /"},
		{"no viewer", "recordsync {\n\tconsole /_rs {\n\t\tpayloads\n\t}\n}", "has no viewer"},
		{"no block", "recordsync {\n\tconsole /_rs\n}", "has no viewer"},
		{"viewer without tenants", "recordsync {\n\tconsole /_rs {\n\t\tviewer alice\n\t}\n}", "viewer takes a name and the tenants"},
		{"viewer twice", "recordsync {\n\tconsole /_rs {\n\t\tviewer a *\n\t\tviewer a x\n\t}\n}", `viewer "a" is declared twice`},
		{"short token", "recordsync {\n\tconsole /_rs {\n\t\tviewer a * {\n\t\t\ttoken short\n\t\t}\n\t}\n}", "at least 16 characters"},
		{"other in viewer", "recordsync {\n\tconsole /_rs {\n\t\tviewer a * {\n\t\t\tpassword xxxxxxxxxxxxxxxxxxxx\n\t\t}\n\t}\n}", "takes one token"},
		{"unknown", "recordsync {\n\tconsole /_rs {\n\t\tviewer a *\n\t\tcolour red\n\t}\n}", `unrecognized console subdirective "colour"`},
		{"payloads twice", "recordsync {\n\tconsole /_rs {\n\t\tviewer a *\n\t\tpayloads\n\t\tpayloads\n\t}\n}", `duplicate console subdirective "payloads"`},
		{"console twice", "recordsync {\n\tconsole /a {\n\t\tviewer a *\n\t}\n\tconsole /b {\n\t\tviewer a *\n\t}\n}", `duplicate subdirective "console"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "Testfile:") {
				t.Errorf("error %q does not name the line", err)
			}
		})
	}
}

// The console's path may not overlap the websocket's, and a token whose
// placeholder is empty at provisioning is an error naming the viewer.
func TestConsoleValidation(t *testing.T) {
	h := Handler{Console: &ConsoleConfig{Path: "/ws/console", Viewers: []ConsoleViewerConfig{{Name: "a", Tenants: []string{"*"}}}}}
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "overlaps the websocket path") {
		t.Fatalf("console under ws_path: %v", err)
	}
	h.Console.Path = "/_rs"
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Behind Caddy's basic_auth, the console opens to the authenticated user
// who is one of its viewers (Caddy's {http.auth.user.id}), refuses the
// others, and is not there at all without a console block.
func TestConsoleBehindBasicAuth(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app %s", r.URL.Path)
	}))
	defer up.Close()
	base := startTestCaddy(t, fmt.Sprintf(`
		basic_auth /_rs* {
			alice $2a$04$zwkxKAqk92twa1So8VGlbebliblJiF5MeACc1GAf6TrcTohaK7.hS
			bob $2a$04$FlrjmbvrZ/ywra8Gse9pE.tlkqQAYurXkCg71fYJ2mAhAXkB2VOMa
		}
		recordsync {
			name console
			tenant {http.request.host}
			app_key k
			app_secret s
			console /_rs {
				viewer alice 127.0.0.1
			}
		}
		reverse_proxy %s`, up.Listener.Addr()))

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	get := func(path, user, pass string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	if resp, _ := get("/_rs/", "", ""); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("without credentials: %d (Caddy's basic_auth answers)", resp.StatusCode)
	}
	resp, body := get("/_rs/", "alice", "alice-pass")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `src="/_rs/console.js"`) {
		t.Fatalf("alice: %d %.200s", resp.StatusCode, body)
	}
	resp, body = get("/_rs/api/state", "alice", "alice-pass")
	var st struct {
		Viewer string `json:"viewer"`
		CSRF   string `json:"csrf"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil || st.Viewer != "alice" || st.CSRF == "" {
		t.Fatalf("alice's state: %d %s", resp.StatusCode, body)
	}
	// Bob passes basic_auth but is no viewer; alice's session cookie in
	// the jar does not make him alice.
	if resp, body := get("/_rs/api/state", "bob", "bob-pass"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bob: %d %s", resp.StatusCode, body)
	}
	if resp, body := get("/other", "", ""); resp.StatusCode != http.StatusOK || body != "app /other" {
		t.Fatalf("the app: %d %s", resp.StatusCode, body)
	}
}

// Without a console block, its path is the app's.
func TestConsoleOffByDefault(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app %s", r.URL.Path)
	}))
	defer up.Close()
	base := startTestCaddy(t, fmt.Sprintf(`
		recordsync {
			name noconsole
			app_key k
			app_secret s
		}
		reverse_proxy %s`, up.Listener.Addr()))
	for _, p := range []string{"/_recordsync/", "/_recordsync/api/state", "/_rs/api/stream"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "app "+p {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
}
