package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// laravel is the example app (examples/laravel) on its own php-fpm, set up
// as e2e/php_test.go does: fresh storage and SQLite database in a temporary
// folder, `artisan app:setup default`, the pool from php-fpm.conf.tmpl
// (4 static workers).
type laravel struct {
	*proc
	FPMPort int
	Root    string
	AppKey  string
}

func findPHPFPM() string {
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
	return ""
}

func startLaravel(repo, workDir string) (*laravel, error) {
	fpm := findPHPFPM()
	if fpm == "" {
		return nil, fmt.Errorf("php-fpm not found (apt-get install php-fpm php-laravel-framework php-sqlite3 php-redis)")
	}
	php, err := exec.LookPath("php")
	if err != nil {
		return nil, fmt.Errorf("php not found")
	}
	dir := filepath.Join(repo, "examples", "laravel")
	run, err := os.MkdirTemp(workDir, "laravel-")
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	l := &laravel{FPMPort: freePort(), Root: filepath.Join(dir, "public"), AppKey: "base64:" + base64.StdEncoding.EncodeToString(key)}
	env := []string{
		"APP_KEY=" + l.AppKey,
		"APP_ENV=production",
		"APP_DEBUG=false",
		"APP_STORAGE=" + filepath.Join(run, "storage"),
		"DB_DATABASE=" + filepath.Join(run, "db"),
		"LOG_CHANNEL=single",
		"BCRYPT_ROUNDS=4",
		"BROADCAST_DRIVER=null",
	}
	setup := exec.Command(php, "artisan", "app:setup", "default")
	setup.Dir = dir
	setup.Env = append(os.Environ(), env...)
	if out, err := setup.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("php artisan app:setup: %v\n%s", err, out)
	}
	tmpl, err := os.ReadFile(filepath.Join(dir, "php-fpm.conf.tmpl"))
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("{{DIR}}", run, "{{PORT}}", fmt.Sprint(l.FPMPort)).Replace(string(tmpl))
	confPath := filepath.Join(run, "php-fpm.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc("php-fpm", dir, env, nil, fpm, "-R", "-F", "-y", confPath, "-p", run)
	if err != nil {
		return nil, err
	}
	l.proc = p
	if err := waitListen(p, fmt.Sprintf("127.0.0.1:%d", l.FPMPort), 20*time.Second); err != nil {
		return nil, err
	}
	return l, nil
}

// site is the Caddyfile directives serving the app.
func (l *laravel) site() string {
	return fmt.Sprintf("\troot * %q\n\tphp_fastcgi 127.0.0.1:%d\n", l.Root, l.FPMPort)
}

// laravelLogin logs alice in through base (GET /login for the XSRF cookie,
// then a JSON POST /login) and returns the "laravel_session=..." cookie.
func laravelLogin(base string) (string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", base+"/login", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("GET /login: %d", resp.StatusCode)
	}
	u, _ := url.Parse(base)
	cookie := func(name string) string {
		for _, ck := range jar.Cookies(u) {
			if ck.Name == name {
				return ck.Value
			}
		}
		return ""
	}
	xsrf, _ := url.QueryUnescape(cookie("XSRF-TOKEN"))
	body, _ := json.Marshal(map[string]string{"email": "alice@example.com", "password": "secret"})
	req, _ = http.NewRequest("POST", base+"/login", bytes.NewReader(body))
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-XSRF-TOKEN", xsrf)
	resp, err = c.Do(req)
	if err != nil {
		return "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("POST /login: %d %s", resp.StatusCode, b)
	}
	s := cookie("laravel_session")
	if s == "" {
		return "", fmt.Errorf("no laravel_session cookie after login")
	}
	return "laravel_session=" + s, nil
}

// do sends one request and returns status, the X-Recordsync-Cache header and body.
func do(method, url string, body string, headers ...string) (int, string, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Recordsync-Cache"), string(b), nil
}
