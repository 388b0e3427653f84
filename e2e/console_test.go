package e2e

// The live console (README, "Live console") in a real browser: Debian's
// Chromium driven by playwright-core (e2e/node/console.test.mjs), against
// the REAL example Laravel app behind Caddy with recordsync, the console
// at /_recordsync with one viewer, "tester", who sees the tenant 127.0.0.1
// only and signs in with a token. The test opens the console, is refused
// without the token, sees a pusher-js socket connect, sees a save made
// through the proxy arrive as record.updated from the proxy, sends a test
// event from the form that a pusher-js subscriber receives, and never sees
// the other tenant's (localhost) sockets and saves.
//
// The screenshot lands in e2e/out/console.png; RECORDSYNC_UPDATE_DOCS=1
// copies it to docs/ for the README.

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// consoleToken is the e2e viewer's console token.
const consoleToken = "console-e2e-token-0123456789"

func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	browser := chromiumBin(t)
	_, _, c := startRSLaravel(t, map[string]string{
		"BROADCAST_DRIVER":  "signonly",
		"PUSHER_APP_KEY":    testAppKey,
		"PUSHER_APP_SECRET": testAppSecret,
	}, rsOptions{Extra: "console /_recordsync {\n" +
		"\t\t\tviewer tester 127.0.0.1 {\n" +
		"\t\t\t\ttoken " + consoleToken + "\n" +
		"\t\t\t}\n" +
		"\t\t\tpayloads\n" +
		"\t\t}"})
	out := filepath.Join(repoRoot, "e2e", "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	runNodeTest(t, "console.test.mjs", map[string]string{
		"RS_PORT":          fmt.Sprint(c.HTTPPort),
		"RS_APP_KEY":       testAppKey,
		"RS_OUT":           out,
		"RS_CHROMIUM":      browser,
		"RS_CONSOLE_TOKEN": consoleToken,
	})
	if os.Getenv("RECORDSYNC_UPDATE_DOCS") == "" {
		return
	}
	data, err := os.ReadFile(filepath.Join(out, "console.png"))
	if err != nil {
		t.Fatalf("screenshot console.png: %v", err)
	}
	if err := os.WriteFile(filepath.Join(repoRoot, "docs", "console.png"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
