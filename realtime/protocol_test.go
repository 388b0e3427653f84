package realtime

import (
	"encoding/json"
	"errors"
	"testing"
)

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
