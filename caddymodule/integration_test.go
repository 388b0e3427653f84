package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// racyApp is an upstream whose own optimistic check is racy: it reads the
// version, sleeps, then writes, so concurrent writers that loaded the same
// version would all succeed and overwrite each other without the proxy.
type racyApp struct {
	mu      sync.Mutex
	version string
	history []string // every write the app accepted, in order
	n       atomic.Int64
}

func (a *racyApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	a.mu.Lock()
	cur := a.version
	a.mu.Unlock()
	if r.Method == http.MethodGet {
		fmt.Fprintf(w, `{"success":true,"data":{"id":1,"updated_at":%q,"updated_by_name":"Alice"}}`, cur)
		return
	}
	var body struct {
		Writer        string `json:"writer"`
		ClientVersion string `json:"client_version"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	if body.ClientVersion != cur {
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, `{"success":false,"data":{"updated_at":%q}}`, cur)
		return
	}
	time.Sleep(20 * time.Millisecond) // the race window of check-then-write
	a.mu.Lock()
	next := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(a.n.Add(1)) * time.Microsecond).Format("2006-01-02T15:04:05.000000Z")
	a.version = next
	a.history = append(a.history, body.Writer)
	a.mu.Unlock()
	fmt.Fprintf(w, `{"success":true,"data":{"id":1,"updated_at":%q,"updated_by_name":%q}}`, next, body.Writer)
}

// startTestCaddy runs Caddy in-process (caddytest) with this package's
// global options and one site on a free port; site is what goes inside the
// site block. It returns the site's base URL.
func startTestCaddy(t *testing.T, site string) string {
	t.Helper()
	adminPort, httpPort := freePort(t), freePort(t)
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort})
	tester.InitServer(fmt.Sprintf(`{
		admin localhost:%d
		http_port %d
		skip_install_trust
		grace_period 1ns
		persist_config off
	}
	:%d {
%s
	}`, adminPort, httpPort, httpPort, site), "caddyfile")
	return fmt.Sprintf("http://127.0.0.1:%d", httpPort)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestNoLostUpdatesThroughCaddy runs 50 concurrent writers that all loaded
// the same version through the real Caddy in front of a racy upstream:
// exactly one succeeds, the others get 409, and the app's history holds
// exactly that one write.
func TestNoLostUpdatesThroughCaddy(t *testing.T) {
	app := &racyApp{version: "2026-01-01T00:00:00.000000Z"}
	up := httptest.NewServer(app)
	defer up.Close()
	base := startTestCaddy(t, fmt.Sprintf(`
		recordsync {
			name racy
			record flow /api/v1/flows/{id}
		}
		reverse_proxy %s`, up.Listener.Addr()))

	// Every writer is a caller the app has authorised (it read the record
	// with its own credential) and loaded the same version.
	const writers = 50
	client := &http.Client{Timeout: 30 * time.Second}
	for i := 0; i < writers; i++ {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/flows/1", nil)
		req.Header.Set("Authorization", fmt.Sprintf("Bearer writer-%d", i))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Header.Get("ETag") != `"2026-01-01T00:00:00.000000Z"` {
			t.Fatalf("GET ETag = %q", resp.Header.Get("ETag"))
		}
	}
	var wg sync.WaitGroup
	statuses := make([]int, writers)
	start := make(chan struct{})
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			body := fmt.Sprintf(`{"writer":"w%d","client_version":"2026-01-01T00:00:00.000000Z"}`, i)
			req, _ := http.NewRequest(http.MethodPut, base+"/api/v1/flows/1", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", fmt.Sprintf("Bearer writer-%d", i))
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}(i)
	}
	close(start)
	wg.Wait()
	var ok, conflict int
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
			conflict++
		}
	}
	if ok != 1 || conflict != writers-1 {
		t.Fatalf("%d successes, %d conflicts (statuses %v); want 1 and %d", ok, conflict, statuses, writers-1)
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	if len(app.history) != 1 {
		t.Fatalf("the app accepted %d writes %v: lost updates", len(app.history), app.history)
	}
}

// TestAdaptCaddyfile pins the Caddyfile → JSON mapping, including that the
// directive orders itself after encode without an order line.
func TestAdaptCaddyfile(t *testing.T) {
	caddytest.AssertAdapt(t, `:8080 {
	reverse_proxy 127.0.0.1:9000
	encode gzip
	recordsync {
		tenant {http.request.host}
		record flow /api/v1/flows/{id}
		record projecttask /api/v1/projects/{project}/tasks/{id} {
			list project.{project} task.updated task_id
		}
		cache_ttl 5m
		app_key k
		app_secret s
	}
}`, "caddyfile", `{
	"apps": {
		"http": {
			"servers": {
				"srv0": {
					"listen": [
						":8080"
					],
					"routes": [
						{
							"handle": [
								{
									"encodings": {
										"gzip": {}
									},
									"handler": "encode",
									"prefer": [
										"gzip"
									]
								},
								{
									"cache": {
										"ttl": 300000000000
									},
									"handler": "recordsync",
									"records": [
										{
											"pattern": "/api/v1/flows/{id}",
											"type": "flow"
										},
										{
											"lists": [
												{
													"channel": "project.{project}",
													"event": "task.updated",
													"id_key": "task_id"
												}
											],
											"pattern": "/api/v1/projects/{project}/tasks/{id}",
											"type": "projecttask"
										}
									],
									"site": ":8080",
									"tenant": "{http.request.host}",
									"websocket": {
										"app_key": "k",
										"app_secret": "s"
									}
								},
								{
									"handler": "reverse_proxy",
									"upstreams": [
										{
											"dial": "127.0.0.1:9000"
										}
									]
								}
							]
						}
					]
				}
			}
		}
	}
}`)
}

var _ = bytes.NewReader
