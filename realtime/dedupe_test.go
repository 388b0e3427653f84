package realtime

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/recordsync/recordsync/versioncache"
)

func recordData(tenant, typ, id, version string) []byte {
	return []byte(fmt.Sprintf(`{"tenant_id":%q,"record_type":%q,"record_id":%s,"updated_at_iso":%q,"updated_by_id":2,"updated_by_name":"Bob","tab_id":null}`,
		tenant, typ, id, version))
}

func newStore(tb testing.TB) *versioncache.Store {
	tb.Helper()
	s, err := versioncache.New(versioncache.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

func TestRecordEventsDedupe(t *testing.T) {
	store := newStore(t)
	obs := &countingObserver{}
	h := newTestHub(t, func(o *Options) { o.Versions = store; o.Observer = obs })
	sub := fakeConn(t, h, "a", "1.1")
	h.addSub(sub, chanKey{"a", "private-record.flow.1"})
	h.addSub(sub, chanKey{"a", "private-project.1"})
	const v1, v2, v3 = "2026-01-01T12:00:00.000001Z", "2026-01-01T12:00:00.000002Z", "2026-01-01T12:00:00.000003Z"

	// The proxy's broadcast of a PUT (version v2), then the app's observer
	// broadcasting the same save through an ingress: one frame.
	h.Saved(versioncache.Saved{Key: versioncache.Key{Tenant: "a", Type: "flow", ID: "1"}, Entry: versioncache.Entry{Version: v2}})
	h.Publish(Event{Tenant: "a", Channel: "private-record.flow.1", Name: "record.updated", Data: recordData("a", "flow", "1", v2), ExceptSocket: "9.9"})
	if n := len(sub.take(nil)); n != 1 {
		t.Fatalf("same version twice: %d frames, want 1", n)
	}
	// A late, older event never follows a newer one.
	h.Publish(Event{Tenant: "a", Channel: "private-record.flow.1", Name: "record.updated", Data: recordData("a", "flow", "1", v1)})
	if n := len(sub.take(nil)); n != 0 {
		t.Fatalf("older after newer: %d frames, want 0", n)
	}
	// A newer one passes, and moves the version cache (tenant-scoped).
	h.Publish(Event{Tenant: "a", Channel: "private-record.flow.1", Name: "record.updated", Data: recordData("a", "flow", "1", v3)})
	if n := len(sub.take(nil)); n != 1 {
		t.Fatalf("newer: %d frames, want 1", n)
	}
	if e, ok := store.Get(versioncache.Key{Tenant: "a", Type: "flow", ID: "1"}); !ok || e.Version != v3 || e.UpdatedByName != "Bob" || e.UpdatedByID != "2" {
		t.Fatalf("cache holds %+v, %v; want %s by Bob (2)", e, ok, v3)
	}
	if _, ok := store.Get(versioncache.Key{Tenant: "b", Type: "flow", ID: "1"}); ok {
		t.Fatal("tenant b's cache moved")
	}
	obs.mu.Lock()
	if obs.dropped[DropDuplicate] != 1 || obs.dropped[DropStale] != 1 {
		t.Errorf("dropped %v, want one duplicate and one stale", obs.dropped)
	}
	obs.mu.Unlock()
	// The events at v2 (Saved does not touch the cache here: the
	// proxy would have) and v3 advanced the cache; v1 did not.
	if n := obs.learned.Load(); n != 2 {
		t.Errorf("Learned %d times, want 2 (v2, v3)", n)
	}

	// List channels: records are told apart, so another task's older
	// version still passes; the same task's same version does not.
	task := func(id, v string) Event {
		return Event{Tenant: "a", Channel: "private-project.1", Name: "task.updated", Data: recordData("a", "projecttask", id, v)}
	}
	h.Publish(task("3", v2))
	h.Publish(task("4", v1))
	h.Publish(task("3", v2))
	if n := len(sub.take(nil)); n != 2 {
		t.Fatalf("list channel: %d frames, want 2", n)
	}

	// Non-record events are untouched: twice is twice.
	h.addSub(sub, chanKey{"a", "news"})
	for range 2 {
		h.Publish(Event{Tenant: "a", Channel: "news", Name: "x", Data: []byte(`{"a":1}`)})
	}
	if n := len(sub.take(nil)); n != 2 {
		t.Fatalf("plain events: %d frames, want 2", n)
	}

	// The channel's memory goes with its last subscriber.
	h.removeSub(sub, chanKey{"a", "private-record.flow.1"})
	sh := h.shardFor(chanKey{"a", "private-record.flow.1"})
	sh.mu.RLock()
	_, kept := sh.delivered[chanKey{"a", "private-record.flow.1"}]
	sh.mu.RUnlock()
	if kept {
		t.Fatal("dedupe state outlived the channel's subscribers")
	}
}

func TestRecordEventStaleAgainstCache(t *testing.T) {
	store := newStore(t)
	h := newTestHub(t, func(o *Options) { o.Versions = store })
	store.Advance(versioncache.Key{Tenant: "", Type: "flow", ID: "7"}, versioncache.Entry{Version: "2026-01-02T00:00:00.000000Z"})
	sub := fakeConn(t, h, "", "1.1")
	h.addSub(sub, chanKey{"", "private-record.flow.7"})
	// The subscriber came after the newer save: an older event is still stale.
	h.Publish(Event{Channel: "private-record.flow.7", Name: "record.updated", Data: recordData("", "flow", "7", "2026-01-01T00:00:00.000000Z")})
	if n := len(sub.take(nil)); n != 0 {
		t.Fatalf("older than the cache: %d frames", n)
	}
}

func TestRecordOf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ev      Event
		ok      bool
		typ, id string
		version string
	}{
		{"seed payload", Event{Name: "whatever", Channel: "c", Data: recordData("a", "flow", "1", "2026-01-01T00:00:00Z")}, true, "flow", "1", "2026-01-01T00:00:00Z"},
		{"string id", Event{Name: "x", Data: []byte(`{"record_type":"t","record_id":"abc","updated_at_iso":"7"}`)}, true, "t", "abc", "7"},
		{"record.updated from channel", Event{Name: RecordEvent, Channel: "private-record.a.b.9", Data: []byte(`{"updated_at_iso":"v1"}`)}, true, "a.b", "9", "v1"},
		{"no version", Event{Name: RecordEvent, Channel: "private-record.flow.1", Data: []byte(`{}`)}, false, "", "", ""},
		{"missing id", Event{Name: "x", Data: []byte(`{"record_type":"t","updated_at_iso":"7"}`)}, false, "", "", ""},
		{"not JSON", Event{Name: RecordEvent, Channel: "private-record.flow.1", Data: []byte(`plain`)}, false, "", "", ""},
		{"object id", Event{Name: "x", Data: []byte(`{"record_type":"t","record_id":{},"updated_at_iso":"7"}`)}, false, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, ok := recordOf(tc.ev, nil)
			if ok != tc.ok || rec.typ != tc.typ || rec.id != tc.id || rec.version != tc.version {
				t.Fatalf("recordOf = %+v, %v; want %s/%s@%s, %v", rec, ok, tc.typ, tc.id, tc.version, tc.ok)
			}
		})
	}
}

// TestLearnedStringsBounded: what an event teaches the version cache (from
// the HTTP API, through Publish, or from the Redis ingress and other
// instances, through PublishLocal) is bounded: a version over
// versioncache.MaxVersionBytes, or a type or id over maxRecordRefBytes, is no record
// event; a name is cut at versioncache.MaxNameBytes (on a rune boundary); an
// updated_by_id over versioncache.MaxByIDBytes is left out (raw JSON cannot be cut).
func TestLearnedStringsBounded(t *testing.T) {
	long := strings.Repeat("é", 5000) // 10,000 bytes
	for _, publish := range []struct {
		name string
		do   func(*Hub, Event)
	}{{"Publish", (*Hub).Publish}, {"PublishLocal", (*Hub).PublishLocal}} {
		t.Run(publish.name, func(t *testing.T) {
			store := newStore(t)
			h := newTestHub(t, func(o *Options) { o.Versions = store })
			key := versioncache.Key{Tenant: "a", Type: "flow", ID: "1"}
			ev := func(byID, byName, version string) Event {
				data, _ := json.Marshal(map[string]any{"record_type": "flow", "record_id": 1, "updated_at_iso": version,
					"updated_by_id": json.RawMessage(byID), "updated_by_name": byName})
				return Event{Tenant: "a", Channel: "private-record.flow.1", Name: RecordEvent, Data: data}
			}
			publish.do(h, ev(`"`+long+`"`, long, "2026-01-01T00:00:00.000001Z"))
			e, ok := store.Get(key)
			if !ok || e.Version != "2026-01-01T00:00:00.000001Z" {
				t.Fatalf("not learned: %+v, %v", e, ok)
			}
			if e.UpdatedByID != "" {
				t.Errorf("updated_by_id of %d bytes learned", len(e.UpdatedByID))
			}
			if len(e.UpdatedByName) > versioncache.MaxNameBytes || !utf8.ValidString(e.UpdatedByName) || !strings.HasPrefix(long, e.UpdatedByName) || e.UpdatedByName == "" {
				t.Errorf("updated_by_name of %d bytes learned", len(e.UpdatedByName))
			}
			// A long number is left out too; a short id and name are kept.
			publish.do(h, ev(strings.Repeat("9", versioncache.MaxByIDBytes+1), "Bob", "2026-01-01T00:00:00.000002Z"))
			if e, _ := store.Get(key); e.Version != "2026-01-01T00:00:00.000002Z" || e.UpdatedByID != "" || e.UpdatedByName != "Bob" {
				t.Errorf("long number: %+v", e)
			}
			publish.do(h, ev(`"u-7"`, "Ann", "2026-01-01T00:00:00.000003Z"))
			if e, _ := store.Get(key); e.UpdatedByID != `"u-7"` || e.UpdatedByName != "Ann" {
				t.Errorf("short id: %+v", e)
			}
			// A version over versioncache.MaxVersionBytes teaches nothing.
			publish.do(h, ev("2", "Eve", "2026-01-01T00:00:00.000004Z"+strings.Repeat("0", versioncache.MaxVersionBytes)))
			if e, _ := store.Get(key); e.Version != "2026-01-01T00:00:00.000003Z" {
				t.Errorf("long version learned: %+v", e)
			}
		})
	}
}
