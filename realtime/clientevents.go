package realtime

import (
	"strconv"

	"github.com/tidwall/gjson"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// Values of Options.ClientEvents.
const (
	// ClientEventsOff refuses every client-* event with pusher:error 4301.
	ClientEventsOff = "off"
	// ClientEventsMembers lets a socket subscribed to a private- or
	// presence- channel send client-* events to the other sockets there.
	ClientEventsMembers = "members"
)

// clientEvent handles a client-* event (Echo's whisper): with
// ClientEventsMembers, from a socket subscribed to a private- or presence-
// channel, within the socket's rate, it goes to every other socket on the
// channel (never back to the sender); on a presence channel it carries the
// sender's user_id. Every refusal is pusher:error 4301 and the socket stays
// up. The data's size is bounded by MaxMessageBytes, the bound of the whole
// message.
func (c *conn) clientEvent(cfg *config, f clientFrame) {
	if f.Event == EditingEvent {
		c.editingEvent(cfg, f)
		return
	}
	if cfg.ClientEvents != ClientEventsMembers {
		cfg.Observer.Dropped(DropClientEventOff)
		c.sendError(CodeClientEvents, "client events are not enabled")
		return
	}
	if len(f.Event) > MaxEventNameLength {
		cfg.Observer.Dropped(DropClientEventInvalid)
		c.sendError(CodeClientEvents, "client event name longer than "+strconv.Itoa(MaxEventNameLength)+" characters")
		return
	}
	switch pusher.KindOf(f.Channel) {
	case pusher.KindPrivate, pusher.KindPresence:
	case pusher.KindPrivateEncrypted:
		// The Pusher docs, "End-to-end encrypted channels": client events
		// are not supported (a client has no way to encrypt them).
		cfg.Observer.Dropped(DropClientEventChannel)
		c.sendError(CodeClientEvents, "client events are not supported on private-encrypted- channels")
		return
	default:
		cfg.Observer.Dropped(DropClientEventChannel)
		c.sendError(CodeClientEvents, "client events are only allowed on private- and presence- channels, not "+quoteForMsg(f.Channel))
		return
	}
	if _, ok := c.channels[f.Channel]; !ok {
		cfg.Observer.Dropped(DropClientEventChannel)
		c.sendError(CodeClientEvents, "not subscribed to "+quoteForMsg(f.Channel))
		return
	}
	if !c.allowClientEvent(cfg.ClientEventRate) {
		cfg.Observer.Dropped(DropClientEventRate)
		c.sendError(CodeClientEvents, "client event rate limit exceeded: "+strconv.Itoa(cfg.ClientEventRate)+" per second")
		return
	}
	c.relay(cfg, f.Event, f.Channel, f.Data, c.members[f.Channel])
}

// relay delivers a client event c sent to the other sockets on channel
// (with the sender's presence user, "" on private channels) and shares it
// with the other instances of a cluster.
func (c *conn) relay(cfg *config, event, channel string, data []byte, user string) {
	frame := clientEventFrame(event, channel, data, user)
	if n := c.hub.deliver(chanKey{c.tenant, channel}, frame, c); n > 0 {
		cfg.Observer.Delivered(n)
	}
	c.hub.share(Event{Tenant: c.tenant, Channel: channel, Name: event, Data: data,
		ExceptSocket: c.id, ClientEvent: true, UserID: user, Source: SourceWhisper})
	if act := cfg.Activity; act != nil {
		act.Note(ActivityEvent{Kind: ActClientEvent, Tenant: c.tenant, Channel: channel, SocketID: c.id,
			UserID: user, Event: event, Data: data, Size: len(data), Source: SourceWhisper})
	}
}

// EditingEvent is the browser kit's "who is editing" signal: a client
// event on a record's presence channel with data {"editing":true} or
// {"editing":false}. The hub accepts it whatever ClientEvents says (the
// kit shows "Bob — editing" on sites without whispers too), but only on a
// presence channel the socket is a member of, within the socket's client
// event rate, and with exactly that data (rebuilt by the hub, so that it
// carries nothing else); the others receive it with the sender's user_id.
const EditingEvent = "client-recordsync-editing"

var (
	editingTrue  = []byte(`{"editing":true}`)
	editingFalse = []byte(`{"editing":false}`)
)

// editingEvent handles EditingEvent (see there).
func (c *conn) editingEvent(cfg *config, f clientFrame) {
	if pusher.KindOf(f.Channel) != pusher.KindPresence {
		cfg.Observer.Dropped(DropClientEventChannel)
		c.sendError(CodeClientEvents, EditingEvent+" is only allowed on presence- channels, not "+quoteForMsg(f.Channel))
		return
	}
	user := c.members[f.Channel]
	if _, ok := c.channels[f.Channel]; !ok || user == "" {
		cfg.Observer.Dropped(DropClientEventChannel)
		c.sendError(CodeClientEvents, "not a member of "+quoteForMsg(f.Channel))
		return
	}
	var data []byte
	switch v := gjson.GetBytes(f.Data, "editing"); {
	case !gjson.ValidBytes(f.Data) || !gjson.ParseBytes(f.Data).IsObject():
	case v.Type == gjson.True:
		data = editingTrue
	case v.Type == gjson.False:
		data = editingFalse
	}
	if data == nil {
		cfg.Observer.Dropped(DropClientEventInvalid)
		c.sendError(CodeClientEvents, EditingEvent+` data must be {"editing":true} or {"editing":false}`)
		return
	}
	rate := cfg.ClientEventRate
	if rate <= 0 {
		rate = DefaultClientEventRate
	}
	if !c.allowClientEvent(rate) {
		cfg.Observer.Dropped(DropClientEventRate)
		c.sendError(CodeClientEvents, "client event rate limit exceeded: "+strconv.Itoa(rate)+" per second")
		return
	}
	c.relay(cfg, EditingEvent, f.Channel, data, user)
}

// Observer.Dropped reasons of refused client events (whispers).
const (
	// DropClientEventRate: over the socket's rate.
	DropClientEventRate = "client_event_rate"
	// DropClientEventOff: client events are not enabled.
	DropClientEventOff = "client_event_off"
	// DropClientEventChannel: a public channel, or one the sender is not
	// subscribed to.
	DropClientEventChannel = "client_event_channel"
	// DropClientEventInvalid: an event name over MaxEventNameLength.
	DropClientEventInvalid = "client_event_invalid"
)

// allowClientEvent is a token bucket of rate tokens per second holding at
// most rate: it reports whether one more client event may pass now.
// readLoop only.
func (c *conn) allowClientEvent(rate int) bool {
	now := c.hub.now()
	if c.ceLast == 0 {
		c.ceTokens = float64(rate)
	} else {
		c.ceTokens += float64(now-c.ceLast) / float64(time.Second) * float64(rate)
		if c.ceTokens > float64(rate) {
			c.ceTokens = float64(rate)
		}
	}
	c.ceLast = now
	if c.ceTokens < 1 {
		return false
	}
	c.ceTokens--
	return true
}

// deliver sends frame (a Pusher message) to every socket subscribed to k
// but except, and returns how many got it. Like Publish, it copies the
// subscribers under the read lock and sends outside it, the same frame
// bytes to each.
func (h *Hub) deliver(k chanKey, frame []byte, except *conn) int {
	sh := h.shardFor(k)
	sp := subsPool.Get().(*[]*conn)
	subs := (*sp)[:0]
	sh.mu.RLock()
	for s := range sh.channels[k] {
		if s != except {
			subs = append(subs, s)
		}
	}
	sh.mu.RUnlock()
	n := 0
	if len(subs) > 0 {
		n = fanout(subs, wsText(frame), "")
	}
	clear(subs)
	if cap(subs) <= 1<<16 {
		*sp = subs[:0]
		subsPool.Put(sp)
	}
	return n
}

// clientEventFrame is {"event":"client-x","channel":c,"data":"<data as a
// JSON string>"} plus "user_id" when userID is set (presence channels).
func clientEventFrame(event, channel string, data []byte, userID string) []byte {
	b := make([]byte, 0, 64+len(event)+len(channel)+len(userID)+len(data)*11/10)
	b = appendEventFrame(b, event, channel, data)
	if userID == "" {
		return b
	}
	b = b[:len(b)-1] // the closing brace
	b = append(b, `,"user_id":`...)
	b = pusher.AppendJSONString(b, userID)
	return append(b, '}')
}
