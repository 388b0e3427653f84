package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReloadKeepsSockets connects 200 sockets, reloads Caddy with new app
// credentials, and checks that every socket stays connected and keeps
// receiving, that the version cache survived, and that the new secret
// applies to new subscriptions.
func TestReloadKeepsSockets(t *testing.T) {
	app := startFakeApp(t, testAppKey, testAppSecret)
	c := startCaddy(t, realtimeSite(app.Addr()))
	wsURL := fmt.Sprintf("ws://127.0.0.1:%d/ws/app/%s?protocol=7&client=js&version=8.6.0", c.HTTPPort, testAppKey)

	const n = 200
	clients := make([]*wsClient, n)
	for i := range clients {
		clients[i] = dialPusher(t, wsURL)
		if f := clients[i].subscribePrivate("private-record.flow.1", testAppKey, testAppSecret); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("subscribe: %+v", f)
		}
	}
	defer func() {
		for _, cl := range clients {
			cl.close()
		}
	}()

	putFlow := func(name string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, c.URL()+"/api/v1/flows/1", strings.NewReader(`{"name":"`+name+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("PUT status %d", resp.StatusCode)
		}
		return resp.Header.Get("ETag")
	}
	expectAll := func(round string) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i, cl := range clients {
			wg.Add(1)
			go func(i int, cl *wsClient) {
				defer wg.Done()
				f, err := cl.tryRead(10 * time.Second)
				if err != nil {
					errs <- fmt.Sprintf("socket %d: %v", i, err)
					return
				}
				if f.Event != "record.updated" {
					errs <- fmt.Sprintf("socket %d: got %+v", i, f)
				}
			}(i, cl)
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("%s: %s", round, e)
		}
	}

	etag := putFlow("before reload")
	expectAll("before reload")
	// A caller the app authorised (its GET of the record answered 2xx) gets
	// version polls from the cache; the fake app has no version endpoint, so
	// only the cache can answer them.
	resp := get(t, c.URL()+"/api/v1/flows/1", "Authorization", "Bearer poller")
	resp.Body.Close()
	poll := func(when string) {
		t.Helper()
		resp := get(t, c.URL()+"/api/v1/records/flow/1/version", "Authorization", "Bearer poller")
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Recordsync-Cache") != "hit" || resp.Header.Get("ETag") != etag {
			t.Errorf("poll %s: status %d, cache %q, ETag %q; want 200 hit %s", when, resp.StatusCode,
				resp.Header.Get("X-Recordsync-Cache"), resp.Header.Get("ETag"), etag)
		}
	}
	poll("before reload")

	// A reload that changes the app secret (and the cache ttl).
	const newSecret = "rotated-secret"
	c.Reload(strings.Replace(strings.Replace(realtimeSite(app.Addr()), testAppSecret, newSecret, 1), "import_header", "cache_ttl 5m\n\t\timport_header", 1))

	// The version cache and the authorisation memory survived.
	poll("after reload")

	putFlow("after reload")
	expectAll("after reload")

	// New subscriptions use the new secret; the old one is refused.
	fresh := dialPusher(t, wsURL)
	defer fresh.close()
	if f := fresh.subscribePrivate("private-record.flow.2", testAppKey, testAppSecret); f.Event != "pusher:subscription_error" {
		t.Errorf("old secret after reload: %+v, want subscription_error", f)
	}
	if f := fresh.subscribePrivate("private-record.flow.2", testAppKey, newSecret); f.Event != "pusher_internal:subscription_succeeded" {
		t.Errorf("new secret after reload: %+v", f)
	}
}
