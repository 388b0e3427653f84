package cluster

import (
	"github.com/tidwall/gjson"
	"reflect"
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
		fields, _ := versioncache.NewPrinter([]byte("s")).Record(gjson.Parse(`{"name":"x","due":null}`), nil)
		saved := versioncache.Saved{Key: key, Entry: versioncache.Entry{Version: "2026-01-01T00:00:01Z", UpdatedByName: "Ann",
			Fields: fields, Changed: []string{"name"}},
			Model:    &versioncache.ModelEvent{Channel: "App.Models.Flow.1", Event: "FlowUpdated", Data: []byte(`{"model":{"id":1}}`)},
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
		// The version's fingerprints and changed fields travel with it.
		if e, _ := storeB.Get(key); !reflect.DeepEqual(e.Changed, []string{"name"}) || len(versioncache.Changed(e.Fields, fields)) != 0 || e.Fields.Len() != 2 {
			t.Fatalf("hubless %v: B holds Changed %v and %d fields", hubless, e.Changed, e.Fields.Len())
		}
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

// After the bus was down no instance vouches for a version from before:
// during the outage the cache answers nothing; when Redis is back, what
// each instance learned meanwhile is re-announced and applied by the
// others, and older entries are unknown until learned again.
func TestLinkReconcilesAfterAnOutage(t *testing.T) {
	r := testredis.Start(t)
	storeA, a, _ := linkedInstance(t, r.URL(), false)
	storeB, b, _ := linkedInstance(t, r.URL(), false)
	waitFor(t, 5*time.Second, "both up", func() bool { return a.Bus().Up() && b.Bus().Up() })

	saved := versioncache.Key{Tenant: "t", Type: "flow", ID: "1"}
	untouched := versioncache.Key{Tenant: "t", Type: "flow", ID: "2"}
	for _, k := range []versioncache.Key{saved, untouched} {
		e := versioncache.Entry{Version: "2026-01-01T00:00:01Z"}
		storeA.Advance(k, e)
		a.hub.Saved(versioncache.Saved{Key: k, Entry: e, VersionOnly: true})
	}
	waitFor(t, 5*time.Second, "B learns both", func() bool {
		_, ok1 := storeB.Get(saved)
		_, ok2 := storeB.Get(untouched)
		return ok1 && ok2
	})

	r.Stop()
	waitFor(t, 5*time.Second, "both down", func() bool { return !a.Bus().Up() && !b.Bus().Up() })
	if _, ok := storeA.Get(saved); ok {
		t.Fatal("A answers from its cache while the bus is down")
	}
	// A save through B while Redis is down.
	newer := versioncache.Entry{Version: "2026-01-01T00:00:02Z", UpdatedByName: "Bob"}
	storeB.Advance(saved, newer)
	b.hub.Saved(versioncache.Saved{Key: saved, Entry: newer})

	r.Start()
	waitFor(t, 10*time.Second, "A learns B's save from the outage", func() bool {
		e, ok := storeA.Get(saved)
		return ok && e.Version == newer.Version && e.UpdatedByName == "Bob"
	})
	if e, ok := storeA.Get(untouched); ok {
		t.Fatalf("A vouches for %+v, learned before the outage", e)
	}
	if e, ok := storeB.Get(saved); ok {
		t.Fatalf("B vouches for its own save from the outage %+v (another instance may hold a newer one it could not share)", e)
	}
}
