package realtime

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// fakeRegistry is the cluster's socket registry in memory; fakeDir is one
// instance's view of it (cluster.Sockets over Redis in production).
type fakeRegistry struct {
	mu      sync.Mutex
	sockets map[string][2]string // id → {instance, tenant}
	apiSigs map[string]string    // signature → tenant
	fail    bool
	lookups int
}

func (d fakeDir) BindAPISignature(sig, tenant string, _ time.Duration) (bool, error) {
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	if d.r.fail {
		return false, errors.New("redis down")
	}
	if d.r.apiSigs == nil {
		d.r.apiSigs = map[string]string{}
	}
	if first, ok := d.r.apiSigs[sig]; ok {
		return first == tenant, nil
	}
	d.r.apiSigs[sig] = tenant
	return true, nil
}

type fakeDir struct {
	r        *fakeRegistry
	instance string
	prefix   uint32
}

func (d fakeDir) SocketPrefix() uint32 { return d.prefix }
func (d fakeDir) Add(id, tenant string) {
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	d.r.sockets[id] = [2]string{d.instance, tenant}
}
func (d fakeDir) Remove(id string) {
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	if d.r.sockets[id][0] == d.instance {
		delete(d.r.sockets, id)
	}
}
func (d fakeDir) Lookup(id string) (string, bool, error) {
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	d.r.lookups++
	if d.r.fail {
		return "", false, errors.New("redis down")
	}
	e, ok := d.r.sockets[id]
	if !ok || e[0] == d.instance {
		return "", false, nil
	}
	return e[1], true, nil
}

// TestSignSocketOfAnotherInstance: behind a load balancer the auth request
// reaches A while the socket is on B; A signs for it through the registry,
// only for the socket's own tenant, never when the registry cannot answer,
// and no longer once the socket closed.
func TestSignSocketOfAnotherInstance(t *testing.T) {
	t.Parallel()
	reg := &fakeRegistry{sockets: map[string][2]string{}}
	a, b := newEnv(t, nil), newEnv(t, nil)
	a.hub.SetSocketDirectory(fakeDir{reg, "A", 1111})
	b.hub.SetSocketDirectory(fakeDir{reg, "B", 2222})

	c := b.connect(t, "acme")
	if !pusher.ValidSocketID(c.socketID) || !strings.HasPrefix(c.socketID, "2222.") {
		t.Fatalf("socket id %q: want 2222.N", c.socketID)
	}
	auth, ok := a.hub.Sign("acme", c.socketID, "private-record.flow.1", "")
	if !ok {
		t.Fatal("A refused to sign for B's socket of the same tenant")
	}
	c.subscribe("private-record.flow.1", auth)
	c.expect("pusher_internal:subscription_succeeded", "private-record.flow.1")
	const cd = `{"user_id":"7","user_info":{"name":"Ann"}}`
	if _, ok := a.hub.Sign("acme", c.socketID, "presence-room.1", cd); !ok {
		t.Fatal("A refused a presence grant for B's socket")
	}

	if auth, ok := a.hub.Sign("other", c.socketID, "private-record.flow.1", ""); ok {
		t.Fatalf("A signed B's socket for another tenant: %q", auth)
	}
	if _, ok := a.hub.Sign("acme", "2222.1", "private-record.flow.1", ""); ok {
		t.Fatal("A signed an unknown socket id")
	}
	reg.mu.Lock()
	reg.fail = true
	reg.mu.Unlock()
	if _, ok := a.hub.Sign("acme", c.socketID, "private-record.flow.1", ""); ok {
		t.Fatal("A signed while the registry could not answer")
	}
	reg.mu.Lock()
	reg.fail = false
	reg.mu.Unlock()

	// Local sockets never cost a lookup.
	local := a.connect(t, "acme")
	reg.mu.Lock()
	before := reg.lookups
	reg.mu.Unlock()
	if _, ok := a.hub.Sign("acme", local.socketID, "private-x", ""); !ok {
		t.Fatal("local socket not signed")
	}
	if _, ok := a.hub.Sign("other", local.socketID, "private-x", ""); ok {
		t.Fatal("local socket signed for another tenant")
	}
	reg.mu.Lock()
	if reg.lookups != before {
		t.Errorf("a local socket was looked up in the registry")
	}
	reg.mu.Unlock()

	c.ws.CloseNow()
	eventually(t, 2*time.Second, "B's socket gone from the registry", func() bool {
		_, ok := a.hub.Sign("acme", c.socketID, "private-record.flow.1", "")
		return !ok
	})
}

// TestSetSocketDirectoryAddsOpenSockets: a cluster configured on a reload
// registers the sockets already open; leaving it stops the lookups.
func TestSetSocketDirectoryAddsOpenSockets(t *testing.T) {
	t.Parallel()
	reg := &fakeRegistry{sockets: map[string][2]string{}}
	a, b := newEnv(t, nil), newEnv(t, nil)
	c := b.connect(t, "acme")
	a.hub.SetSocketDirectory(fakeDir{reg, "A", 1})
	b.hub.SetSocketDirectory(fakeDir{reg, "B", 2})
	if _, ok := a.hub.Sign("acme", c.socketID, "private-x", ""); !ok {
		t.Fatal("a socket open before the cluster was not registered")
	}
	a.hub.SetSocketDirectory(nil)
	if _, ok := a.hub.Sign("acme", c.socketID, "private-x", ""); ok {
		t.Fatal("signed through a directory the hub left")
	}
	// Without a directory socket ids are two random numbers.
	d := a.connect(t, "acme")
	if !pusher.ValidSocketID(d.socketID) || strings.HasPrefix(d.socketID, "1.") {
		t.Fatalf("socket id %q", d.socketID)
	}
}

// TestSocketIDTaken: a socket whose id another instance holds is closed
// with 4200 so that pusher-js reconnects with a new id.
func TestSocketIDTaken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.connect(t, "acme")
	e.hub.SocketIDTaken("9.9") // unknown: nothing happens
	e.hub.SocketIDTaken(c.socketID)
	if code := c.waitClosed(5 * time.Second); code != CodeReconnect {
		t.Fatalf("closed with %d, want %d", code, CodeReconnect)
	}
	eventually(t, 2*time.Second, "socket unregistered", func() bool { return e.hub.Connections() == 0 })
}

// TestSocketIDsFit: the hub's socket ids, "uint32.uint32" with or without a
// cluster's prefix, are ones pusher-http-php and the proxy accept
// (pusher.ValidSocketID), the largest prefix included.
func TestSocketIDsFit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.hub.SetSocketDirectory(fakeDir{&fakeRegistry{sockets: map[string][2]string{}}, "A", math.MaxUint32})
	for range 5 {
		c := e.connect(t, "acme")
		if !pusher.ValidSocketID(c.socketID) || !strings.HasPrefix(c.socketID, "4294967295.") {
			t.Fatalf("socket id %q", c.socketID)
		}
	}
}
