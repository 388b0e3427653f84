package realtime

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/recordsync/recordsync/pusher"
	"github.com/recordsync/recordsync/versioncache"
)

// checkFrame checks that a server frame is JSON and that its data, a JSON
// string, holds JSON too (pusher-js parses both).
func checkFrame(t *testing.T, frame []byte) {
	t.Helper()
	var f struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		t.Fatalf("frame %q: %v", frame, err)
	}
	if f.Data != "" && !json.Valid([]byte(f.Data)) {
		t.Fatalf("frame data %q is not JSON", f.Data)
	}
}

// FuzzRecordOf reads the record version of arbitrary events (HTTP API,
// Redis ingress and cluster bus data): no panics, and a record found stays
// within its bounds.
func FuzzRecordOf(f *testing.F) {
	f.Add("record.updated", "private-record.flow.1", []byte(`{"updated_at_iso":"2026-01-01T00:00:00.000000Z"}`), "")
	f.Add("x", "news", []byte(`{"record_type":"flow","record_id":7,"updated_at_iso":"2026-01-01T00:00:00Z","updated_by_id":"3","updated_by_name":"Ann"}`), "")
	f.Add("record.updated", "private-record..", []byte(`{"record_id":1e999}`), "5")
	f.Add("record.updated", "private-record.a.b.c", []byte(`[`), "\xff")
	f.Add("record.updated", "private-record.flow.1", []byte(`{"updated_at_iso":"1","changed_fields":["name","",1]}`), "")
	f.Add("FlowUpdated", "private-App.Models.Flow.1", []byte(`{"model":{"id":1,"updated_at":"2026-01-01T00:00:00.000000Z","updated_by":2}}`), "")
	f.Fuzz(func(t *testing.T, name, channel string, data []byte, version string) {
		rec, ok := recordOf(Event{Name: name, Channel: channel, Data: data},
			[]ModelRoute{{Class: "App.Models.Flow", Type: "flow", VersionKey: "updated_at", ByIDKey: "updated_by", ByNameKey: "name"}})
		if !ok {
			if !reflect.DeepEqual(rec, recordRef{}) {
				t.Fatalf("not a record event, but %+v", rec)
			}
			return
		}
		if rec.typ == "" || rec.id == "" || rec.version == "" || len(rec.typ) > maxRecordRefBytes ||
			len(rec.id) > maxRecordRefBytes || len(rec.version) > versioncache.MaxVersionBytes || len(rec.byName) > versioncache.MaxNameBytes ||
			len(rec.changed) > versioncache.MaxFields {
			t.Fatalf("record out of bounds: %+v", rec)
		}
		for _, n := range rec.changed {
			if n == "" || len(n) > versioncache.MaxFieldNameBytes {
				t.Fatalf("changed field name out of bounds: %q", n)
			}
		}
		_ = versioncache.Compare(rec.version, version)
	})
}

// FuzzRemotePresence applies arbitrary presence changes of another
// instance (a cluster bus message is outside input: Redis is shared
// infrastructure) to a hub: no panics, and every presence frame it would
// send stays valid for pusher-js.
func FuzzRemotePresence(f *testing.F) {
	f.Add("join", "t", "presence-room.1", "7", []byte(`{"name":"Ann"}`), "B")
	f.Add("leave", "t", "presence-room.1", "7", []byte(nil), "B")
	f.Add("sync", "", "presence-x", "", []byte(`null`), "")
	f.Add("join", "t", "private-x", "1", []byte(`{"a":`), "B")
	f.Add("join", "t", "presence-x", "1", []byte("\xff"), "B")
	h, err := NewHub(Options{AppKey: testKey, AppSecret: testSecret})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(h.Close)
	f.Fuzz(func(t *testing.T, op, tenant, channel, user string, info []byte, instance string) {
		ch := PresenceChange{Op: op, Tenant: tenant, Channel: channel, UserID: user, Info: info}
		if op == PresenceSync {
			ch.Members = []PresenceMember{{Tenant: tenant, Channel: channel, UserID: user, Info: info},
				{Tenant: tenant, Channel: channel, UserID: user + "2", Info: []byte(`{}`)}}
		}
		h.RemotePresence(instance, ch)
		h.RemotePresence("C", PresenceChange{Op: PresenceJoin, Tenant: tenant, Channel: channel, UserID: user, Info: info})
		for i := range h.presence {
			ps := &h.presence[i]
			ps.mu.Lock()
			for k, pc := range ps.channels {
				if !strings.HasPrefix(k.name, "presence-") || !pusher.ValidChannelName(k.name) {
					t.Errorf("remote member on %q", k.name)
				}
				checkFrame(t, presenceSucceededFrame(k.name, pc))
				for _, id := range pc.order {
					checkFrame(t, memberAddedFrame(k.name, id, pc.info(id)))
				}
			}
			ps.mu.Unlock()
		}
		_ = h.PresenceUsers(tenant, channel)
		h.InstanceGone(instance)
		h.InstanceGone("C")
		for i := range h.presence {
			ps := &h.presence[i]
			ps.mu.Lock()
			if len(ps.channels) != 0 {
				t.Errorf("members left after their instances were gone")
			}
			ps.mu.Unlock()
		}
	})
}
