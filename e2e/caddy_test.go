package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// caddyProc is a running Caddy process.
type caddyProc struct {
	t         testing.TB
	cmd       *exec.Cmd
	dir       string
	AdminPort int
	HTTPPort  int
	log       *syncBuffer
	exited    chan struct{}
}

// URL is the base URL of the site Caddy serves.
func (c *caddyProc) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.HTTPPort) }

// Log returns what Caddy printed so far.
func (c *caddyProc) Log() string { return c.log.String() }

// globalOptions is the global block every test Caddyfile starts with; the
// site block(s) follow. %d are the admin and HTTP ports.
const globalOptions = `{
	admin 127.0.0.1:%d
	http_port %d
	auto_https off
	skip_install_trust
	grace_period 2s
	persist_config off
	log {
		level %s
	}
}
`

// startCaddy runs the built Caddy with the global options above followed by
// site. In site, the token {PORT} stands for the HTTP port. It waits until
// the site answers and stops Caddy when the test ends.
func startCaddy(t testing.TB, site string) *caddyProc {
	t.Helper()
	return startCaddyGlobal(t, "", site)
}

// startCaddyGlobal is startCaddy with extra lines in the global options
// block (e.g. "metrics", which turns on Caddy's per-handler HTTP metrics).
// Reload on it would drop the extra options: the drills using it don't.
func startCaddyGlobal(t testing.TB, extraGlobal, site string) *caddyProc {
	t.Helper()
	c := &caddyProc{t: t, dir: t.TempDir(), AdminPort: freePort(t), HTTPPort: freePort(t), log: &syncBuffer{}, exited: make(chan struct{})}
	cfg := c.config(site)
	if extraGlobal != "" {
		cfg = strings.Replace(cfg, "\tpersist_config off\n", "\tpersist_config off\n\t"+extraGlobal+"\n", 1)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "Caddyfile"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(caddyBin, "run", "--config", filepath.Join(c.dir, "Caddyfile"), "--adapter", "caddyfile")
	c.cmd.Dir = repoRoot
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	c.cmd.Env = append(os.Environ(), "HOME="+c.dir, "XDG_DATA_HOME="+c.dir, "XDG_CONFIG_HOME="+c.dir)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(c.Stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.HTTPPort), 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return c
		}
		select {
		case <-c.exited:
			t.Fatalf("caddy exited early:\n%s", c.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not listen on %d:\n%s", c.HTTPPort, c.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *caddyProc) config(site string) string {
	level := "WARN"
	if os.Getenv("RECORDSYNC_E2E_DEBUG") != "" {
		level = "DEBUG"
	}
	return fmt.Sprintf(globalOptions, c.AdminPort, c.HTTPPort, level) + strings.ReplaceAll(site, "{PORT}", fmt.Sprint(c.HTTPPort))
}

// Reload loads a new site config into the running Caddy through its admin
// API, as `caddy reload` does.
func (c *caddyProc) Reload(site string) {
	c.t.Helper()
	path := filepath.Join(c.dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(c.config(site)), 0o644); err != nil {
		c.t.Fatal(err)
	}
	out, err := exec.Command(caddyBin, "reload", "--config", path, "--adapter", "caddyfile",
		"--address", fmt.Sprintf("127.0.0.1:%d", c.AdminPort), "--force").CombinedOutput()
	if err != nil {
		c.t.Fatalf("caddy reload: %v\n%s\n%s", err, out, c.Log())
	}
}

// Stop asks Caddy to shut down gracefully and waits for it.
func (c *caddyProc) Stop() {
	if c.cmd.Process == nil {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
	if c.t.Failed() {
		c.t.Logf("caddy log:\n%s", c.Log())
	}
}

// syncBuffer collects a process's output; it is written by exec's copier
// goroutine and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
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
