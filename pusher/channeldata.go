package pusher

import (
	"bytes"
	"encoding/json"
	"errors"
)

// MaxUserIDLength bounds a presence member's user_id (Pusher's limit).
const MaxUserIDLength = 128

// Member is what a presence subscription's channel_data says of its member.
type Member struct {
	// UserID is user_id: a string, or a number kept as its literal text
	// (so 10 and "10" name one member).
	UserID string
	// Info is user_info as compact JSON, "null" when absent.
	Info []byte
}

// Errors of ParseChannelData. Their text is meant for the client (a hub
// sends it in pusher:subscription_error).
var (
	// ErrChannelDataJSON: channel_data is not a JSON object.
	ErrChannelDataJSON = errors.New("channel_data must be a JSON object")
	// ErrChannelDataUserID: user_id is missing, empty, not a string or a
	// number, or longer than MaxUserIDLength.
	ErrChannelDataUserID = errors.New("channel_data.user_id must be a non-empty string or a number of at most 128 characters")
)

// ParseChannelData reads a presence subscription's channel_data, the JSON
// string that pusher-js sends with pusher:subscribe as the app's auth
// answer gave it (the Pusher protocol docs, "pusher:subscribe"):
// user_id (a non-empty string, or a number kept as its literal text, at most
// MaxUserIDLength characters) and user_info (any JSON, compacted). The
// error is ErrChannelDataJSON or ErrChannelDataUserID.
func ParseChannelData(s string) (Member, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return Member{}, ErrChannelDataJSON
	}
	var d Member
	raw := bytes.TrimSpace(m["user_id"])
	switch {
	case len(raw) > 0 && raw[0] == '"':
		if err := json.Unmarshal(raw, &d.UserID); err != nil {
			return Member{}, ErrChannelDataUserID
		}
	case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return Member{}, ErrChannelDataUserID
		}
		d.UserID = n.String()
	}
	if d.UserID == "" || len(d.UserID) > MaxUserIDLength {
		return Member{}, ErrChannelDataUserID
	}
	d.Info = []byte("null")
	if info := m["user_info"]; len(info) > 0 {
		var b bytes.Buffer
		if err := json.Compact(&b, info); err != nil {
			return Member{}, ErrChannelDataJSON
		}
		d.Info = b.Bytes()
	}
	return d, nil
}

// AuthAnswer is an app's answer to a channel authorisation request
// (/broadcasting/auth) that is a JSON object, as read to sign or check it.
type AuthAnswer struct {
	// Signed is set when the answer has an "auth" member: the app signed it
	// (Laravel's pusher and reverb broadcasters, pusher-http-php).
	Signed bool
	// Auth is a signed answer's "auth" ("key:signature"); "" when it is
	// not a string, or when channel_data is there but not a string
	// (pusher-js would send on an object, which no signature matches).
	Auth string
	// ChannelData is the exact channel_data string that is signed and that
	// pusher-js sends with pusher:subscribe. In a signed answer it is the
	// channel_data string as it is ("" when absent: a private grant). In an
	// unsigned one (a presence grant of Laravel's redis broadcaster, which
	// answers {"channel_data":{...}}) it is never "".
	ChannelData string
}

// ParseAuthAnswer reads an app's answer to a channel authorisation request
// that is a JSON object. A signed one, {"auth":"key:sig"[,"channel_data":"..."]},
// is read as pusher-js's JSON.parse reads it (pusher-js's
// ChannelAuthorizationData; the last of a repeated key wins). An unsigned
// one is a presence grant, {"channel_data":...}, whose channel_data is an
// object (compacted: its keys, their order and its number literals kept) or
// a string holding one (taken as it is); with a key twice it is refused,
// since which one counts would be a guess. ok is false for a body that is
// not a JSON object and for an unsigned answer that is not such a grant.
// The member the channel_data describes is not checked (ParseChannelData
// does that).
func ParseAuthAnswer(body []byte) (a AuthAnswer, ok bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return AuthAnswer{}, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return AuthAnswer{}, false
	}
	if rawAuth, signed := m["auth"]; signed {
		a.Signed = true
		if json.Unmarshal(rawAuth, &a.Auth) != nil {
			a.Auth = ""
		}
		if rawCD, has := m["channel_data"]; has && json.Unmarshal(rawCD, &a.ChannelData) != nil {
			a.Auth, a.ChannelData = "", ""
		}
		return a, true
	}
	if hasDuplicateKeys(body) {
		return AuthAnswer{}, false
	}
	raw := bytes.TrimSpace(m["channel_data"])
	if len(raw) == 0 {
		return AuthAnswer{}, false
	}
	switch raw[0] {
	case '{':
		var b bytes.Buffer
		if json.Compact(&b, raw) != nil {
			return AuthAnswer{}, false
		}
		a.ChannelData = b.String()
	case '"':
		if json.Unmarshal(raw, &a.ChannelData) != nil {
			return AuthAnswer{}, false
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(a.ChannelData), &obj) != nil || obj == nil {
			return AuthAnswer{}, false
		}
	default:
		return AuthAnswer{}, false
	}
	return a, true
}

// hasDuplicateKeys reports whether the top-level JSON object b has a key
// twice, or is not one.
func hasDuplicateKeys(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return true
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return true
		}
		k, _ := tok.(string)
		if seen[k] {
			return true
		}
		seen[k] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return true
		}
	}
	return false
}
