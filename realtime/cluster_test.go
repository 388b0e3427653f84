package realtime

import (
	"strings"
	"sync"
	"testing"

	"github.com/recordsync/recordsync/pusher"
	"github.com/recordsync/recordsync/versioncache"
)

// fakeBus records what a hub shares.
type fakeBus struct {
	mu       sync.Mutex
	events   []Event
	saves    []versioncache.Saved
	presence []PresenceChange
}

func (b *fakeBus) Publish(ev Event) { b.mu.Lock(); b.events = append(b.events, ev); b.mu.Unlock() }
func (b *fakeBus) Saved(s versioncache.Saved) {
	b.mu.Lock()
	b.saves = append(b.saves, s)
	b.mu.Unlock()
}
func (b *fakeBus) PublishPresence(ch PresenceChange) {
	b.mu.Lock()
	b.presence = append(b.presence, ch)
	b.mu.Unlock()
}

// frameEvents lists the event names of what c was queued.
func frameEvents(c *conn) string {
	var names []string
	for _, f := range c.take(nil) {
		i := strings.Index(string(f), `"event":"`)
		rest := string(f)[i+9:]
		names = append(names, rest[:strings.IndexByte(rest, '"')])
	}
	return strings.Join(names, ",")
}

func TestHubSharesLocalPublishesOnly(t *testing.T) {
	store := newStore(t)
	h := newTestHub(t, func(o *Options) { o.Versions = store })
	bus := &fakeBus{}
	h.SetBroker(bus)
	sub := fakeConn(t, h, "t", "1.1")
	h.addSub(sub, chanKey{"t", "private-record.flow.1"})

	h.Publish(Event{Tenant: "t", Channel: "private-x", Name: "e"})
	saved := versioncache.Saved{Key: versioncache.Key{Tenant: "t", Type: "flow", ID: "1"}, Entry: versioncache.Entry{Version: "2026-01-01T00:00:01Z"}, SocketID: "9.9", Lists: []versioncache.List{{Channel: "project.1", Event: "flow.updated", IDKey: "flow_id"}}}
	h.Saved(saved)
	h.PublishLocal(Event{Tenant: "t", Channel: "private-x", Name: "from-elsewhere"})
	h.RemoteSaved(versioncache.Saved{Key: versioncache.Key{Tenant: "t", Type: "flow", ID: "2"}, Entry: versioncache.Entry{Version: "1"}})
	// One event, and the save once (its record and list events are made
	// by each instance from it).
	if len(bus.events) != 1 || bus.events[0].Name != "e" || len(bus.saves) != 1 || bus.saves[0].SocketID != "9.9" ||
		len(bus.saves[0].Lists) != 1 || bus.saves[0].Lists[0].Channel != "project.1" || bus.saves[0].VersionOnly {
		t.Fatalf("shared %+v and %+v", bus.events, bus.saves)
	}
	if got := frameEvents(sub); got != RecordEvent {
		t.Fatalf("local frames %s", got)
	}

	// The same save coming back from another instance is deduped; a save
	// older than the cache holds is stale; a version-only save reaches no
	// socket; a newer record event advances the cache; a client event
	// never does.
	h.RemoteSaved(bus.saves[0])
	if got := frameEvents(sub); got != "" {
		t.Fatalf("duplicate delivered: %s", got)
	}
	key := versioncache.Key{Tenant: "t", Type: "flow", ID: "1"}
	store.Advance(key, versioncache.Entry{Version: "2026-01-01T00:00:03Z"})
	h.RemoteSaved(versioncache.Saved{Key: key, Entry: versioncache.Entry{Version: "2026-01-01T00:00:02Z"}})
	h.RemoteSaved(versioncache.Saved{Key: key, Entry: versioncache.Entry{Version: "2026-01-01T00:00:03Z"}, VersionOnly: true})
	h.Saved(versioncache.Saved{Key: key, Entry: versioncache.Entry{Version: "2026-01-01T00:00:03Z"}, VersionOnly: true})
	if got := frameEvents(sub); got != "" {
		t.Fatalf("stale or version-only save delivered: %s", got)
	}
	if len(bus.saves) != 2 || !bus.saves[1].VersionOnly {
		t.Fatalf("a version-only save is shared once: %+v", bus.saves)
	}
	store.Forget(key)
	newer := `{"record_type":"flow","record_id":1,"updated_at_iso":"2026-01-01T00:00:02Z"}`
	h.PublishLocal(Event{Tenant: "t", Channel: "private-record.flow.1", Name: RecordEvent, Data: []byte(newer)})
	if e, _ := store.Get(key); e.Version != "2026-01-01T00:00:02Z" {
		t.Fatalf("cache %q", e.Version)
	}
	forged := `{"record_type":"flow","record_id":1,"updated_at_iso":"2099-01-01T00:00:00Z"}`
	h.PublishLocal(Event{Tenant: "t", Channel: "private-record.flow.1", Name: "client-x", Data: []byte(forged), ClientEvent: true, UserID: "7"})
	if e, _ := store.Get(key); e.Version != "2026-01-01T00:00:02Z" {
		t.Fatalf("a client event moved the cache to %q", e.Version)
	}
	frames := sub.take(nil)
	if len(frames) != 2 || !strings.Contains(string(frames[1]), `"user_id":"7"`) {
		t.Fatalf("frames %q", frames)
	}
	if len(bus.events) != 1 || len(bus.saves) != 2 {
		t.Fatalf("PublishLocal or RemoteSaved shared: %+v %+v", bus.events[1:], bus.saves[2:])
	}
}

func TestHubClusterPresence(t *testing.T) {
	h := newTestHub(t, nil)
	bus := &fakeBus{}
	h.SetBroker(bus)
	k := chanKey{"t", "presence-room"}
	w := fakeConn(t, h, "t", "1.1")
	h.presenceJoin(w, k, pusher.Member{UserID: "w", Info: []byte("null")}, 0)
	if got := frameEvents(w); got != "pusher_internal:subscription_succeeded" {
		t.Fatalf("w got %s", got)
	}
	if len(bus.presence) != 2 || bus.presence[0].Op != PresenceSync || bus.presence[1].Op != PresenceJoin {
		t.Fatalf("shared %+v", bus.presence)
	}

	// Alice on instance B, then also here: one member_added.
	h.RemotePresence("B", PresenceChange{Op: PresenceJoin, Tenant: "t", Channel: "presence-room", UserID: "alice", Info: []byte(`{"n":1}`)})
	h.RemotePresence("B", PresenceChange{Op: PresenceJoin, Tenant: "t", Channel: "presence-room", UserID: "alice"})
	if got := frameEvents(w); got != "pusher_internal:member_added" {
		t.Fatalf("w got %s", got)
	}
	alice := fakeConn(t, h, "t", "2.2")
	h.presenceJoin(alice, k, pusher.Member{UserID: "alice", Info: []byte(`{"n":1}`)}, 2)
	if got := frameEvents(w); got != "" {
		t.Fatalf("w got %s for Alice's second socket", got)
	}
	// Two members cluster-wide: a third user is over a limit of 2.
	if h.presenceJoin(fakeConn(t, h, "t", "3.3"), k, pusher.Member{UserID: "carol", Info: []byte("null")}, 2) {
		t.Fatal("carol admitted over the cluster-wide limit")
	}
	h.presenceLeave(alice, k, "alice")
	if got := frameEvents(w); got != "" {
		t.Fatalf("w got %s while Alice is still on B", got)
	}
	// A sync of B without Alice: she leaves.
	h.RemotePresence("B", PresenceChange{Op: PresenceSync, Members: []PresenceMember{{Tenant: "t", Channel: "presence-room", UserID: "bob"}}})
	if got := frameEvents(w); got != "pusher_internal:member_removed,pusher_internal:member_added" {
		t.Fatalf("w got %s", got)
	}
	if users := h.PresenceUsers("t", "presence-room"); len(users) != 2 || users[1].ID != "bob" {
		t.Fatalf("users %+v", users)
	}
	// B goes silent: Bob leaves; bad remote members are ignored.
	h.RemotePresence("B", PresenceChange{Op: PresenceJoin, Tenant: "t", Channel: "private-x", UserID: "eve"})
	h.InstanceGone("B")
	if got := frameEvents(w); got != "pusher_internal:member_removed" {
		t.Fatalf("w got %s", got)
	}
	h.presenceLeave(w, k, "w")
	if h.PresenceUsers("t", "presence-room") != nil {
		t.Fatal("channel kept")
	}
}
