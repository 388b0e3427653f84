package engine

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/recordsync/recordsync/cluster"
	"github.com/recordsync/recordsync/internal/testredis"
	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/proxy"
	"github.com/recordsync/recordsync/realtime"
)

type part struct{ n int }

// kept keeps a part while its key stays, replaces it (handing the old one
// back) when the key changes, keeps the running one when opening fails, and
// drops it for the zero key.
func TestKept(t *testing.T) {
	var k kept[string, *part]
	opened := 0
	open := func() (*part, error) { opened++; return &part{opened}, nil }

	a, old, err := k.set("a", open)
	if err != nil || a == nil || old != nil || opened != 1 {
		t.Fatalf("first set: %v %v %v, opened %d", a, old, err, opened)
	}
	if cur, old, _ := k.set("a", open); cur != a || old != nil || opened != 1 {
		t.Fatalf("same key: %v %v, opened %d", cur, old, opened)
	}
	if cur, old, err := k.set("b", func() (*part, error) { return nil, errors.New("no") }); err == nil || cur != a || old != nil || k.get() != a {
		t.Fatalf("failed open: %v %v %v", cur, old, err)
	}
	b, old, err := k.set("b", open)
	if err != nil || b == a || old != a || k.get() != b {
		t.Fatalf("new key: %v %v %v", b, old, err)
	}
	if cur, old, err := k.set("", open); err != nil || cur != nil || old != b || k.get() != nil || opened != 2 {
		t.Fatalf("zero key: %v %v %v, opened %d", cur, old, err, opened)
	}
}

// A reload with the same auth_upstream settings keeps the authoriser (and
// its cache of the app's answers); other settings replace it and hand the
// old one back to be closed after the hub switched.
func TestEngineKeepsAuthorizer(t *testing.T) {
	e, err := Open(Options{Hub: &realtime.Options{AppKey: "k", AppSecret: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	opts := laravel.UpstreamAuthOptions{Path: "/broadcasting/auth", TTL: time.Minute}
	first, release, err := e.SetAuthUpstream(opts)
	if err != nil || first == nil {
		t.Fatal(first, err)
	}
	release()
	again, release, _ := e.SetAuthUpstream(opts)
	release()
	if again != first {
		t.Fatal("the same settings made a new authoriser")
	}
	opts.TTL = time.Hour
	other, release, _ := e.SetAuthUpstream(opts)
	if other == first {
		t.Fatal("other settings kept the authoriser")
	}
	release()
	if none, release, _ := e.SetAuthUpstream(laravel.UpstreamAuthOptions{}); none != nil {
		t.Fatalf("no auth_upstream: %v", none)
	} else {
		release()
	}
	if err := e.SetRedis(RedisKey{URL: "redis://127.0.0.1:1/0"}, nil, nil); err != nil {
		// a Redis ingress starts without Redis being up (it reconnects)
		t.Fatal(err)
	}
	noHub, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer noHub.Close()
	if err := noHub.SetRedis(RedisKey{URL: "redis://127.0.0.1:1/0"}, nil, nil); err == nil {
		t.Fatal("a Redis ingress without a hub")
	}
}

// The cluster membership is kept while its URL, name and timeout stay, and
// replaced when they change; the Engine's Cluster follows.
func TestEngineKeepsCluster(t *testing.T) {
	r := testredis.Start(t)
	e, err := Open(Options{Hub: &realtime.Options{AppKey: "k", AppSecret: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	key := ClusterKey{URL: r.URL(), Name: "engine-" + t.Name(), Secret: "s"}
	if err := e.SetCluster(key, cluster.LinkOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	c, link := e.Cluster(), e.Link()
	if c == nil || link == nil {
		t.Fatal("not in the cluster")
	}
	if err := e.SetCluster(key, cluster.LinkOptions{}, nil); err != nil || e.Cluster() != c || e.Link() != link {
		t.Fatalf("the same settings rejoined (%v)", err)
	}
	key.Name += "-2"
	if err := e.SetCluster(key, cluster.LinkOptions{}, nil); err != nil || e.Cluster() == c || e.Link() == link {
		t.Fatalf("another name kept the membership (%v)", err)
	}
	c, link = e.Cluster(), e.Link()
	key.Secret = "rotated"
	if err := e.SetCluster(key, cluster.LinkOptions{}, nil); err != nil || e.Cluster() == c || e.Link() == link {
		t.Fatalf("another secret kept the membership (%v)", err)
	}
	if err := e.SetCluster(ClusterKey{URL: r.URL(), Name: "x"}, cluster.LinkOptions{}, nil); !errors.Is(err, cluster.ErrNoSecret) || e.Cluster() == nil {
		t.Fatalf("no secret: %v (the running membership must stay)", err)
	}
	if err := e.SetCluster(ClusterKey{}, cluster.LinkOptions{}, nil); err != nil || e.Cluster() != nil || e.Link() != nil {
		t.Fatalf("leaving: %v", err)
	}
}

// NewProxy gives the proxy the hub as its Signer (and Publisher) only when
// there is a hub: without one, the auth endpoint is not watched (a nil *Hub
// must not become a non-nil interface).
func TestNewProxyWithAndWithoutHub(t *testing.T) {
	auth := httptest.NewRequest(http.MethodPost, "/broadcasting/auth", nil)
	for _, withHub := range []bool{false, true} {
		o := Options{}
		if withHub {
			o.Hub = &realtime.Options{AppKey: "k", AppSecret: "s"}
		}
		e, err := Open(o)
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.NewProxy(proxy.Options{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Inspects(auth); got != withHub {
			t.Errorf("hub %v: the auth endpoint watched: %v", withHub, got)
		}
		p.Close()
		e.Close()
	}
}
