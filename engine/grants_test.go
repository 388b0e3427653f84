package engine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recordsync/recordsync/cluster"
	"github.com/recordsync/recordsync/internal/testredis"
	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/proxy"
	"github.com/recordsync/recordsync/realtime"
)

// grantCounts counts the grant memory's observations.
type grantCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *grantCounts) Grant(source, result string) { c.add(source + " " + result) }
func (c *grantCounts) GrantEnded(why string)       { c.add("ended " + why) }
func (c *grantCounts) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[k]++
}
func (c *grantCounts) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

func key(tenant, caller, channel string) proxy.GrantKey {
	return proxy.GrantKey{Tenant: tenant, Caller: caller, Channel: channel}
}

// TestGrantMemoryLocal: out of a cluster a grant is remembered in the
// process for its caller, tenant, channel and site only, for grant_ttl
// from the app's answer (a recall does not extend it); ends, other app
// credentials and grant_ttl off forget it.
func TestGrantMemoryLocal(t *testing.T) {
	m := newGrantMemory("shop")
	clock := time.Unix(1000, 0)
	m.now = func() time.Time { return clock }
	obs := &grantCounts{}
	site := siteOf("shop", "1", "key", "secret")
	m.configure(time.Minute, site, obs)
	alice := key("a", "alice", "presence-x")
	const cd = `{"user_id":1}`

	if _, ok := m.recall(GrantSourceEndpoint, alice); ok || obs.get("auth_endpoint asked") != 1 {
		t.Fatal("a grant before any was remembered")
	}
	m.remember(GrantSourceEndpoint, alice, cd)
	if d, ok := m.recall(GrantSourceEndpoint, alice); !ok || d != cd || obs.get("auth_endpoint remembered") != 1 {
		t.Fatalf("recall %q %v", d, ok)
	}
	for _, other := range []proxy.GrantKey{key("b", "alice", "presence-x"), key("a", "bob", "presence-x"), key("a", "alice", "presence-y")} {
		if _, ok := m.recall(GrantSourceEndpoint, other); ok {
			t.Fatalf("%+v got alice's grant", other)
		}
	}
	if _, ok := m.recall(GrantSourceUpstream, key("a", "", "presence-x")); ok || obs.get("auth_upstream no_caller") != 1 {
		t.Fatal("no caller")
	}
	// Another state of one process shares nothing.
	other := newGrantMemory("blog")
	other.now = m.now
	other.configure(time.Minute, siteOf("blog", "1", "key", "secret"), nil)
	if m.keyLocked("alice") == other.keyLocked("alice") {
		t.Fatal("two sites name a caller alike")
	}

	// grant_ttl from the answer; recalls do not extend it.
	clock = clock.Add(50 * time.Second)
	if _, ok := m.recall(GrantSourceEndpoint, alice); !ok {
		t.Fatal("forgotten before its ttl")
	}
	clock = clock.Add(11 * time.Second)
	if _, ok := m.recall(GrantSourceEndpoint, alice); ok {
		t.Fatal("remembered past its ttl")
	}

	// Ends.
	m.remember(GrantSourceEndpoint, alice, cd)
	m.remember(GrantSourceEndpoint, key("a", "alice", "private-y"), "")
	m.remember(GrantSourceEndpoint, key("b", "alice", "private-y"), "")
	m.remember(GrantSourceEndpoint, key("a", "bob", "private-y"), "")
	m.forget(key("a", "alice", "private-y"), false, proxy.GrantEndRefused)
	if _, ok := m.recall(GrantSourceEndpoint, key("a", "alice", "private-y")); ok {
		t.Fatal("refused, still remembered")
	}
	if _, ok := m.recall(GrantSourceEndpoint, alice); !ok {
		t.Fatal("a refusal of one channel ended another")
	}
	m.forget(proxy.GrantKey{Caller: "alice"}, true, proxy.GrantEndLogout)
	for _, k := range []proxy.GrantKey{alice, key("b", "alice", "private-y")} {
		if _, ok := m.recall(GrantSourceEndpoint, k); ok {
			t.Fatalf("%+v remembered after the caller's logout", k)
		}
	}
	if _, ok := m.recall(GrantSourceEndpoint, key("a", "bob", "private-y")); !ok {
		t.Fatal("alice's logout ended bob's grant")
	}
	if obs.get("ended refused") != 1 || obs.get("ended logout") != 1 {
		t.Fatalf("ends counted %v", obs.n)
	}
	// Other app credentials: nothing remembered under the old ones is used.
	m.configure(time.Minute, siteOf("shop", "1", "key", "new secret"), obs)
	if _, ok := m.recall(GrantSourceEndpoint, key("a", "bob", "private-y")); ok {
		t.Fatal("a grant survived new app credentials")
	}
	// Off.
	m.remember(GrantSourceEndpoint, alice, cd)
	m.configure(-1, siteOf("shop", "1", "key", "new secret"), obs)
	asked := obs.get("auth_endpoint asked") + obs.get("auth_endpoint remembered")
	if _, ok := m.recall(GrantSourceEndpoint, alice); ok || m.enabled() {
		t.Fatal("grant_ttl off still answers")
	}
	m.remember(GrantSourceEndpoint, alice, cd)
	m.configure(0, siteOf("shop", "1", "key", "new secret"), obs)
	if _, ok := m.recall(GrantSourceEndpoint, alice); ok {
		t.Fatal("remembered while off, or kept across off")
	}
	if m.ttl != DefaultGrantTTL || obs.get("auth_endpoint asked")+obs.get("auth_endpoint remembered") != asked+1 {
		t.Fatal("defaults")
	}
}

// TestGrantMemoryBounded: the process holds at most max grants.
func TestGrantMemoryBounded(t *testing.T) {
	m := newGrantMemory("s")
	m.max = 10
	m.configure(time.Minute, "s", nil)
	for i := 0; i < 100; i++ {
		m.remember(GrantSourceEndpoint, key("a", "c"+strings.Repeat("x", i%7), "private-"+strings.Repeat("y", i)), "")
		if m.n > m.max {
			t.Fatalf("%d grants held", m.n)
		}
		total := 0
		for _, fs := range m.local {
			total += len(fs)
		}
		if total != m.n {
			t.Fatalf("count %d, held %d", m.n, total)
		}
	}
	if _, ok := m.recall(GrantSourceEndpoint, key("a", "c"+strings.Repeat("x", 99%7), "private-"+strings.Repeat("y", 99))); !ok {
		t.Fatal("the newest grant is not held")
	}
}

// clusterMemory is an instance's grant memory in the cluster "g" on url.
func clusterMemory(t *testing.T, url string) (*grantMemory, *cluster.Grants, *grantCounts) {
	t.Helper()
	c, err := cluster.New(cluster.Options{URL: url, Name: "g", Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	m := newGrantMemory("shop")
	obs := &grantCounts{}
	m.configure(time.Minute, siteOf("shop", "1", "k", "s"), obs)
	g := cluster.NewGrants(c, cluster.GrantsOptions{Forgotten: m.forgotten, Reset: m.reset})
	m.setRemote(g)
	t.Cleanup(func() { g.Close(); c.Close() })
	deadline := time.Now().Add(5 * time.Second)
	for !g.Subscribed() {
		if time.Now().After(deadline) {
			t.Fatal("grants not subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return m, g, obs
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGrantMemoryCluster: a grant remembered on one instance answers on
// the other (from Redis, then from its local copy); an end on one reaches
// the other's local copy; without Redis nothing is answered from memory.
func TestGrantMemoryCluster(t *testing.T) {
	r := testredis.Start(t)
	a, _, _ := clusterMemory(t, r.URL())
	b, _, bobs := clusterMemory(t, r.URL())
	alice := key("t", "alice", "presence-x")
	const cd = `{"user_id":1}`
	a.remember(GrantSourceEndpoint, alice, cd)
	if d, ok := b.recall(GrantSourceEndpoint, alice); !ok || d != cd {
		t.Fatalf("B: %q %v", d, ok)
	}
	if b.n != 1 {
		t.Fatal("B holds no local copy")
	}
	// B's local copy answers; A's end reaches it.
	a.forget(proxy.GrantKey{Caller: "alice"}, true, proxy.GrantEndLogout)
	waitUntil(t, "B's local copy dropped", func() bool {
		_, ok := b.recall(GrantSourceEndpoint, alice)
		return !ok
	})
	// One channel's end.
	a.remember(GrantSourceEndpoint, alice, cd)
	a.remember(GrantSourceEndpoint, key("t", "alice", "private-y"), "")
	b.recall(GrantSourceEndpoint, alice)
	b.recall(GrantSourceEndpoint, key("t", "alice", "private-y"))
	b.forget(alice, false, proxy.GrantEndRefused)
	waitUntil(t, "A's local copy dropped", func() bool {
		_, ok := a.recall(GrantSourceEndpoint, alice)
		return !ok
	})
	if _, ok := a.recall(GrantSourceEndpoint, key("t", "alice", "private-y")); !ok {
		t.Fatal("an end of one channel ended another")
	}
	// Redis gone: nothing from memory, the app decides; what could not be
	// asked or stored is counted so.
	r.Stop()
	waitUntil(t, "B's local copies unusable", func() bool {
		_, ok := b.recall(GrantSourceEndpoint, key("t", "alice", "private-y"))
		return !ok
	})
	if bobs.get("auth_endpoint unavailable") == 0 {
		t.Fatal("a recall Redis could not answer not counted as unavailable")
	}
	b.remember(GrantSourceUpstream, key("t", "alice", "private-z"), "")
	if bobs.get("auth_upstream not_stored") != 1 {
		t.Fatal("a grant Redis did not take not counted as not_stored")
	}
	if _, ok := b.recall(GrantSourceEndpoint, key("t", "alice", "private-z")); ok {
		t.Fatal("a grant Redis did not take was remembered")
	}
}

// fakeAuthorizer answers every authorisation with res, counting calls.
type fakeAuthorizer struct {
	res   atomic.Pointer[realtime.AuthResult]
	calls atomic.Int64
}

func (f *fakeAuthorizer) Authorize(context.Context, realtime.AuthRequest) realtime.AuthResult {
	f.calls.Add(1)
	return *f.res.Load()
}

// TestGrantAuthorizer: auth_upstream shares the memory: a grant of the
// upgrade's caller (as the proxy names it) is answered without the app,
// the app's grants are remembered, its 403 and 401 end grants, and an
// upgrade without a caller always asks the app.
func TestGrantAuthorizer(t *testing.T) {
	m := newGrantMemory("s")
	m.configure(time.Minute, "s", nil)
	m.setCaller(func(cookie, authz string) string {
		if authz == "" {
			return ""
		}
		return "caller of " + authz
	})
	inner := &fakeAuthorizer{}
	inner.res.Store(&realtime.AuthResult{Allowed: true, Status: 200, ChannelData: `{"user_id":1}`})
	g := &grantAuthorizer{inner: inner, m: m}
	req := func(authz, channel string) realtime.AuthRequest {
		return realtime.AuthRequest{Tenant: "t", SocketID: "1.2", Channel: channel, Upgrade: &realtime.UpgradeRequest{Authorization: authz}}
	}
	ctx := context.Background()
	if res := g.Authorize(ctx, req("Bearer a", "presence-x")); !res.Allowed || inner.calls.Load() != 1 {
		t.Fatal(res)
	}
	res := g.Authorize(ctx, req("Bearer a", "presence-x"))
	if !res.Allowed || res.ChannelData != `{"user_id":1}` || !res.Cached || inner.calls.Load() != 1 {
		t.Fatalf("remembered: %+v, %d calls", res, inner.calls.Load())
	}
	// The proxy's auth endpoint sees the same grant.
	if d, ok := m.recall(GrantSourceEndpoint, key("t", "caller of Bearer a", "presence-x")); !ok || d != `{"user_id":1}` {
		t.Fatal("the auth endpoint does not see auth_upstream's grant")
	}
	for _, r := range []realtime.AuthRequest{req("Bearer b", "presence-x"), req("", "presence-x"), req("", "presence-x"), {Tenant: "t", Channel: "presence-x"}} {
		before := inner.calls.Load()
		g.Authorize(ctx, r)
		if inner.calls.Load() != before+1 {
			t.Fatalf("%+v answered without the app", r)
		}
	}
	// 403: that channel's grant ends; 401: all of the caller's.
	g.Authorize(ctx, req("Bearer a", "private-y")) // remembered
	m.forget(key("t", "caller of Bearer a", "presence-x"), false, "test")
	inner.res.Store(&realtime.AuthResult{Status: 403})
	if res := g.Authorize(ctx, req("Bearer a", "presence-x")); res.Allowed {
		t.Fatal("refusal allowed")
	}
	if _, ok := m.recall(GrantSourceEndpoint, key("t", "caller of Bearer a", "private-y")); !ok {
		t.Fatal("a 403 for one channel ended another")
	}
	m.forget(key("t", "caller of Bearer a", "private-y"), false, "test")
	m.remember(GrantSourceEndpoint, key("t", "caller of Bearer a", "private-y"), "")
	m.remember(GrantSourceEndpoint, key("u", "caller of Bearer a", "private-z"), "")
	inner.res.Store(&realtime.AuthResult{Status: 401})
	g.Authorize(ctx, req("Bearer a", "private-q"))
	for _, k := range []proxy.GrantKey{key("t", "caller of Bearer a", "private-y"), key("u", "caller of Bearer a", "private-z")} {
		if _, ok := m.recall(GrantSourceEndpoint, k); ok {
			t.Fatalf("%+v remembered after a 401", k)
		}
	}
	if _, ok := m.recall(GrantSourceEndpoint, key("t", "caller of Bearer b", "presence-x")); !ok {
		t.Fatal("a's 401 ended b's grant")
	}
	// Off: straight to the app.
	m.configure(-1, "s", nil)
	inner.res.Store(&realtime.AuthResult{Allowed: true, Status: 200})
	g.Authorize(ctx, req("Bearer a", "private-y"))
	before := inner.calls.Load()
	g.Authorize(ctx, req("Bearer a", "private-y"))
	if inner.calls.Load() != before+1 {
		t.Fatal("off, still remembered")
	}
}

// TestEngineGrantWiring: with the hub and grant_ttl on, the proxy gets the
// memory, auth_upstream's authoriser caches no grants and sits behind the
// memory, and the upgrade's caller is named by the newest proxy; off, none
// of it.
func TestEngineGrantWiring(t *testing.T) {
	hub := &realtime.Options{AppID: "1", AppKey: "k", AppSecret: "s"}
	e, err := Open(Options{Name: "shop", Hub: hub})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("true"))
	}))
	defer app.Close()
	cfg := Config{Hub: *hub, AuthUpstream: laravel.UpstreamAuthOptions{Path: "/broadcasting/auth", URL: app.URL}}
	if err := e.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if _, auth := e.auth.current(); auth == nil {
		t.Fatal("no authoriser")
	}
	if k, _ := e.auth.current(); !k.NoGrantCache {
		t.Fatal("auth_upstream caches grants beside the memory")
	}
	p, err := e.NewProxy(proxy.Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if e.grants.caller.Load() == nil || e.grants.upgradeCaller(&realtime.UpgradeRequest{Authorization: "Bearer tok"}) == "" {
		t.Fatal("the proxy does not name the upgrades' callers")
	}
	// Off.
	cfg.GrantTTL = -1
	if err := e.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if k, _ := e.auth.current(); k.NoGrantCache {
		t.Fatal("off, auth_upstream still leaves grants to the memory")
	}
}
