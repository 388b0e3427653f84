package cluster

import (
	"encoding/json"
	"testing"

	"github.com/recordsync/recordsync/realtime"
	"github.com/recordsync/recordsync/versioncache"
)

// FuzzLinkReceive applies arbitrary messages of another instance (what the
// bus decoded from the cluster's Redis channel, FuzzBusMessage) to a
// version cache and a hub through a Link: no panics, and a version learned
// from the bus is only ever the one the message carried, under its own key.
func FuzzLinkReceive(f *testing.F) {
	for _, m := range []message{
		{Kind: kindEvent, Instance: "o", Tenant: "t", Channel: "private-record.flow.1", Name: "record.updated", Data: `{"updated_at_iso":"2026-01-01T00:00:00Z"}`},
		{Kind: kindEvent, Instance: "o", Channel: "x", Name: "client-x", Client: true, UserID: "1", Data: `{`},
		{Kind: kindSaved, Instance: "o", Tenant: "t", Type: "flow", ID: "1", Version: "2026-01-01T00:00:00Z", UpdatedByName: "Ann"},
		{Kind: kindSaved, Instance: "o", Type: "flow", ID: "1", Version: "\xff"},
		{Kind: kindPresence, Instance: "o", Op: presenceJoin, Tenant: "t", Channel: "presence-x", UserID: "1", Info: `{"a":`},
		{Kind: kindPresence, Instance: "o", Op: presenceSync, Members: []member{{Channel: "presence-x", UserID: "2", Info: "[]"}}},
	} {
		b, _ := json.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"saved","instance":"o","type":"a","id":"b","version":"1e999"}`))
	f.Add([]byte(`{"kind":"saved","instance":"o","tenant":"t","type":"flow","id":"1","version":"2026-01-02T00:00:00Z","except_socket":"1.1","lists":[{"c":"project.1","e":"flow.updated","k":"flow_id"},{"c":"","e":""}]}`))
	store, err := versioncache.New(versioncache.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(store.Close)
	hub, err := realtime.NewHub(realtime.Options{AppKey: "k", AppSecret: "s", Versions: store})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(hub.Close)
	l := &Link{store: store, hub: hub}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var m message
		if json.Unmarshal(payload, &m) != nil {
			return
		}
		l.receive(m)
		if m.Kind == kindSaved && m.Type != "" && m.ID != "" && m.Version != "" {
			got, ok := store.Get(versioncache.Key{Tenant: m.Tenant, Type: m.Type, ID: m.ID})
			if ok && versioncache.Compare(got.Version, m.Version) == versioncache.Older {
				t.Fatalf("store holds %q, older than the %q just learned", got.Version, m.Version)
			}
		}
	})
}
