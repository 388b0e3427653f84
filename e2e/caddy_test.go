package e2e

import (
	"net/http"
	"os"
	"testing"

	"github.com/recordsync/recordsync/internal/harness"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// caddyProc is a running Caddy process (harness.Caddy: AdminPort,
// HTTPPort, URL, Log, Metrics, ...) that fails its test instead of
// returning errors.
type caddyProc struct {
	*harness.Caddy
	t testing.TB
}

// startCaddy runs the built Caddy with the global options every test
// Caddyfile starts with (harness.Global: admin and http_port on free
// 127.0.0.1 ports, auto_https off, grace_period 2s, log level WARN, DEBUG
// with RECORDSYNC_E2E_DEBUG set) followed by site. In site, the token
// {PORT} stands for the HTTP port. It waits until the site answers and
// stops Caddy when the test ends.
func startCaddy(t testing.TB, site string) *caddyProc {
	t.Helper()
	return startCaddyGlobal(t, "", site)
}

// startCaddyGlobal is startCaddy with an extra line in the global options
// block (e.g. "metrics", which turns on Caddy's per-handler HTTP metrics);
// Reload keeps it.
func startCaddyGlobal(t testing.TB, extraGlobal, site string) *caddyProc {
	t.Helper()
	level := "WARN"
	if os.Getenv("RECORDSYNC_E2E_DEBUG") != "" {
		level = "DEBUG"
	}
	g := harness.Global{GracePeriod: "2s", LogLevel: level}
	if extraGlobal != "" {
		g.Extra = []string{extraGlobal}
	}
	hc, err := harness.StartCaddy(harness.CaddyOptions{Bin: caddyBin, Dir: t.TempDir(), WorkDir: repoRoot, Global: g}, site)
	if err != nil {
		t.Fatal(err)
	}
	c := &caddyProc{Caddy: hc, t: t}
	t.Cleanup(c.Stop)
	return c
}

// Reload loads a new site config into the running Caddy through its admin
// API, as `caddy reload` does.
func (c *caddyProc) Reload(site string) {
	c.t.Helper()
	if err := c.Caddy.Reload(site); err != nil {
		c.t.Fatalf("%v\n%s", err, c.Log())
	}
}

// Stop asks Caddy to shut down gracefully and waits for it; if the test
// failed by then, it logs what Caddy printed. It does nothing once Caddy
// has exited.
func (c *caddyProc) Stop() {
	select {
	case <-c.Exited():
		return
	default:
	}
	c.Caddy.Stop()
	if c.t.Failed() {
		c.t.Logf("caddy log:\n%s", c.Log())
	}
}

// get is a small helper for GET requests with headers given as pairs.
func get(t testing.TB, url string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
