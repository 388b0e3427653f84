package realtime

import (
	"strings"
	"testing"
	"time"
)

// In a cluster an HTTP API signature is bound to its first tenant on every
// instance: replayed to another tenant's host through another instance, it
// is refused; its own tenant still takes it anywhere; when the cluster cannot
// tell, each instance's own binding stands.
func TestHTTPAPIBoundToTenantClusterWide(t *testing.T) {
	reg := &fakeRegistry{sockets: map[string][2]string{}}
	a, b := apiHub(t), apiHub(t)
	a.SetSocketDirectory(fakeDir{reg, "A", 1})
	b.SetSocketDirectory(fakeDir{reg, "B", 2})
	now := time.Now()
	a.clock = func() time.Time { return now }
	b.clock = a.clock
	body := `{"name":"headline","channel":"news","data":"{\"n\":1}"}`
	post := func(h *Hub, url, tenant string) (int, string) {
		return apiCall{method: "POST", path: "/apps/42/events", rawURL: url, body: body}.do(t, h, tenant)
	}
	signed := signedURL(testKey, testSecret, "POST", "/apps/42/events", "/apps/42/events", nil, body, now.Unix())
	if code, resp := post(a, signed, "t1"); code != 200 {
		t.Fatalf("first use on t1 through A: %d %s", code, resp)
	}
	if code, resp := post(b, signed, "t2"); code != 401 || !strings.Contains(resp, "another tenant") {
		t.Fatalf("replayed to t2 through B: %d %s", code, resp)
	}
	if code, resp := post(b, signed, "t1"); code != 200 {
		t.Fatalf("its own tenant through B: %d %s", code, resp)
	}
	obs := b.cfg.Load().Observer.(*countingObserver)
	if got := obs.refusedCount(RefusedAPITenant); got != 1 {
		t.Fatalf("B refused %d times as %s, want 1", got, RefusedAPITenant)
	}

	// Redis unreachable: a new signature is bound on each instance alone.
	reg.mu.Lock()
	reg.fail = true
	reg.mu.Unlock()
	now = now.Add(time.Second)
	again := signedURL(testKey, testSecret, "POST", "/apps/42/events", "/apps/42/events", nil, body, now.Unix())
	if code, resp := post(a, again, "t1"); code != 200 {
		t.Fatalf("with the cluster down, first use: %d %s", code, resp)
	}
	if code, _ := post(a, again, "t2"); code != 401 {
		t.Fatalf("with the cluster down, A forgot its own binding: %d", code)
	}
}
