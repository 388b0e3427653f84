package e2e

// Inertia pages in a real browser: Debian's Chromium driven by
// playwright-core (e2e/node/inertia.test.mjs) runs the real Inertia clients
// (@inertiajs/react 3.x and 2.x, bundled by the node test with esbuild into
// a folder the site serves at /build/) against the example Laravel app's
// Inertia pages (examples/laravel/app/Support/Inertia.php, an emulation of
// inertia-laravel 3 and 2), behind Caddy with recordsync reading flows from
// them (`inertia flow /inertia/flows/{id}`). Inertia 3 runs on tenant a,
// Inertia 2 on tenant b (the cookie inertia_major=2), so that each starts
// with a cache that knows none of its flows.
//
// The screenshot of the kit's conflict view on an Inertia 3 page lands in
// e2e/out/inertia-conflict.png; RECORDSYNC_UPDATE_DOCS=1 copies it to docs/
// for kit/README.md.

import "testing"

func TestInertiaBrowser(t *testing.T) {
	t.Parallel()
	build := t.TempDir()
	runBrowserTest(t, signOnlyEnv(map[string]string{"INERTIA_ASSET_VERSION": "e2e-1"}), rsOptions{Inertia: true, Build: build},
		"inertia.test.mjs", map[string]string{"RS_BUILD": build, "RS_ASSET_VERSION": "e2e-1"}, "inertia-conflict.png")
}
