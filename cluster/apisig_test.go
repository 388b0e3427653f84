package cluster

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recordsync/recordsync/internal/testredis"
)

// droppedCounter counts what the cluster dropped.
type droppedCounter struct {
	nopObserver
	n atomic.Int64
}

func (o *droppedCounter) Dropped(string, string) { o.n.Add(1) }

// An HTTP API signature is bound to the first tenant that used it, across
// the instances; an entry this cluster did not sign binds nothing.
func TestSocketsBindAPISignature(t *testing.T) {
	r := testredis.Start(t)
	newSockets := func() (*Sockets, *droppedCounter) {
		c, err := New(Options{URL: r.URL(), Name: "t", Secret: "s"})
		if err != nil {
			t.Fatal(err)
		}
		obs := &droppedCounter{}
		s := NewSockets(c, SocketsOptions{Observer: obs})
		t.Cleanup(func() { s.Close(); _ = c.Close() })
		return s, obs
	}
	a, _ := newSockets()
	b, obsB := newSockets()
	const sig = "00ff"
	for _, tc := range []struct {
		s      *Sockets
		tenant string
		ok     bool
	}{{a, "t1", true}, {b, "t2", false}, {b, "t1", true}, {a, "t1", true}} {
		if ok, err := tc.s.BindAPISignature(sig, tc.tenant, time.Minute); err != nil || ok != tc.ok {
			t.Fatalf("bind to %s: %v, %v; want %v", tc.tenant, ok, err, tc.ok)
		}
	}
	// Something else wrote an entry: not this cluster's, so it binds nothing.
	if err := b.c.client.Set(context.Background(), b.c.Key("apisig", "abcd"), "forged t9", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.BindAPISignature("abcd", "t1", time.Minute); err != nil || !ok {
		t.Fatalf("a forged entry refused t1: %v, %v", ok, err)
	}
	if n := obsB.n.Load(); n != 1 {
		t.Fatalf("forged entry counted %d times", n)
	}
}
