package e2e

// A page built the way Laravel 11–13 starter kits build it — React 19, Echo
// configured with configureEcho() from @laravel/echo-react and used through
// its hooks, axios for saves — with recordsync as its Echo server, in
// Debian's Chromium (e2e/node/hooks.test.mjs). The node test bundles
// e2e/node/pages/echo-react.jsx with esbuild into a temporary folder, which
// Caddy serves at /build/ in front of the REAL example app; the app's shell
// page (GET /spa/{bundle}, resources/views/spa.blade.php) loads the bundle
// and recordsync's browser kit, to which the page hands its Echo with the
// one line RecordSync.useEcho(echo()) (kit/README.md). Login, session, CSRF
// and channel authorisation (routes/channels.php through
// BROADCAST_DRIVER=signonly) are the app's own. A screenshot of Bob's page
// lands in e2e/out/hooks.png.

import "testing"

func TestEchoHooksBrowser(t *testing.T) {
	t.Parallel()
	build := t.TempDir()
	runBrowserTest(t, signOnlyEnv(nil), rsOptions{FlowModel: true, Build: build}, "hooks.test.mjs",
		map[string]string{"RS_BUILD": build})
}
