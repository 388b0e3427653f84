package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// laravelApp is the example Laravel app (examples/laravel) served by its own
// php-fpm on a free loopback port, with its storage and tenant databases in
// a temporary folder, so tests can run several side by side.
type laravelApp struct {
	t testing.TB
	// FPMPort is php-fpm's FastCGI port on 127.0.0.1.
	FPMPort int
	// Root is the app's public folder: Caddy's `root`.
	Root string
	// Dir is the app's folder (examples/laravel), where artisan is.
	Dir string
	// Env is the environment php-fpm and artisan run with (on top of the
	// test's own): APP_KEY, APP_STORAGE, DB_DATABASE and what the test gave.
	Env map[string]string
	// AppKey is Env["APP_KEY"], for recordsync's laravel_app_key.
	AppKey string
	// RunDir holds php-fpm.conf, the logs, storage/ and db/.
	RunDir string

	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

// laravelTenants are the tenants startLaravel creates: a.localhost,
// b.localhost, and "default" for 127.0.0.1.
var laravelTenants = []string{"a", "b", "default"}

// phpFPMBin finds Debian's php-fpm.
func phpFPMBin(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"php-fpm8.2", "php-fpm"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	matches, _ := filepath.Glob("/usr/sbin/php-fpm*")
	sort.Sort(sort.Reverse(sort.StringSlice(matches)))
	if len(matches) > 0 {
		return matches[0]
	}
	t.Fatal("php-fpm not found: install php-fpm php-laravel-framework php-sqlite3 php-redis (the README's test command does)")
	return ""
}

// phpBin finds the PHP command line, for artisan.
func phpBin(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("php")
	if err != nil {
		t.Fatal("php not found: install php-cli php-fpm php-laravel-framework php-sqlite3 php-redis (the README's test command does)")
	}
	return p
}

// startLaravel prepares a fresh copy of the example app's run-time state
// (storage, one SQLite database per tenant, seeded by `artisan app:setup`),
// writes a php-fpm pool from examples/laravel/php-fpm.conf.tmpl and starts
// php-fpm with env added to the app's environment (see
// examples/laravel/.env.example: BROADCAST_DRIVER, REDIS_PORT,
// RACY_GUARD_SLEEP_MS, ...). php-fpm and its workers are stopped when the
// test ends.
func startLaravel(t testing.TB, env map[string]string) *laravelApp {
	t.Helper()
	fpm := phpFPMBin(t)
	dir := filepath.Join(repoRoot, "examples", "laravel")
	run := t.TempDir()
	a := &laravelApp{
		t:       t,
		FPMPort: freePort(t),
		Root:    filepath.Join(dir, "public"),
		Dir:     dir,
		RunDir:  run,
		Env: map[string]string{
			"APP_KEY":       newLaravelAppKey(t),
			"APP_ENV":       "production",
			"APP_DEBUG":     "true",
			"APP_STORAGE":   filepath.Join(run, "storage"),
			"DB_DATABASE":   filepath.Join(run, "db"),
			"LOG_CHANNEL":   "single",
			"BCRYPT_ROUNDS": "4",
		},
		out:    &syncBuffer{},
		exited: make(chan struct{}),
	}
	for k, v := range env {
		a.Env[k] = v
	}
	a.AppKey = a.Env["APP_KEY"]
	a.Artisan(append([]string{"app:setup"}, laravelTenants...)...)

	tmpl, err := os.ReadFile(filepath.Join(dir, "php-fpm.conf.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("{{DIR}}", run, "{{PORT}}", fmt.Sprint(a.FPMPort)).Replace(string(tmpl))
	confPath := filepath.Join(run, "php-fpm.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(fpm, "-R", "-F", "-y", confPath, "-p", run)
	a.cmd.Dir = dir
	a.cmd.Env = a.environ()
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	// Its own process group, so that Stop can also reach workers that
	// outlive their master.
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(a.Stop)

	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", a.FPMPort), 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return a
		}
		select {
		case <-a.exited:
			t.Fatalf("php-fpm exited early:\n%s", a.Logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("php-fpm did not listen on %d:\n%s", a.FPMPort, a.Logs())
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// newLaravelAppKey makes an APP_KEY as `php artisan key:generate` does:
// "base64:" and 32 random bytes (AES-256-CBC).
func newLaravelAppKey(t testing.TB) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}

// environ is the process environment of php-fpm and artisan.
func (a *laravelApp) environ() []string {
	env := os.Environ()
	for k, v := range a.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// Artisan runs `php artisan args...` in the app with its environment (use
// "--tenant=a" to pick a tenant) and returns its standard output; the test
// fails if the command does.
func (a *laravelApp) Artisan(args ...string) string {
	a.t.Helper()
	cmd := exec.Command(phpBin(a.t), append([]string{"artisan"}, args...)...)
	cmd.Dir = a.Dir
	cmd.Env = a.environ()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		a.t.Fatalf("php artisan %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// Logs returns what php-fpm, PHP and Laravel logged so far.
func (a *laravelApp) Logs() string {
	var b strings.Builder
	b.WriteString(a.out.String())
	for _, f := range []string{"php-fpm.log", "php-errors.log", "storage/logs/laravel.log"} {
		data, err := os.ReadFile(filepath.Join(a.RunDir, f))
		if err != nil || len(data) == 0 {
			continue
		}
		const max = 20000
		if len(data) > max {
			data = data[len(data)-max:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", f, data)
	}
	return b.String()
}

// Stop stops php-fpm and its workers (idempotent).
func (a *laravelApp) Stop() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	pgid := a.cmd.Process.Pid
	select {
	case <-a.exited:
	default:
		a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.exited:
		case <-time.After(5 * time.Second):
			a.cmd.Process.Kill()
			<-a.exited
		}
	}
	syscall.Kill(-pgid, syscall.SIGKILL) // workers left behind, if any
	if a.t.Failed() {
		a.t.Logf("laravel logs:\n%s", a.Logs())
	}
}

// laravelSite gives the Caddyfile directives that serve app, to put inside
// a site block (next to a recordsync block, say):
//
//	root * <examples/laravel/public>
//	php_fastcgi 127.0.0.1:<port>
//
// The app's environment is php-fpm's own (clear_env = no), so none is
// passed through FastCGI.
func laravelSite(app *laravelApp) string {
	return fmt.Sprintf("\troot * %q\n\tphp_fastcgi 127.0.0.1:%d\n", app.Root, app.FPMPort)
}

// laravelClient is one browser session against a site serving the app: a
// cookie jar, and a tenant chosen by host name (a.localhost → tenant a),
// while every connection goes to the Caddy address it was made with.
type laravelClient struct {
	t testing.TB
	// Base is the site URL with the tenant's host name, e.g.
	// http://a.localhost:8123.
	Base string
	HTTP *http.Client
}

// laravelResponse is a finished response with its body read.
type laravelResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// newLaravelClient makes a client for the site at siteURL
// (http://127.0.0.1:PORT) on the tenant host (e.g. "a.localhost"; "" keeps
// the URL's host, which is the tenant "default").
func newLaravelClient(t testing.TB, siteURL, host string) *laravelClient {
	t.Helper()
	u, err := url.Parse(siteURL)
	if err != nil {
		t.Fatal(err)
	}
	addr := u.Host
	if host != "" {
		u.Host = net.JoinHostPort(host, u.Port())
	}
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 8,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &laravelClient{
		t:    t,
		Base: strings.TrimSuffix(u.String(), "/"),
		HTTP: &http.Client{
			Jar:       jar,
			Transport: tr,
			Timeout:   30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // tests look at redirects themselves
			},
		},
	}
}

// Do sends a request to path with body (nil, []byte, string, or a value sent
// as JSON) and headers given as pairs. It asks for JSON unless headers say
// otherwise.
func (c *laravelClient) Do(method, path string, body any, headers ...string) *laravelResponse {
	c.t.Helper()
	var rd io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd, contentType = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return &laravelResponse{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// Cookie returns the value of the named cookie the client holds for the
// site ("" when none).
func (c *laravelClient) Cookie(name string) string {
	u, _ := url.Parse(c.Base)
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// Login logs in through the app's POST /login as a browser's axios would:
// GET /login for the XSRF-TOKEN cookie, then a JSON POST with X-XSRF-TOKEN.
// It returns the session's CSRF token (for X-CSRF-TOKEN).
func (c *laravelClient) Login(email, password string) string {
	c.t.Helper()
	if r := c.Do("GET", "/login", nil, "Accept", "text/html"); r.Status != http.StatusOK {
		c.t.Fatalf("GET /login: %d\n%s", r.Status, r.Body)
	}
	xsrf, err := url.QueryUnescape(c.Cookie("XSRF-TOKEN"))
	if err != nil || xsrf == "" {
		c.t.Fatalf("no XSRF-TOKEN cookie after GET /login (%v)", err)
	}
	r := c.Do("POST", "/login", map[string]string{"email": email, "password": password}, "X-XSRF-TOKEN", xsrf)
	if r.Status != http.StatusOK {
		c.t.Fatalf("POST /login as %s: %d\n%s", email, r.Status, r.Body)
	}
	var me struct {
		Data struct {
			CSRFToken string `json:"csrf_token"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &me); err != nil || me.Data.CSRFToken == "" {
		c.t.Fatalf("POST /login: unexpected answer %s", r.Body)
	}
	return me.Data.CSRFToken
}
