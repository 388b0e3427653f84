package realtime

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/recordsync/recordsync/pusher"
)

// FuzzClientFrame feeds arbitrary messages through the parser and the
// handler of a socket: nothing may panic, and every reply is valid JSON.
func FuzzClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"event":"pusher:ping","data":{}}`,
		`{"event":"pusher:subscribe","data":{"channel":"news"}}`,
		`{"event":"pusher:subscribe","data":{"channel":"private-x","auth":"app-key:00"}}`,
		`{"event":"pusher:subscribe","data":"{\"channel\":\"private-record.flow.1\",\"since\":\"1\"}"}`,
		`{"event":"pusher:subscribe","data":{"channel":"presence-x","channel_data":"{}"}}`,
		`{"event":"pusher:unsubscribe","data":{"channel":"news"}}`,
		`{"event":"client-x","channel":"private-x","data":{}}`,
		`{"event":"pusher:frobnicate"}`,
		`{"event":5}`, `[]`, `"x"`, `{`, ``, "\xff",
	} {
		f.Add([]byte(s))
	}
	h, err := NewHub(Options{AppKey: testKey, AppSecret: testSecret, SendQueue: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(h.Close)
	f.Fuzz(func(t *testing.T, msg []byte) {
		c := newConn(h, h.cfg.Load(), "t")
		c.id = "1.2"
		c.handle(h.cfg.Load(), msg)
		c.handle(h.cfg.Load(), msg) // twice: idempotence paths
		for _, fr := range c.take(nil) {
			if !json.Valid(fr) {
				t.Fatalf("reply is not JSON: %q", fr)
			}
		}
		for name := range c.channels {
			if !pusher.ValidChannelName(name) {
				t.Fatalf("subscribed to invalid name %q", name)
			}
		}
		h.unsubscribeAll(c)
	})
}

// FuzzChannelName feeds arbitrary channel names and messages to what the
// hub does with a name besides validating it (the pusher package fuzzes
// that): the record channel parser and the subscription error frame, which
// quotes the name back. No panics, and the frame is valid JSON.
func FuzzChannelName(f *testing.F) {
	f.Add("private-record.flow.1", "invalid signature")
	f.Add("private-record..", "x")
	f.Add(strings.Repeat("é", 150), "\xff")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, channel, msg string) {
		if typ, id, ok := parseRecordChannel(channel); ok && (typ == "" || id == "") {
			t.Fatalf("record channel %q parsed as %q/%q", channel, typ, id)
		}
		b := subscriptionErrorFrame(channel, subErrAuth, msg, 401)
		if !json.Valid(b) {
			t.Fatalf("invalid frame %q", b)
		}
	})
}
