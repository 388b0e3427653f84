package cluster

import (
	"sync"
	"testing"
	"time"

	"github.com/recordsync/recordsync/internal/testredis"
	"github.com/recordsync/recordsync/realtime"
	"github.com/recordsync/recordsync/versioncache"
)

// kindCounter counts the bus messages of each direction and kind.
type kindCounter struct {
	nopObserver
	mu sync.Mutex
	n  map[string]int
}

func (o *kindCounter) Message(direction, kind string) {
	o.mu.Lock()
	o.n[direction+" "+kind]++
	o.mu.Unlock()
}

func (o *kindCounter) get(k string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[k]
}

// linkedInstance is one instance's cache (and hub, unless hubless) joined
// to the cluster "t" on url.
func linkedInstance(tb testing.TB, url string, hubless bool) (*versioncache.Store, *Link, *kindCounter) {
	tb.Helper()
	c, err := New(Options{URL: url, Name: "t", Secret: testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	store, err := versioncache.New(versioncache.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	var hub *realtime.Hub
	if !hubless {
		if hub, err = realtime.NewHub(realtime.Options{AppKey: "k", AppSecret: "s", Versions: store}); err != nil {
			tb.Fatal(err)
		}
	}
	obs := &kindCounter{n: map[string]int{}}
	l := Join(c, store, hub, LinkOptions{Observer: obs})
	tb.Cleanup(func() {
		l.Close()
		if hub != nil {
			hub.Close()
		}
		_ = c.Close()
		store.Close()
	})
	return store, l, obs
}

// A save crosses the bus once, whatever it announces (its record event and
// each list's event are made by every instance from it), and the other
// instance's cache learns it; with no hub, the Link shares the proxy's
// saves itself.
func TestLinkSharesASaveOnce(t *testing.T) {
	r := testredis.Start(t)
	for _, hubless := range []bool{false, true} {
		storeA, a, obsA := linkedInstance(t, r.URL(), hubless)
		storeB, b, obsB := linkedInstance(t, r.URL(), hubless)
		waitFor(t, 5*time.Second, "both up", func() bool { return a.Bus().Up() && b.Bus().Up() })

		key := versioncache.Key{Tenant: "t1", Type: "flow", ID: "1"}
		saved := versioncache.Saved{Key: key, Entry: versioncache.Entry{Version: "2026-01-01T00:00:01Z", UpdatedByName: "Ann"},
			SocketID: "1.1", TabID: "tab", Lists: []versioncache.List{{Channel: "project.1", Event: "flow.updated", IDKey: "flow_id"}, {Channel: "all", Event: "flow.updated"}}}
		var publisher interface{ Saved(versioncache.Saved) } = a
		if !hubless {
			publisher = a.hub // the proxy's Publisher
		}
		storeA.Advance(key, saved.Entry) // as the proxy does before it publishes
		publisher.Saved(saved)
		waitFor(t, 5*time.Second, "B learns the save", func() bool {
			e, ok := storeB.Get(key)
			return ok && e.Version == "2026-01-01T00:00:01Z" && e.UpdatedByName == "Ann"
		})
		only := versioncache.Saved{Key: versioncache.Key{Tenant: "t1", Type: "flow", ID: "2"}, Entry: versioncache.Entry{Version: "7"}, VersionOnly: true}
		publisher.Saved(only)
		waitFor(t, 5*time.Second, "B learns the version", func() bool { e, ok := storeB.Get(only.Key); return ok && e.Version == "7" })
		if out, in := obsA.get("out "+kindSaved), obsB.get("in "+kindSaved); out != 2 || in != 2 {
			t.Fatalf("hubless %v: %d saved messages out of A, %d into B; want 2 each", hubless, out, in)
		}
		if n := obsA.get("out " + kindEvent); n != 0 {
			t.Fatalf("hubless %v: a save also sent %d event messages", hubless, n)
		}
		// Nothing comes back: B does not share what it learned from A.
		time.Sleep(100 * time.Millisecond)
		if n := obsB.get("out " + kindSaved); n != 0 {
			t.Fatalf("hubless %v: B shared %d saves again", hubless, n)
		}
	}
}
