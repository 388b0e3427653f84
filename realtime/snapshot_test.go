package realtime

import (
	"encoding/json"
	"strings"
	"testing"
)

// Snapshot shows the allowed tenants only, their sockets, channels with
// their subscribers and presence members (user_info only when asked), each
// list bounded by Limit while the counts stay whole.
func TestSnapshot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const ch = "presence-record.flow.1"
	alice1 := e.connect(t, "a")
	alice1.joinPresence(ch, member(1, "Alice"))
	alice2 := e.connect(t, "a")
	alice2.joinPresence(ch, member(1, "Alice"))
	bob := e.connect(t, "a")
	bob.joinPresence(ch, member(2, "Bob"))
	bob.subscribeOK("news")
	other := e.connect(t, "b")
	other.subscribeOK("news")
	e.connect(t, "a") // no channel

	onlyA := func(tenant string) bool { return tenant == "a" }
	views := e.hub.Snapshot(SnapshotOptions{Allow: onlyA})
	if len(views) != 1 || views[0].Tenant != "a" {
		t.Fatalf("views %+v", views)
	}
	v := views[0]
	if v.Connections != 4 || len(v.Sockets) != 4 || v.ChannelCount != 2 || len(v.Channels) != 2 {
		t.Fatalf("tenant a: %+v", v)
	}
	for _, s := range v.Sockets {
		if s.ID == other.socketID {
			t.Fatal("another tenant's socket")
		}
		want := map[string]int{alice1.socketID: 1, alice2.socketID: 1, bob.socketID: 2}[s.ID]
		if s.Channels != want {
			t.Errorf("socket %s: %d channels, want %d", s.ID, s.Channels, want)
		}
	}
	news, pres := v.Channels[0], v.Channels[1]
	if news.Name != "news" || news.Subscribers != 1 || news.SubscriberIDs[0] != bob.socketID || news.Members != nil {
		t.Fatalf("news: %+v", news)
	}
	if pres.Name != ch || pres.Subscribers != 3 || len(pres.Members) != 2 ||
		pres.Members[0].UserID != "1" || pres.Members[0].Sockets != 2 || pres.Members[0].Info != nil || pres.Members[1].UserID != "2" || pres.Members[1].Info != nil {
		t.Fatalf("presence: %+v", pres)
	}

	withInfo := e.hub.Snapshot(SnapshotOptions{Allow: onlyA, MemberInfo: true, Limit: 1})
	v = withInfo[0]
	if v.Connections != 4 || len(v.Sockets) != 1 || v.ChannelCount != 2 || len(v.Channels) != 1 {
		t.Fatalf("limit 1: %+v", v)
	}
	if m := v.Channels[0].Members; v.Channels[0].Name != "news" || m != nil {
		t.Fatalf("limit 1, first channel: %+v", v.Channels[0])
	}
	all := e.hub.Snapshot(SnapshotOptions{Allow: func(string) bool { return true }, MemberInfo: true})
	if len(all) != 2 || all[1].Tenant != "b" {
		t.Fatalf("all tenants: %+v", all)
	}
	var info map[string]any
	if err := json.Unmarshal(all[0].Channels[1].Members[0].Info, &info); err != nil || info["name"] != "Alice" {
		t.Fatalf("user_info: %s", all[0].Channels[1].Members[0].Info)
	}
	if e.hub.Snapshot(SnapshotOptions{}) != nil {
		t.Fatal("no Allow read something")
	}
}

// PublishTest publishes what the HTTP API would, and refuses the
// protocol's own names, client events, invalid channels or data, and
// anything the hub would read as a record's version.
func TestPublishTest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) {
		o.Models = []ModelRoute{{Class: "App.Models.Flow", Type: "flow", VersionKey: "updated_at"}}
	})
	c := e.connect(t, "a")
	c.subscribeOK("news")
	for _, ev := range []Event{
		{Name: "pusher:ping", Channel: "news"},
		{Name: "pusher_internal:member_added", Channel: "news"},
		{Name: "client-typing", Channel: "news"},
		{Name: "", Channel: "news"},
		{Name: strings.Repeat("x", MaxEventNameLength+1), Channel: "news"},
		{Name: "hello", Channel: "bad channel"},
		{Name: "hello", Channel: "news", Data: []byte("{not json")},
		{Name: "hello", Channel: "news", Data: []byte(`"` + strings.Repeat("x", MaxEventDataBytes) + `"`)},
		{Name: RecordEvent, Channel: "private-record.flow.1", Data: []byte(`{"updated_at_iso":"2030-01-01T00:00:00Z"}`)},
		{Name: "anything", Channel: "news", Data: []byte(`{"record_type":"flow","record_id":1,"updated_at_iso":"2030-01-01T00:00:00Z"}`)},
		{Name: "FlowUpdated", Channel: "private-App.Models.Flow.1", Data: []byte(`{"model":{"id":1,"updated_at":"2030-01-01T00:00:00Z"}}`)},
	} {
		ev.Tenant = "a"
		if err := e.hub.PublishTest(ev); err == nil {
			t.Errorf("%.60s on %s: published", ev.Name, ev.Channel)
		}
	}
	if err := e.hub.PublishTest(Event{Tenant: "a", Channel: "news", Name: "hello", Data: []byte(`{"n":1}`), Source: SourceConsole}); err != nil {
		t.Fatal(err)
	}
	if d := c.expect("hello", "news"); d["n"] != float64(1) {
		t.Fatalf("hello: %v", d)
	}
}
