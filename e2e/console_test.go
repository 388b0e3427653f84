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

import "testing"

// consoleToken is the e2e viewer's console token.
const consoleToken = "console-e2e-token-0123456789"

func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	runBrowserTest(t, signOnlyEnv(nil), rsOptions{Extra: "console /_recordsync {\n" +
		"\t\t\tviewer tester 127.0.0.1 {\n" +
		"\t\t\t\ttoken " + consoleToken + "\n" +
		"\t\t\t}\n" +
		"\t\t\tpayloads\n" +
		"\t\t}"}, "console.test.mjs", map[string]string{"RS_CONSOLE_TOKEN": consoleToken}, "console.png")
}
