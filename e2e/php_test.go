package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/recordsync/recordsync/internal/harness"
)

// laravelApp is the example Laravel app (examples/laravel) served by its own
// php-fpm on a free loopback port (harness.Laravel: FPMPort, Root, Dir, Env,
// AppKey, RunDir, Logs), with its storage and tenant databases in a
// temporary folder, so tests can run several side by side.
type laravelApp struct {
	*harness.Laravel
	t testing.TB
}

// laravelTenants are the tenants startLaravel creates: a.localhost,
// b.localhost, and "default" for 127.0.0.1.
var laravelTenants = []string{"a", "b", "default"}

// phpBin finds the PHP command line, for artisan.
func phpBin(t testing.TB) string {
	t.Helper()
	p, err := harness.PHP()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startLaravel starts the app (harness.StartLaravel: fresh storage, one
// SQLite database per tenant seeded by `artisan app:setup`, a php-fpm pool
// from examples/laravel/php-fpm.conf.tmpl) with APP_DEBUG=true and env
// added to the app's environment (see examples/laravel/.env.example:
// BROADCAST_DRIVER, REDIS_PORT, RACY_GUARD_SLEEP_MS, ...). php-fpm and its
// workers are stopped when the test ends.
func startLaravel(t testing.TB, env map[string]string) *laravelApp {
	t.Helper()
	all := map[string]string{"APP_DEBUG": "true"}
	for k, v := range env {
		all[k] = v
	}
	l, err := harness.StartLaravel(harness.LaravelOptions{Repo: repoRoot, RunDir: t.TempDir(), Env: all,
		Tenants: laravelTenants, StopTimeout: 5 * time.Second, Wait: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a := &laravelApp{Laravel: l, t: t}
	t.Cleanup(a.Stop)
	return a
}

// Artisan runs `php artisan args...` in the app with its environment (use
// "--tenant=a" to pick a tenant) and returns its standard output; the test
// fails if the command does.
func (a *laravelApp) Artisan(args ...string) string {
	a.t.Helper()
	out, err := a.Laravel.Artisan(args...)
	if err != nil {
		a.t.Fatal(err)
	}
	return out
}

// Stop stops php-fpm and its workers (idempotent) and, if the test failed,
// logs what the app logged.
func (a *laravelApp) Stop() {
	a.Laravel.Stop()
	if a.t.Failed() {
		a.t.Logf("laravel logs:\n%s", a.Logs())
	}
}

// laravelSite gives the Caddyfile directives that serve app, to put inside
// a site block (next to a recordsync block, say):
//
//	root * <examples/laravel/public>
//	php_fastcgi 127.0.0.1:<port>
func laravelSite(app *laravelApp) string {
	return harness.Indent(app.Directives()...)
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

// Login logs in through the app's POST /login as a browser's axios would
// (harness.LaravelLogin). It returns the session's CSRF token (for
// X-CSRF-TOKEN).
func (c *laravelClient) Login(email, password string) string {
	c.t.Helper()
	csrf, err := harness.LaravelLogin(c.HTTP, c.Base, email, password)
	if err != nil {
		c.t.Fatal(err)
	}
	return csrf
}
