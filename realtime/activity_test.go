package realtime

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recordsync/recordsync/versioncache"
)

// recordingActivity keeps every note.
type recordingActivity struct {
	mu    sync.Mutex
	notes []ActivityEvent
}

func (r *recordingActivity) Note(a ActivityEvent) {
	r.mu.Lock()
	r.notes = append(r.notes, a)
	r.mu.Unlock()
}

// lines renders the notes of the given kinds, one string each.
func (r *recordingActivity) lines(kinds ...ActivityKind) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, a := range r.notes {
		for _, k := range kinds {
			if a.Kind != k {
				continue
			}
			s := fmt.Sprintf("%s %s %s", a.Kind, a.Tenant, a.Channel)
			switch a.Kind {
			case ActMemberAdded, ActMemberRemoved:
				s += fmt.Sprintf(" user=%s cluster=%v", a.UserID, a.ClusterWide)
				if a.Kind == ActMemberAdded {
					s += " info=" + string(a.Info)
				}
			case ActClientEvent, ActPublished:
				s += fmt.Sprintf(" %s %s size=%d source=%s user=%s", a.Event, a.Data, a.Size, a.Source, a.UserID)
			}
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}

func (r *recordingActivity) wait(tb testing.TB, want []string, kinds ...ActivityKind) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := r.lines(kinds...)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("activity:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestActivity: the hub tells its Activity of sockets, first and last
// subscribers of a channel, presence members, client events and published
// events with their source.
func TestActivity(t *testing.T) {
	t.Parallel()
	act := &recordingActivity{}
	e := newEnv(t, func(o *Options) { o.Activity = act })
	const ch = "presence-room"

	alice := e.connect(t, "t1")
	alice.joinPresence(ch, member(1, "Alice"))
	alice2 := e.connect(t, "t1")
	alice2.joinPresence(ch, member(1, "Alice"))
	bob := e.connect(t, "t1")
	bob.joinPresence(ch, member(2, "Bob"))
	alice.expect("pusher_internal:member_added", ch)
	alice2.expect("pusher_internal:member_added", ch)
	other := e.connect(t, "t2") // the same channel name, another tenant
	other.subscribeOK("private-x")

	bob.send(`{"event":"client-typing","channel":"presence-room","data":{"n":1}}`)
	alice.expect("client-typing", ch)
	e.hub.Publish(Event{Tenant: "t1", Channel: ch, Name: "api.event", Data: []byte(`{"a":1}`), Source: SourceAPI})
	alice.expect("api.event", ch)
	e.hub.Saved(versioncache.Saved{Key: versioncache.Key{Tenant: "t2", Type: "flow", ID: "7"}, Entry: versioncache.Entry{Version: "2024-01-01T00:00:00Z"}})

	act.wait(t, []string{
		`occupied t1 presence-room`,
		`member_added t1 presence-room user=1 cluster=true info={"id":1,"name":"Alice"}`,
		`member_added t1 presence-room user=2 cluster=true info={"id":2,"name":"Bob"}`,
		`occupied t2 private-x`,
		`client_event t1 presence-room client-typing {"n":1} size=7 source=whisper user=2`,
	}, ActOccupied, ActVacated, ActMemberAdded, ActMemberRemoved, ActClientEvent)
	pubs := act.lines(ActPublished)
	if len(pubs) != 2 || pubs[0] != `published t1 presence-room api.event {"a":1} size=7 source=api user=` ||
		!strings.HasPrefix(pubs[1], "published t2 private-record.flow.7 record.updated {") || !strings.HasSuffix(pubs[1], "source=proxy user=") {
		t.Fatalf("published: %q", pubs)
	}

	bob.ws.CloseNow()
	alice.expect("pusher_internal:member_removed", ch)
	alice.ws.CloseNow()
	alice2.send(`{"event":"pusher:unsubscribe","data":{"channel":"presence-room"}}`)
	act.wait(t, []string{
		`occupied t1 presence-room`,
		`member_added t1 presence-room user=1 cluster=true info={"id":1,"name":"Alice"}`,
		`member_added t1 presence-room user=2 cluster=true info={"id":2,"name":"Bob"}`,
		`occupied t2 private-x`,
		`client_event t1 presence-room client-typing {"n":1} size=7 source=whisper user=2`,
		`member_removed t1 presence-room user=2 cluster=true`,
		`member_removed t1 presence-room user=1 cluster=true`,
		`vacated t1 presence-room`,
	}, ActOccupied, ActVacated, ActMemberAdded, ActMemberRemoved, ActClientEvent)

	other.ws.CloseNow()
	alice2.ws.CloseNow()
	eventually(t, 5*time.Second, "disconnects", func() bool { return len(act.lines(ActDisconnected)) == 4 })
	if n := len(act.lines(ActConnected)); n != 4 {
		t.Fatalf("%d connected", n)
	}
	act.mu.Lock()
	defer act.mu.Unlock()
	for _, a := range act.notes {
		if (a.Kind == ActConnected || a.Kind == ActDisconnected) && (a.SocketID == "" || a.Tenant == "") {
			t.Fatalf("note without socket or tenant: %+v", a)
		}
	}
}
