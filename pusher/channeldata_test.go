package pusher

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestParseChannelData(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, in, id, info string
		err                error
	}{
		{"the vector", `{"user_id":10,"user_info":{"name":"Mr. Channels"}}`, "10", `{"name":"Mr. Channels"}`, nil},
		{"number", `{"user_id":2,"user_info":{"id":2,"name":"Bob"}}`, "2", `{"id":2,"name":"Bob"}`, nil},
		{"string", `{"user_id":"u-7"}`, "u-7", "null", nil},
		{"big number kept literally", `{"user_id":12345678901234567890}`, "12345678901234567890", "null", nil},
		{"number literal kept", `{"user_id":1e3}`, "1e3", "null", nil},
		{"info compacted", "{\"user_id\":\"1\",\"user_info\":{ \"a\" : [1, 2] }}", "1", `{"a":[1,2]}`, nil},
		{"escaped slash", `{"user_id":"1","user_info":{"url":"a\/b"}}`, "1", `{"url":"a\/b"}`, nil},
		{"128 characters", `{"user_id":"` + strings.Repeat("x", 128) + `"}`, strings.Repeat("x", 128), "null", nil},
		{"missing id", `{"user_info":{}}`, "", "", ErrChannelDataUserID},
		{"empty id", `{"user_id":""}`, "", "", ErrChannelDataUserID},
		{"bool id", `{"user_id":true}`, "", "", ErrChannelDataUserID},
		{"object id", `{"user_id":{}}`, "", "", ErrChannelDataUserID},
		{"null id", `{"user_id":null}`, "", "", ErrChannelDataUserID},
		{"too long id", `{"user_id":"` + strings.Repeat("x", 129) + `"}`, "", "", ErrChannelDataUserID},
		{"not an object", `[1]`, "", "", ErrChannelDataJSON},
		{"null", `null`, "", "", ErrChannelDataJSON},
		{"empty", ``, "", "", ErrChannelDataJSON},
		{"broken", `{"user_id":1`, "", "", ErrChannelDataJSON},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseChannelData(tt.in)
			if err != tt.err {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && (d.UserID != tt.id || string(d.Info) != tt.info) {
				t.Fatalf("got id %q info %s, want %q %s", d.UserID, d.Info, tt.id, tt.info)
			}
		})
	}
}

func TestParseAuthAnswer(t *testing.T) {
	t.Parallel()
	const cd = `{"user_id":10,"user_info":{"name":"Mr. Channels"}}`
	for _, tt := range []struct {
		name, in string
		want     AuthAnswer
		ok       bool
	}{
		{"signed private", `{"auth":"k:s"}`, AuthAnswer{Signed: true, Auth: "k:s"}, true},
		{"signed presence", `{"auth":"k:s","channel_data":` + jsonString(cd) + `}`, AuthAnswer{Signed: true, Auth: "k:s", ChannelData: cd}, true},
		{"signed, channel_data kept byte for byte", `{"auth":"k:s","channel_data":"{ \"user_id\" : 1 }"}`, AuthAnswer{Signed: true, Auth: "k:s", ChannelData: `{ "user_id" : 1 }`}, true},
		{"signed, the last auth wins (JSON.parse)", `{"auth":"x:y","auth":"k:s"}`, AuthAnswer{Signed: true, Auth: "k:s"}, true},
		{"signed, auth not a string", `{"auth":5}`, AuthAnswer{Signed: true}, true},
		{"signed, channel_data an object: no signature can match", `{"auth":"k:s","channel_data":` + cd + `}`, AuthAnswer{Signed: true}, true},
		{"signed, channel_data null", `{"auth":"k:s","channel_data":null}`, AuthAnswer{Signed: true, Auth: "k:s"}, true},
		{"unsigned object, compacted with keys and numbers kept", `{"channel_data": {"user_id": 10, "user_info": {"name": "Mr. Channels"}}}`, AuthAnswer{ChannelData: cd}, true},
		{"unsigned object, number literal kept", `{"channel_data":{"user_id":1.0E3}}`, AuthAnswer{ChannelData: `{"user_id":1.0E3}`}, true},
		{"unsigned string, as it is", `{"channel_data":` + jsonString(`{ "user_id" : 1 }`) + `}`, AuthAnswer{ChannelData: `{ "user_id" : 1 }`}, true},
		{"unsigned, other members", ` {"x":1,"channel_data":{"user_id":1}}` + "\n", AuthAnswer{ChannelData: `{"user_id":1}`}, true},
		{"unsigned, no member check here", `{"channel_data":{}}`, AuthAnswer{ChannelData: `{}`}, true},
		{"unsigned string not an object", `{"channel_data":"x"}`, AuthAnswer{}, false},
		{"unsigned string null", `{"channel_data":"null"}`, AuthAnswer{}, false},
		{"unsigned array", `{"channel_data":[1]}`, AuthAnswer{}, false},
		{"unsigned null", `{"channel_data":null}`, AuthAnswer{}, false},
		{"unsigned without channel_data", `{"user_id":1}`, AuthAnswer{}, false},
		{"unsigned, a key twice", `{"channel_data":{"user_id":1},"channel_data":{"user_id":2}}`, AuthAnswer{}, false},
		{"unsigned, another key twice", `{"x":1,"x":2,"channel_data":{"user_id":1}}`, AuthAnswer{}, false},
		{"true", `true`, AuthAnswer{}, false},
		{"null", `null`, AuthAnswer{}, false},
		{"empty", ``, AuthAnswer{}, false},
		{"html", `<html>`, AuthAnswer{}, false},
		{"trailing data", `{"auth":"k:s"} {}`, AuthAnswer{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseAuthAnswer([]byte(tt.in))
			if ok != tt.ok || got != tt.want {
				t.Fatalf("got %+v, %v, want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// FuzzParseChannelData: no panics; a member has a bounded, non-empty user
// id and user_info that is compact JSON.
func FuzzParseChannelData(f *testing.F) {
	for _, s := range []string{`{"user_id":10,"user_info":{"name":"Mr. Channels"}}`, `{"user_id":"a"}`,
		`{"user_id":1e999}`, `{"user_id":-0}`, `{"user_id":"\u0000"}`, `{}`, `null`, `[`, "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseChannelData(s)
		if err != nil {
			if m.UserID != "" || m.Info != nil {
				t.Fatalf("error %v with %+v", err, m)
			}
			return
		}
		if m.UserID == "" || len(m.UserID) > MaxUserIDLength {
			t.Fatalf("user id %q accepted", m.UserID)
		}
		var b bytes.Buffer
		if !json.Valid(m.Info) || json.Compact(&b, m.Info) != nil || !bytes.Equal(b.Bytes(), m.Info) {
			t.Fatalf("user_info %q is not compact JSON", m.Info)
		}
	})
}

// FuzzParseAuthAnswer: no panics; an unsigned grant's channel_data is a
// JSON object and comes from an object answer without a repeated key; a
// signed answer has an "auth" member.
func FuzzParseAuthAnswer(f *testing.F) {
	for _, s := range []string{"true", "false", "", "null", `{"auth":"k:s"}`,
		`{"channel_data":{"user_id":10,"user_info":{"name":"Mr. Channels"}}}`,
		`{"channel_data":"{\"user_id\":\"1\"}"}`, `{"channel_data":"x"}`, `{"channel_data":{}, "channel_data":{}}`,
		`{"auth":"a","channel_data":{"user_id":1}}`, `{"channel_data":{"a":1e999}}`, `{"channel_data":"{"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, ok := ParseAuthAnswer(body)
		if !ok {
			if a != (AuthAnswer{}) {
				t.Fatalf("refused with %+v", a)
			}
			return
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(body, &top) != nil || top == nil {
			t.Fatalf("accepted a body that is not an object: %q", body)
		}
		if _, has := top["auth"]; has != a.Signed {
			t.Fatalf("Signed %v for %q", a.Signed, body)
		}
		if a.Signed {
			return
		}
		if hasDuplicateKeys(bytes.TrimSpace(body)) {
			t.Fatalf("unsigned answer with a key twice accepted: %q", body)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(a.ChannelData), &m); err != nil || m == nil {
			t.Fatalf("channel_data %q is not an object", a.ChannelData)
		}
	})
}
