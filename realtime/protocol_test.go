package realtime

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// The test vectors of pusher-protocol.md.
const (
	vecKey    = "278d425bdf160c739803"
	vecSecret = "7ad3773142a6692b25b8"
	vecSocket = "1234.1234"
)

func TestSignatureVectors(t *testing.T) {
	tests := []struct {
		name, channel, channelData, want string
	}{
		{"private", "private-foobar", "", "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		{"presence", "presence-foobar", `{"user_id":10,"user_info":{"name":"Mr. Channels"}}`,
			"31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sign(vecSecret, vecSocket, tt.channel, tt.channelData); got != tt.want {
				t.Fatalf("sign = %s, want %s", got, tt.want)
			}
			if got := ChannelAuth(vecKey, vecSecret, vecSocket, tt.channel, tt.channelData); got != vecKey+":"+tt.want {
				t.Fatalf("ChannelAuth = %s, want %s:%s", got, vecKey, tt.want)
			}
			if err := verifyAuth(vecKey, vecSecret, vecSocket, tt.channel, tt.channelData, vecKey+":"+tt.want); err != nil {
				t.Fatalf("verifyAuth(vector) = %v", err)
			}
		})
	}
}

func TestVerifyAuth(t *testing.T) {
	good := vecKey + ":58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
	tests := []struct {
		name, socket, channel, auth string
		want                        error
	}{
		{"ok", vecSocket, "private-foobar", good, nil},
		{"uppercase hex", vecSocket, "private-foobar", vecKey + ":" + strings.ToUpper(good[len(vecKey)+1:]), nil},
		{"uppercase key", vecSocket, "private-foobar", strings.ToUpper(vecKey) + good[len(vecKey):], errAuthKey},
		{"missing", vecSocket, "private-foobar", "", errAuthMissing},
		{"no colon", vecSocket, "private-foobar", "abc", errAuthFormat},
		{"other key", vecSocket, "private-foobar", "otherkey" + good[len(vecKey):], errAuthKey},
		{"other socket", "1234.1235", "private-foobar", good, errAuthInvalid},
		{"other channel", vecSocket, "private-foobaz", good, errAuthInvalid},
		{"short sig", vecSocket, "private-foobar", good[:len(good)-2], errAuthInvalid},
		{"not hex", vecSocket, "private-foobar", good[:len(good)-1] + "z", errAuthInvalid},
		{"empty sig", vecSocket, "private-foobar", vecKey + ":", errAuthInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := verifyAuth(vecKey, vecSecret, tt.socket, tt.channel, "", tt.auth); !errors.Is(err, tt.want) {
				t.Fatalf("verifyAuth = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestChannelNames(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
		kind  channelKind
	}{
		{"public", true, kindPublic},
		{"private-record.flow.1", true, kindPrivate},
		{"presence-room.1", true, kindPresence},
		{"private-encrypted-x", true, kindPrivateEncrypted},
		{"a-zA-Z0-9_=@,.;", true, kindPublic},
		{"", false, kindPublic},
		{"has space", false, kindPublic},
		{"slash/no", false, kindPublic},
		{"ünïcode", false, kindPublic},
		{"quote\"", false, kindPublic},
		{strings.Repeat("a", 200), true, kindPublic},
		{strings.Repeat("a", 201), false, kindPublic},
		{"private-", true, kindPrivate},
		{"privatex", true, kindPublic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validChannelName(tt.name); got != tt.valid {
				t.Errorf("validChannelName = %v, want %v", got, tt.valid)
			}
			if got := kindOf(tt.name); got != tt.kind {
				t.Errorf("kindOf = %v, want %v", got, tt.kind)
			}
		})
	}
}

func TestParseClientFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		event   string
		channel string
		err     error
	}{
		{"ping", `{"event":"pusher:ping","data":{}}`, "pusher:ping", "", nil},
		{"spaces", " \n{\"event\":\"pusher:ping\"} ", "pusher:ping", "", nil},
		{"client event", `{"event":"client-typing","channel":"private-x","data":{"a":1}}`, "client-typing", "private-x", nil},
		{"empty", ``, "", "", errMalformed},
		{"not object", `[1,2]`, "", "", errMalformed},
		{"string", `"pusher:ping"`, "", "", errMalformed},
		{"truncated", `{"event":"pusher:ping"`, "", "", errMalformed},
		{"trailing garbage", `{"event":"x"} x`, "", "", errMalformed},
		{"no event", `{"data":{}}`, "", "", errNoEvent},
		{"event number", `{"event":5}`, "", "", errNoEvent},
		{"event null", `{"event":null}`, "", "", errNoEvent},
		{"channel number", `{"event":"x","channel":5}`, "", "", errBadChannel},
		{"null", `null`, "", "", errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseClientFrame([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && (f.Event != tt.event || f.Channel != tt.channel) {
				t.Fatalf("got %q/%q, want %q/%q", f.Event, f.Channel, tt.event, tt.channel)
			}
		})
	}
}

func TestParseSubscribeData(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want subscribeData
		err  error
	}{
		{"public", `{"channel":"news"}`, subscribeData{Channel: "news"}, nil},
		{"private", `{"channel":"private-x","auth":"k:s"}`, subscribeData{Channel: "private-x", Auth: "k:s"}, nil},
		{"presence", `{"channel":"presence-x","auth":"k:s","channel_data":"{\"user_id\":1}"}`,
			subscribeData{Channel: "presence-x", Auth: "k:s", ChannelData: `{"user_id":1}`}, nil},
		{"since string", `{"channel":"private-record.flow.1","since":"2026-01-01T00:00:00Z"}`,
			subscribeData{Channel: "private-record.flow.1", Since: "2026-01-01T00:00:00Z"}, nil},
		{"since number", `{"channel":"c","since":17}`, subscribeData{Channel: "c", Since: "17"}, nil},
		{"since null", `{"channel":"c","since":null}`, subscribeData{Channel: "c"}, nil},
		{"nulls", `{"channel":"c","auth":null,"channel_data":null}`, subscribeData{Channel: "c"}, nil},
		{"double encoded", `"{\"channel\":\"c\",\"auth\":\"a\"}"`, subscribeData{Channel: "c", Auth: "a"}, nil},
		{"missing", ``, subscribeData{}, errBadData},
		{"array", `[]`, subscribeData{}, errBadData},
		{"string not object", `"c"`, subscribeData{}, errBadData},
		{"channel number", `{"channel":1}`, subscribeData{}, errBadChannel},
		{"auth object", `{"channel":"c","auth":{}}`, subscribeData{}, errBadAuth},
		{"channel_data object", `{"channel":"c","channel_data":{"user_id":1}}`, subscribeData{}, errBadChanData},
		{"since object", `{"channel":"c","since":{}}`, subscribeData{}, errBadSince},
		{"since bool", `{"channel":"c","since":true}`, subscribeData{}, errBadSince},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSubscribeData(json.RawMessage(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAppendJSONString(t *testing.T) {
	tests := []string{"", "plain", `quote " back \ slash`, "ctl \x00\x01\x1f\n\r\t", "ünï €", "\u2028\u2029", "bad \xff\xfe utf8", "<script>&"}
	for _, s := range tests {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q: invalid JSON %s: %v", s, b, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		// encoding/json replaces each invalid byte; ToValidUTF8 collapses runs.
		if strings.ContainsRune(want, '\uFFFD') {
			want = strings.ReplaceAll(s, "\xff", "\uFFFD")
			want = strings.ReplaceAll(want, "\xfe", "\uFFFD")
		}
		if back != want {
			t.Fatalf("round trip of %q = %q", s, back)
		}
	}
}

// decodeServerFrame parses a server frame; data is unwrapped when it is a
// JSON string (double encoded).
func decodeServerFrame(tb testing.TB, b []byte) (event, channel string, data map[string]any) {
	tb.Helper()
	var f struct {
		Event   string          `json:"event"`
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatalf("server frame %s: %v", b, err)
	}
	raw := f.Data
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &data); err != nil {
			tb.Fatalf("server frame data %s: %v", raw, err)
		}
	}
	return f.Event, f.Channel, data
}

func TestServerFrames(t *testing.T) {
	ev, _, data := decodeServerFrame(t, handshakeFrame("12.34", 30))
	if ev != "pusher:connection_established" || data["socket_id"] != "12.34" || data["activity_timeout"] != float64(30) {
		t.Fatalf("handshake: %s %v", ev, data)
	}
	want := `{"event":"pusher:connection_established","data":"{\"socket_id\":\"12.34\",\"activity_timeout\":30}"}`
	if got := string(handshakeFrame("12.34", 30)); got != want {
		t.Fatalf("handshake = %s\nwant      %s", got, want)
	}
	if got, want := string(subscriptionSucceededFrame("private-x")), `{"event":"pusher_internal:subscription_succeeded","channel":"private-x","data":"{}"}`; got != want {
		t.Fatalf("succeeded = %s", got)
	}
	ev, ch, data := decodeServerFrame(t, subscriptionErrorFrame("private-x", subErrAuth, "nope", 401))
	if ev != "pusher:subscription_error" || ch != "private-x" || data["type"] != "AuthError" || data["status"] != float64(401) || data["error"] != "nope" {
		t.Fatalf("subscription error: %s %s %v", ev, ch, data)
	}
	ev, _, data = decodeServerFrame(t, errorFrame(4001, "Application does not exist"))
	if ev != "pusher:error" || data["code"] != float64(4001) || data["message"] != "Application does not exist" {
		t.Fatalf("error: %s %v", ev, data)
	}
	ev, ch, data = decodeServerFrame(t, eventFrame("record.updated", "private-record.flow.1", []byte(`{"a":"\"q\""}`)))
	if ev != "record.updated" || ch != "private-record.flow.1" || data["a"] != `"q"` {
		t.Fatalf("event: %s %s %v", ev, ch, data)
	}
	for _, f := range [][]byte{framePing, framePong} {
		decodeServerFrame(t, f)
	}
}
