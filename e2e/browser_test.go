package e2e

// The browser kit's acceptance tests (kit/README.md) in a real browser:
// Debian's Chromium driven by playwright-core (e2e/node/browser.test.mjs),
// two users in separate browser contexts, against the REAL example Laravel
// app behind Caddy with recordsync, which serves the browser kit at
// /ws/recordsync.js. Channel authorisation is the app's own
// routes/channels.php through /broadcasting/auth (BROADCAST_DRIVER=signonly,
// as in scripts/demo.sh). The site refuses client events (client_events
// off): the kit's "who is editing" signal, the one client event recordsync
// takes anyway, must work without them, and nothing else of the kit needs
// them.
//
// Screenshots of the banner, of the merge view and of the table prompt land
// in e2e/out/ (banner.png, merge.png, table-prompt.png);
// RECORDSYNC_UPDATE_DOCS=1 copies them to docs/ for the READMEs.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// chromiumBin is Debian's Chromium (RECORDSYNC_CHROMIUM overrides it).
func chromiumBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("RECORDSYNC_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: install Debian's chromium (the README's test command does)")
	return ""
}

func TestBrowserKit(t *testing.T) {
	// The longest end-to-end test, mostly waiting on timers and the
	// browser: runs beside the other parallel tests.
	t.Parallel()
	browser := chromiumBin(t)
	_, _, c := startRSLaravel(t, map[string]string{
		"BROADCAST_DRIVER":  "signonly",
		"PUSHER_APP_KEY":    testAppKey,
		"PUSHER_APP_SECRET": testAppSecret,
	}, rsOptions{Extra: "client_events off"})
	out := filepath.Join(repoRoot, "e2e", "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	runNodeTest(t, "browser.test.mjs", map[string]string{
		"RS_PORT":     fmt.Sprint(c.HTTPPort),
		"RS_APP_KEY":  testAppKey,
		"RS_OUT":      out,
		"RS_CHROMIUM": browser,
	})
	// The READMEs show the screenshots from docs/; refresh them with
	// RECORDSYNC_UPDATE_DOCS=1 (they change with every run's times).
	if os.Getenv("RECORDSYNC_UPDATE_DOCS") == "" {
		return
	}
	for _, name := range []string{"banner.png", "merge.png", "table-prompt.png"} {
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(repoRoot, "docs", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
