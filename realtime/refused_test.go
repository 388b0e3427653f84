package realtime

import (
	"testing"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// Every refusal inside a socket is counted once, by reason, and the socket stays
// up (except a refused connection, which is closed).
func TestRefusalsAreCounted(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ClientEvents = ClientEventsOff })
	c := e.connect(t, "")

	// A forged signature, and another socket's signature for the channel.
	c.subscribe("private-record.flow.1", pusher.ChannelAuth(testKey, "not-the-secret", c.socketID, "private-record.flow.1", ""))
	c.expect("pusher:subscription_error", "private-record.flow.1")
	c.subscribe("private-record.flow.1", pusher.ChannelAuth(testKey, testSecret, "1.2", "private-record.flow.1", ""))
	c.expect("pusher:subscription_error", "private-record.flow.1")
	// A bad channel name, an encrypted channel without a signature, a
	// forged sign-in, malformed JSON, a client event (not enabled).
	c.subscribe("bad channel", "")
	c.expect("pusher:subscription_error", "bad channel")
	c.subscribe("private-encrypted-x", "")
	c.expect("pusher:subscription_error", "private-encrypted-x")
	c.send(`{"event":"pusher:signin","data":{"auth":"` + testKey + `:00","user_data":"{\"id\":\"1\"}"}}`)
	c.expect("pusher:error", "")
	c.send(`{"event":`)
	c.expect("pusher:error", "")
	c.send(`{"event":"client-typing","channel":"private-record.flow.1","data":"{}"}`)
	c.expect("pusher:error", "")
	c.roundTrip() // still up

	for reason, want := range map[string]int{
		RefusedSignature:   3,
		RefusedChannel:     1,
		RefusedSignin:      1,
		RefusedUnsupported: 0,
		RefusedMessage:     1,
	} {
		if got := e.obs.refusedCount(reason); got != want {
			t.Errorf("refused %q: %d, want %d", reason, got, want)
		}
	}
	// The refused client event is counted once, as a dropped event.
	e.obs.mu.Lock()
	dropped := e.obs.dropped[DropClientEventOff]
	e.obs.mu.Unlock()
	if dropped != 1 {
		t.Errorf("client event dropped (off): %d, want 1", dropped)
	}
	if got := e.obs.refusedCount("client_event"); got != 0 {
		t.Errorf("client event also counted as refused: %d", got)
	}

	// An unknown app key: the connection is refused (4001) and counted.
	bad := e.dial(t, "/ws/app/not-the-key?protocol=7")
	if code := bad.waitClosed(5 * time.Second); code != CodeAppNotFound {
		t.Fatalf("close code %d, want %d", code, CodeAppNotFound)
	}
	if got := e.obs.refusedCount(RefusedConnection); got != 1 {
		t.Fatalf("refused connections: %d, want 1", got)
	}
}
