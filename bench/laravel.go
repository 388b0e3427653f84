package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/recordsync/recordsync/internal/harness"
)

// startLaravel starts the example app (examples/laravel) on its own php-fpm
// as the end-to-end tests do (harness.StartLaravel): fresh storage and
// SQLite database in a temporary folder under workDir, `artisan app:setup
// default`, the pool from php-fpm.conf.tmpl (4 static workers), with
// APP_DEBUG off and no broadcasting. It is tracked.
func startLaravel(repo, workDir string) (*harness.Laravel, error) {
	run, err := os.MkdirTemp(workDir, "laravel-")
	if err != nil {
		return nil, err
	}
	l, err := harness.StartLaravel(harness.LaravelOptions{Repo: repo, RunDir: run, Tenants: []string{"default"},
		Env: map[string]string{"APP_DEBUG": "false", "BROADCAST_DRIVER": "null"}})
	if err != nil {
		return nil, err
	}
	track(l)
	return l, nil
}

// laravelLogin logs alice in through base (harness.LaravelLogin) and
// returns the "laravel_session=..." cookie.
func laravelLogin(base string) (string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if _, err := harness.LaravelLogin(c, base, "alice@example.com", "secret"); err != nil {
		return "", err
	}
	u, _ := url.Parse(base)
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "laravel_session" && ck.Value != "" {
			return "laravel_session=" + ck.Value, nil
		}
	}
	return "", fmt.Errorf("no laravel_session cookie after login")
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
