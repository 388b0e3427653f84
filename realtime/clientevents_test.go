package realtime

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// rawFrame is a server frame with its top-level user_id.
type rawFrame struct {
	Event   string `json:"event"`
	Channel string `json:"channel"`
	Data    string `json:"data"`
	UserID  string `json:"user_id"`
}

func (c *client) nextFrame() rawFrame {
	c.tb.Helper()
	b := c.nextRaw()
	var f rawFrame
	if err := json.Unmarshal(b, &f); err != nil {
		c.tb.Fatalf("frame %s: %v", b, err)
	}
	return f
}

func (c *client) expectError(code int, contains string) {
	c.tb.Helper()
	d := c.expect("pusher:error", "")
	if d["code"] != float64(code) || !strings.Contains(d["message"].(string), contains) {
		c.tb.Fatalf("pusher:error %v, want %d containing %q", d, code, contains)
	}
}

func TestClientEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.ClientEvents = ClientEventsMembers })
	const priv = "private-record.flow.1"
	alice, bob, carol := e.connect(t, "a"), e.connect(t, "a"), e.connect(t, "a")
	alice.subscribeOK(priv)
	bob.subscribeOK(priv)

	// Whisper: the others get it with data as a JSON string; never the sender.
	alice.send(`{"event":"client-typing","channel":"` + priv + `","data":{"name":"Alice","typing":true}}`)
	f := bob.nextFrame()
	if f.Event != "client-typing" || f.Channel != priv || f.Data != `{"name":"Alice","typing":true}` || f.UserID != "" {
		t.Fatalf("bob got %+v", f)
	}
	alice.roundTrip()
	carol.roundTrip() // not subscribed: nothing

	// Refusals: 4301, the socket stays up.
	carol.send(`{"event":"client-typing","channel":"` + priv + `","data":{}}`)
	carol.expectError(CodeClientEvents, "not subscribed")
	carol.subscribeOK("public-news")
	carol.send(`{"event":"client-typing","channel":"public-news","data":{}}`)
	carol.expectError(CodeClientEvents, "only allowed on private- and presence- channels")
	carol.send(`{"event":"client-` + strings.Repeat("x", 200) + `","channel":"public-news","data":{}}`)
	carol.expectError(CodeClientEvents, "longer than")
	carol.roundTrip()
	bob.roundTrip()
	e.obs.mu.Lock()
	if e.obs.dropped[DropClientEventChannel] != 2 || e.obs.dropped[DropClientEventInvalid] != 1 {
		t.Errorf("dropped %v, want 2 %s and 1 %s", e.obs.dropped, DropClientEventChannel, DropClientEventInvalid)
	}
	e.obs.mu.Unlock()

	// Presence: the forwarded event carries the sender's user_id.
	const pres = "presence-record.flow.1"
	alice.joinPresence(pres, member(1, "Alice"))
	bob.joinPresence(pres, member(2, "Bob"))
	alice.expect("pusher_internal:member_added", pres)
	bob.send(`{"event":"client-cursor","channel":"` + pres + `","data":{"x":1}}`)
	f = alice.nextFrame()
	if f.Event != "client-cursor" || f.UserID != "2" || f.Data != `{"x":1}` {
		t.Fatalf("alice got %+v", f)
	}
	bob.roundTrip()

	// Another tenant's socket on the same channel name gets nothing.
	other := e.connect(t, "b")
	other.subscribeOK(priv)
	alice.send(`{"event":"client-typing","channel":"` + priv + `","data":{}}`)
	bob.nextFrame()
	other.roundTrip()
}

func TestClientEventRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.ClientEvents = ClientEventsMembers; o.ClientEventRate = 5 })
	const ch = "private-x"
	a, b := e.connect(t, ""), e.connect(t, "")
	a.subscribeOK(ch)
	b.subscribeOK(ch)
	start := time.Now()
	for range 12 {
		a.send(`{"event":"client-x","channel":"` + ch + `","data":{}}`)
	}
	a.send(`{"event":"pusher:ping","data":{}}`)
	// 5 (the burst) pass, plus at most what refilled meanwhile.
	refill := int(time.Since(start).Seconds()*5) + 1
	errs := 0
	for {
		ev, _, d := a.next()
		if ev == "pusher:pong" {
			break
		}
		if ev != "pusher:error" || d["code"] != float64(CodeClientEvents) || !strings.Contains(d["message"].(string), "rate limit") {
			t.Fatalf("got %s %v", ev, d)
		}
		errs++
	}
	// Already read up to the pong above, so b has been sent everything.
	b.roundTrip2(t, 12-errs)
	if passed := 12 - errs; passed < 5 || passed > 5+refill {
		t.Fatalf("%d client events passed, want 5 (+%d refill)", passed, refill)
	}
	e.obs.mu.Lock()
	dropped := e.obs.dropped[DropClientEventRate]
	e.obs.mu.Unlock()
	if dropped != errs {
		t.Fatalf("dropped %v, want %d", e.obs.dropped, errs)
	}
	// The bucket refills.
	time.Sleep(300 * time.Millisecond)
	a.send(`{"event":"client-x","channel":"` + ch + `","data":{}}`)
	if f := b.nextFrame(); f.Event != "client-x" {
		t.Fatalf("after a pause: %+v", f)
	}
}

// roundTrip2 reads n client events and then the pong of a ping.
func (c *client) roundTrip2(t *testing.T, n int) {
	t.Helper()
	for range n {
		if f := c.nextFrame(); f.Event != "client-x" {
			t.Fatalf("got %+v, want client-x", f)
		}
	}
	c.roundTrip()
}

func TestSign(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.connect(t, "a")
	const cd = `{"user_id":2,"user_info":{"name":"Bob"}}`
	auth, ok := e.hub.Sign("a", c.socketID, "private-record.flow.1", "")
	if !ok || auth != pusher.ChannelAuth(testKey, testSecret, c.socketID, "private-record.flow.1", "") {
		t.Fatalf("Sign private = %q, %v", auth, ok)
	}
	// What Sign makes, the hub accepts.
	c.subscribe("private-record.flow.1", auth)
	c.expect("pusher_internal:subscription_succeeded", "private-record.flow.1")
	pauth, ok := e.hub.Sign("a", c.socketID, "presence-record.flow.1", cd)
	if !ok {
		t.Fatal("Sign presence refused")
	}
	msg, _ := json.Marshal(map[string]any{"event": "pusher:subscribe",
		"data": map[string]string{"channel": "presence-record.flow.1", "auth": pauth, "channel_data": cd}})
	c.send(string(msg))
	c.expect("pusher_internal:subscription_succeeded", "presence-record.flow.1")

	for _, tt := range []struct{ name, tenant, socket, channel, data string }{
		{"another tenant", "b", c.socketID, "private-record.flow.1", ""},
		{"no tenant", "", c.socketID, "private-record.flow.1", ""},
		{"unknown socket", "a", "1.2", "private-record.flow.1", ""},
		{"public channel", "a", c.socketID, "record.flow.1", ""},
		{"encrypted channel", "a", c.socketID, "private-encrypted-x", ""},
		{"bad channel name", "a", c.socketID, "private-a b", ""},
		{"private with channel_data", "a", c.socketID, "private-x", cd},
		{"presence without channel_data", "a", c.socketID, "presence-x", ""},
		{"presence without user_id", "a", c.socketID, "presence-x", `{"user_info":{}}`},
	} {
		if auth, ok := e.hub.Sign(tt.tenant, tt.socket, tt.channel, tt.data); ok || auth != "" {
			t.Errorf("%s: signed %q", tt.name, auth)
		}
	}
	c.ws.CloseNow()
	eventually(t, 2*time.Second, "socket gone", func() bool {
		_, ok := e.hub.Sign("a", c.socketID, "private-record.flow.1", "")
		return !ok
	})
}

// TestEditingEvent: the kit's "who is editing" signal passes on presence
// channels with client events off, with the sender's user_id and exactly
// the editing flag; anywhere else, or with other data, it is refused.
func TestEditingEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.ClientEvents = ClientEventsOff })
	const pres = "presence-record.flow.1"
	alice, bob := e.connect(t, "a"), e.connect(t, "a")
	alice.joinPresence(pres, member(1, "Alice"))
	bob.joinPresence(pres, member(2, "Bob"))
	alice.expect("pusher_internal:member_added", pres)

	bob.send(`{"event":"` + EditingEvent + `","channel":"` + pres + `","data":{"editing":true,"extra":"x"}}`)
	f := alice.nextFrame()
	if f.Event != EditingEvent || f.UserID != "2" || f.Data != `{"editing":true}` {
		t.Fatalf("alice got %+v", f)
	}
	bob.send(`{"event":"` + EditingEvent + `","channel":"` + pres + `","data":{"editing":false}}`)
	if f := alice.nextFrame(); f.Data != `{"editing":false}` {
		t.Fatalf("alice got %+v", f)
	}
	bob.roundTrip() // never back to the sender

	// Other whispers stay off.
	bob.send(`{"event":"client-typing","channel":"` + pres + `","data":{}}`)
	bob.expectError(CodeClientEvents, "not enabled")
	// Not on private channels, not without membership, not other data.
	const priv = "private-record.flow.1"
	bob.subscribeOK(priv)
	bob.send(`{"event":"` + EditingEvent + `","channel":"` + priv + `","data":{"editing":true}}`)
	bob.expectError(CodeClientEvents, "only allowed on presence- channels")
	carol := e.connect(t, "a")
	carol.send(`{"event":"` + EditingEvent + `","channel":"` + pres + `","data":{"editing":true}}`)
	carol.expectError(CodeClientEvents, "not a member")
	for _, data := range []string{`{"editing":"yes"}`, `{}`, `[true]`} {
		bob.send(`{"event":"` + EditingEvent + `","channel":"` + pres + `","data":` + data + `}`)
		bob.expectError(CodeClientEvents, "must be")
	}
	alice.roundTrip()
}

// TestClientEventsOnByDefault: as on Reverb, whispers pass between the
// members of a private channel without any setting.
func TestClientEventsOnByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const priv = "private-record.flow.1"
	alice, bob := e.connect(t, "a"), e.connect(t, "a")
	alice.subscribeOK(priv)
	bob.subscribeOK(priv)
	alice.send(`{"event":"client-typing","channel":"` + priv + `","data":{"typing":true}}`)
	if f := bob.nextFrame(); f.Event != "client-typing" || f.Data != `{"typing":true}` {
		t.Fatalf("bob got %+v", f)
	}
}
