package harness

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PHPFPM finds Debian's php-fpm (php-fpm8.2, php-fpm, or the newest
// /usr/sbin/php-fpm*).
func PHPFPM() (string, error) {
	for _, name := range []string{"php-fpm8.2", "php-fpm"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	matches, _ := filepath.Glob("/usr/sbin/php-fpm*")
	sort.Sort(sort.Reverse(sort.StringSlice(matches)))
	if len(matches) > 0 {
		return matches[0], nil
	}
	return "", errors.New("php-fpm not found: install php-fpm php-laravel-framework php-sqlite3 php-redis (Debian packages)")
}

// PHP finds the PHP command line, for artisan.
func PHP() (string, error) {
	p, err := exec.LookPath("php")
	if err != nil {
		return "", errors.New("php not found: install php-cli php-fpm php-laravel-framework php-sqlite3 php-redis (Debian packages)")
	}
	return p, nil
}

// NewLaravelAppKey makes an APP_KEY as `php artisan key:generate` does:
// "base64:" and 32 random bytes (the AES-256-CBC cipher of config/app.php).
func NewLaravelAppKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b), nil
}

// LaravelOptions say how StartLaravel runs the example app.
type LaravelOptions struct {
	// Repo is the checkout; the app is Repo/examples/laravel.
	Repo string
	// RunDir is an empty folder for the app's run-time state: storage/,
	// db/ (one SQLite database per tenant), php-fpm.conf and the logs.
	RunDir string
	// Env is added to the app's environment, over the defaults (see
	// examples/laravel/.env.example: APP_DEBUG, BROADCAST_DRIVER,
	// REDIS_PORT, ...); an APP_KEY in it replaces the generated one.
	Env map[string]string
	// Tenants are set up by `artisan app:setup` (e.g. "default", the
	// tenant of 127.0.0.1, or "a" for a.localhost).
	Tenants []string
	// StopTimeout is as in Options; Wait is how long php-fpm may take to
	// listen (default 20 s).
	StopTimeout, Wait time.Duration
}

// Laravel is the example app served by its own php-fpm on a free loopback
// port, its state in a folder of its own, so that several can run side by
// side.
type Laravel struct {
	*Proc
	// FPMPort is php-fpm's FastCGI port on 127.0.0.1.
	FPMPort int
	// Root is the app's public folder: Caddy's `root`.
	Root string
	// Dir is the app's folder (examples/laravel), where artisan is.
	Dir string
	// RunDir is LaravelOptions.RunDir.
	RunDir string
	// Env is the environment php-fpm and artisan run with, on top of this
	// process's: APP_KEY, APP_ENV, APP_STORAGE, DB_DATABASE, LOG_CHANNEL,
	// BCRYPT_ROUNDS and LaravelOptions.Env.
	Env map[string]string
	// AppKey is Env["APP_KEY"], for recordsync's laravel_app_key.
	AppKey string

	php string
}

// StartLaravel prepares a fresh run-time state for the app (storage, one
// SQLite database per tenant, seeded by `artisan app:setup`), writes a
// php-fpm pool from examples/laravel/php-fpm.conf.tmpl (4 static workers
// on 127.0.0.1) and starts php-fpm in the foreground in a process group of
// its own, and waits until it listens. The caller stops it (Stop also
// stops workers that outlive their master).
func StartLaravel(o LaravelOptions) (*Laravel, error) {
	fpm, err := PHPFPM()
	if err != nil {
		return nil, err
	}
	php, err := PHP()
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	key, err := NewLaravelAppKey()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(o.Repo, "examples", "laravel")
	a := &Laravel{
		FPMPort: port,
		Root:    filepath.Join(dir, "public"),
		Dir:     dir,
		RunDir:  o.RunDir,
		Env: map[string]string{
			"APP_KEY":       key,
			"APP_ENV":       "production",
			"APP_STORAGE":   filepath.Join(o.RunDir, "storage"),
			"DB_DATABASE":   filepath.Join(o.RunDir, "db"),
			"LOG_CHANNEL":   "single",
			"BCRYPT_ROUNDS": "4",
		},
		php: php,
	}
	for k, v := range o.Env {
		a.Env[k] = v
	}
	a.AppKey = a.Env["APP_KEY"]
	if _, err := a.Artisan(append([]string{"app:setup"}, o.Tenants...)...); err != nil {
		return nil, err
	}
	tmpl, err := os.ReadFile(filepath.Join(dir, "php-fpm.conf.tmpl"))
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("{{DIR}}", o.RunDir, "{{PORT}}", strconv.Itoa(port)).Replace(string(tmpl))
	confPath := filepath.Join(o.RunDir, "php-fpm.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	// -R: may run as root; -F: in the foreground; -y: this pool; -p: prefix.
	a.Proc, err = Start(Options{Name: "php-fpm", Dir: dir, Env: a.environ(), Group: true, StopTimeout: o.StopTimeout},
		fpm, "-R", "-F", "-y", confPath, "-p", o.RunDir)
	if err != nil {
		return nil, err
	}
	if o.Wait <= 0 {
		o.Wait = 20 * time.Second
	}
	if err := a.WaitListen(fmt.Sprintf("127.0.0.1:%d", port), o.Wait); err != nil {
		a.Stop()
		return nil, fmt.Errorf("%v\n%s", err, a.Logs())
	}
	return a, nil
}

// environ is Env as KEY=value entries.
func (a *Laravel) environ() []string {
	env := make([]string, 0, len(a.Env))
	for k, v := range a.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// Artisan runs `php artisan args...` in the app with its environment (use
// "--tenant=a" to pick a tenant) and returns its standard output.
func (a *Laravel) Artisan(args ...string) (string, error) {
	cmd := exec.Command(a.php, append([]string{"artisan"}, args...)...)
	cmd.Dir = a.Dir
	cmd.Env = append(os.Environ(), a.environ()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("php artisan %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out), nil
}

// Logs is what php-fpm, PHP and Laravel logged so far (the files' last
// 20,000 bytes).
func (a *Laravel) Logs() string {
	var b strings.Builder
	if a.Proc != nil {
		b.WriteString(a.Output())
	}
	for _, f := range []string{"php-fpm.log", "php-errors.log", "storage/logs/laravel.log"} {
		data, err := os.ReadFile(filepath.Join(a.RunDir, f))
		if err != nil || len(data) == 0 {
			continue
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", f, Tail(string(data), 20000))
	}
	return b.String()
}

// Directives are the Caddyfile directives that serve the app, for a site
// block (https://caddyserver.com/docs/caddyfile/directives/php_fastcgi):
//
//	root * <examples/laravel/public>
//	php_fastcgi 127.0.0.1:<port>
//
// The app's environment is php-fpm's own (the pool's clear_env = no), so
// none is passed through FastCGI.
func (a *Laravel) Directives() []string {
	return []string{fmt.Sprintf("root * %q", a.Root), fmt.Sprintf("php_fastcgi 127.0.0.1:%d", a.FPMPort)}
}

// LaravelLogin logs in through the app's POST /login at base as a
// browser's axios does (Laravel's VerifyCsrfToken middleware reads the
// X-XSRF-TOKEN header): GET /login for the XSRF-TOKEN cookie, then a JSON
// POST with X-XSRF-TOKEN. client must have a cookie jar, which then holds
// the session (laravel_session). It returns the session's CSRF token, for
// X-CSRF-TOKEN.
func LaravelLogin(client *http.Client, base, email, password string) (string, error) {
	send := func(method, accept string, body []byte, headers ...string) (int, []byte, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, base+"/login", rd)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Accept", accept)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, fmt.Errorf("%s /login: %w", method, err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		return resp.StatusCode, data, err
	}
	if status, body, err := send("GET", "text/html", nil); err != nil {
		return "", err
	} else if status != http.StatusOK {
		return "", fmt.Errorf("GET /login: %d\n%s", status, body)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	xsrf := ""
	for _, ck := range client.Jar.Cookies(u) {
		if ck.Name == "XSRF-TOKEN" {
			xsrf = ck.Value
			break
		}
	}
	xsrf, err = url.QueryUnescape(xsrf)
	if err != nil || xsrf == "" {
		return "", fmt.Errorf("no XSRF-TOKEN cookie after GET /login (%v)", err)
	}
	creds, _ := json.Marshal(map[string]string{"email": email, "password": password})
	status, body, err := send("POST", "application/json", creds, "X-XSRF-TOKEN", xsrf)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("POST /login as %s: %d\n%s", email, status, body)
	}
	var me struct {
		Data struct {
			CSRFToken string `json:"csrf_token"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &me); err != nil || me.Data.CSRFToken == "" {
		return "", fmt.Errorf("POST /login: unexpected answer %s", body)
	}
	return me.Data.CSRFToken, nil
}
