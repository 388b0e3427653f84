package realtime

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// joinPresence subscribes c to channel as the member in channelData, signed
// as the app would, and returns the subscription_succeeded presence data.
func (c *client) joinPresence(channel, channelData string) map[string]any {
	c.tb.Helper()
	c.sendJoin(channel, channelData)
	d := c.expect("pusher_internal:subscription_succeeded", channel)
	p, _ := d["presence"].(map[string]any)
	if p == nil {
		c.tb.Fatalf("subscription_succeeded without presence: %v", d)
	}
	return p
}

func (c *client) sendJoin(channel, channelData string) {
	c.tb.Helper()
	auth := pusher.ChannelAuth(testKey, testSecret, c.socketID, channel, channelData)
	msg, _ := json.Marshal(map[string]any{"event": "pusher:subscribe",
		"data": map[string]string{"channel": channel, "auth": auth, "channel_data": channelData}})
	c.send(string(msg))
}

func member(id int, name string) string {
	return fmt.Sprintf(`{"user_id":%d,"user_info":{"id":%d,"name":%q}}`, id, id, name)
}

// TestPresenceMembers: one user in several sockets is one member; added on
// the first socket, removed when the last one leaves (unsubscribe or
// disconnect); the others are told, the socket that caused it is not.
func TestPresenceMembers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const ch = "presence-record.flow.1"
	alice1 := e.connect(t, "a")
	p := alice1.joinPresence(ch, member(1, "Alice"))
	want := map[string]any{"ids": []any{"1"}, "hash": map[string]any{"1": map[string]any{"id": float64(1), "name": "Alice"}}, "count": float64(1)}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("first snapshot %v, want %v", p, want)
	}

	alice2 := e.connect(t, "a")
	p = alice2.joinPresence(ch, member(1, "Alice"))
	if p["count"] != float64(1) {
		t.Fatalf("second tab of Alice: %v", p)
	}
	alice1.roundTrip() // no member_added for Alice's second tab

	bob := e.connect(t, "a")
	p = bob.joinPresence(ch, member(2, "Bob"))
	if !reflect.DeepEqual(p["ids"], []any{"1", "2"}) || p["count"] != float64(2) {
		t.Fatalf("Bob's snapshot %v", p)
	}
	if h := p["hash"].(map[string]any); h["2"].(map[string]any)["name"] != "Bob" {
		t.Fatalf("Bob's snapshot hash %v", h)
	}
	for _, c := range []*client{alice1, alice2} {
		d := c.expect("pusher_internal:member_added", ch)
		if d["user_id"] != "2" || d["user_info"].(map[string]any)["name"] != "Bob" {
			t.Fatalf("member_added %v", d)
		}
		c.roundTrip()
	}
	bob.roundTrip() // not told about himself

	// Another tenant's channel of the same name is another channel.
	other := e.connect(t, "b")
	if p := other.joinPresence(ch, member(1, "Alice")); p["count"] != float64(1) {
		t.Fatalf("tenant b sees %v", p)
	}
	if got := e.hub.PresenceUsers("a", ch); !reflect.DeepEqual(got, []PresenceUser{{"1"}, {"2"}}) {
		t.Fatalf("PresenceUsers(a) = %v", got)
	}
	if got := e.hub.PresenceUsers("b", ch); !reflect.DeepEqual(got, []PresenceUser{{"1"}}) {
		t.Fatalf("PresenceUsers(b) = %v", got)
	}

	// One of Alice's tabs leaves: nothing; the second: member_removed once.
	alice1.send(`{"event":"pusher:unsubscribe","data":{"channel":"` + ch + `"}}`)
	alice1.roundTrip()
	bob.roundTrip()
	alice2.roundTrip()
	alice2.ws.CloseNow()
	if d := bob.expect("pusher_internal:member_removed", ch); !reflect.DeepEqual(d, map[string]any{"user_id": "1"}) {
		t.Fatalf("member_removed %v", d)
	}
	bob.roundTrip()
	alice1.roundTrip() // unsubscribed: told nothing
	other.roundTrip()  // tenant b: told nothing
	eventually(t, 2*time.Second, "Alice gone", func() bool {
		return reflect.DeepEqual(e.hub.PresenceUsers("a", ch), []PresenceUser{{"2"}})
	})

	// Bob leaves: the channel is gone.
	bob.ws.CloseNow()
	eventually(t, 2*time.Second, "channel gone", func() bool { return e.hub.PresenceUsers("a", ch) == nil })
	// A repeated subscribe gets the snapshot again and changes nothing.
	p = other.joinPresence(ch, member(1, "Alice"))
	if p["count"] != float64(1) {
		t.Fatalf("repeated subscribe: %v", p)
	}
}

func TestPresenceRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.PresenceMaxMembers = 2; o.ClientEvents = ClientEventsOff })
	const ch = "presence-room"
	c := e.connect(t, "")

	// A signature over other channel_data than sent.
	auth := pusher.ChannelAuth(testKey, testSecret, c.socketID, ch, member(1, "Alice"))
	msg, _ := json.Marshal(map[string]any{"event": "pusher:subscribe",
		"data": map[string]string{"channel": ch, "auth": auth, "channel_data": member(2, "Mallory")}})
	c.send(string(msg))
	if d := c.expect("pusher:subscription_error", ch); d["type"] != "AuthError" || d["status"] != float64(401) {
		t.Fatalf("forged channel_data: %v", d)
	}
	// A private signature (no channel_data) does not open a presence channel.
	c.subscribe(ch, pusher.ChannelAuth(testKey, testSecret, c.socketID, ch, ""))
	if d := c.expect("pusher:subscription_error", ch); d["type"] != "AuthError" {
		t.Fatalf("private-style auth: %v", d)
	}
	// Signed, but no user_id.
	c.sendJoin(ch, `{"user_info":{}}`)
	if d := c.expect("pusher:subscription_error", ch); d["type"] != "InvalidChannel" || d["status"] != float64(400) {
		t.Fatalf("no user_id: %v", d)
	}
	if e.hub.PresenceUsers("", ch) != nil {
		t.Fatal("a refused socket became a member")
	}

	// The member limit counts users, not sockets.
	c.joinPresence(ch, member(1, "Alice"))
	c2 := e.connect(t, "")
	c2.joinPresence(ch, member(2, "Bob"))
	c.expect("pusher_internal:member_added", ch)
	c3 := e.connect(t, "")
	c3.joinPresence(ch, member(1, "Alice")) // a second socket of a member
	c4 := e.connect(t, "")
	c4.sendJoin(ch, member(3, "Carol"))
	if d := c4.expect("pusher:subscription_error", ch); d["type"] != "LimitReached" || d["status"] != float64(429) {
		t.Fatalf("over the member limit: %v", d)
	}
	c4.roundTrip()
	c.roundTrip() // no member_added for Carol
	c.send(`{"event":"client-x","channel":"` + ch + `","data":{}}`)
	c.expect("pusher:error", "")
}
