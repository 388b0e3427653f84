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
	runBrowserTest(t, signOnlyEnv(nil), rsOptions{Extra: "client_events off"}, "browser.test.mjs", nil,
		"banner.png", "merge.png", "table-prompt.png")
}

// signOnlyEnv is the example app's environment of the browser tests:
// BROADCAST_DRIVER=signonly with the test's app key and secret (as in
// scripts/demo.sh), plus more.
func signOnlyEnv(more map[string]string) map[string]string {
	env := map[string]string{
		"BROADCAST_DRIVER":  "signonly",
		"PUSHER_APP_KEY":    testAppKey,
		"PUSHER_APP_SECRET": testAppSecret,
	}
	for k, v := range more {
		env[k] = v
	}
	return env
}

// runBrowserTest starts the example app with env behind recordsync (o) and
// runs the node test script in Debian's Chromium with RS_PORT, RS_APP_KEY,
// RS_OUT (e2e/out, for screenshots), RS_CHROMIUM and vars. The READMEs
// show the screenshots named in docs from docs/: RECORDSYNC_UPDATE_DOCS=1
// copies them there (they change with every run's times).
func runBrowserTest(t *testing.T, env map[string]string, o rsOptions, script string, vars map[string]string, docs ...string) {
	t.Helper()
	browser := chromiumBin(t)
	_, _, c := startRSLaravel(t, env, o)
	out := filepath.Join(repoRoot, "e2e", "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	all := map[string]string{
		"RS_PORT":     fmt.Sprint(c.HTTPPort),
		"RS_APP_KEY":  testAppKey,
		"RS_OUT":      out,
		"RS_CHROMIUM": browser,
	}
	for k, v := range vars {
		all[k] = v
	}
	runNodeTest(t, script, all)
	if os.Getenv("RECORDSYNC_UPDATE_DOCS") == "" {
		return
	}
	for _, name := range docs {
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(repoRoot, "docs", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
