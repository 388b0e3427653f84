package realtime

import (
	"encoding/json"
	"strings"
	"testing"
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
			if !validChannelName(name) {
				t.Fatalf("subscribed to invalid name %q", name)
			}
		}
		h.unsubscribeAll(c)
	})
}

// FuzzChannelAuth checks channel-name validation and signature checking on
// arbitrary input: no panics, and only the exact signature is accepted.
func FuzzChannelAuth(f *testing.F) {
	f.Add("private-foobar", vecSocket, vecKey+":58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4")
	f.Add("presence-x", "1.1", "k:")
	f.Add("", "", ":")
	f.Add("a b", "1.1", "::::")
	f.Fuzz(func(t *testing.T, channel, socketID, auth string) {
		valid := validChannelName(channel)
		if valid && (len(channel) > MaxChannelNameLength || strings.ContainsAny(channel, " /\"\\:")) {
			t.Fatalf("accepted %q", channel)
		}
		_ = kindOf(channel)
		_, _, _ = parseRecordChannel(channel)
		err := verifyAuth(vecKey, vecSecret, socketID, channel, "", auth)
		if err == nil {
			want := vecKey + ":" + sign(vecSecret, socketID, channel, "")
			if !strings.EqualFold(auth, want) || !strings.HasPrefix(auth, vecKey+":") {
				t.Fatalf("accepted %q for %q/%q, want %q", auth, socketID, channel, want)
			}
		}
		b := subscriptionErrorFrame(channel, subErrAuth, auth, 401)
		if !json.Valid(b) {
			t.Fatalf("invalid frame %q", b)
		}
	})
}

// FuzzJSONString checks the hand-written JSON string encoder against
// encoding/json's decoder.
func FuzzJSONString(f *testing.F) {
	f.Add("plain")
	f.Add("\x00\"\\\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q → %s: %v", s, b, err)
		}
		if strings.ToValidUTF8(s, "") == s && back != s {
			t.Fatalf("valid UTF-8 %q came back as %q", s, back)
		}
	})
}
