package pusher

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
)

// User authentication (the Pusher docs, "User authentication"): a socket
// signs in with pusher:signin {auth, user_data}, where user_data is a JSON
// object with an "id" and auth is key + ":" + the lowercase hex HMAC-SHA256
// of "socket_id::user::user_data" under the app secret
// (pusher-http-php's Pusher::authenticateUser; Laravel's
// PusherBroadcaster::resolveAuthenticatedUser, which answers
// /broadcasting/user-auth with {"auth":..,"user_data":..}).

// MaxUserDataBytes bounds a sign-in's user_data.
const MaxUserDataBytes = 10000

// ErrUserData: user_data is not a JSON object with an "id" that is a
// non-empty string or a number of at most MaxUserIDLength characters, or it
// is longer than MaxUserDataBytes, or it has a key twice.
var ErrUserData = errors.New(`user_data must be a JSON object with an "id" (a non-empty string or a number of at most 128 characters)`)

// UserAuth is the auth string that signs socketID in with userData, the
// exact JSON string sent along.
func UserAuth(key, secret, socketID, userData string) string {
	return key + ":" + hex.EncodeToString(userMAC(secret, socketID, userData))
}

func userMAC(secret, socketID, userData string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(socketID))
	mac.Write([]byte("::user::"))
	mac.Write([]byte(userData))
	return mac.Sum(nil)
}

// VerifyUserAuth checks a sign-in's auth "key:hexsig" as VerifyChannelAuth
// checks a subscription's; the error is one of the ErrAuth* values.
func VerifyUserAuth(key, secret, socketID, userData, auth string) error {
	if auth == "" {
		return ErrAuthMissing
	}
	k, sig, ok := strings.Cut(auth, ":")
	if !ok {
		return ErrAuthFormat
	}
	if !hmac.Equal([]byte(k), []byte(key)) {
		return ErrAuthKey
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size || !hmac.Equal(userMAC(secret, socketID, userData), got) {
		return ErrAuthInvalid
	}
	return nil
}

// ParseUserData reads a sign-in's user_data and returns its id (a string,
// or a number's literal text); the error is ErrUserData.
func ParseUserData(s string) (id string, err error) {
	if len(s) > MaxUserDataBytes || hasDuplicateKeys([]byte(s)) {
		return "", ErrUserData
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &m) != nil || m == nil {
		return "", ErrUserData
	}
	raw := bytes.TrimSpace(m["id"])
	switch {
	case len(raw) > 0 && raw[0] == '"':
		if json.Unmarshal(raw, &id) != nil {
			return "", ErrUserData
		}
	case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", ErrUserData
		}
		id = n.String()
	}
	if id == "" || len(id) > MaxUserIDLength {
		return "", ErrUserData
	}
	return id, nil
}

// UserAuthAnswer is an app's answer to a user authentication request
// (/broadcasting/user-auth) that is a JSON object.
type UserAuthAnswer struct {
	// Signed: the answer has an "auth" member (the pusher and reverb
	// broadcasters signed it).
	Signed bool
	// Auth is a signed answer's "auth"; "" when it or user_data is not a
	// string.
	Auth string
	// UserData is the exact user_data string that is signed and that
	// pusher-js sends with pusher:signin: a signed answer's user_data as
	// it is; for an unsigned answer — the user's info itself, as
	// Laravel's base Broadcaster::resolveAuthenticatedUser returns it for
	// the redis broadcaster — the answer compacted (its keys, their order
	// and its number literals kept).
	UserData string
}

// ParseUserAuthAnswer reads an app's user authentication answer. A signed
// one is read as pusher-js's JSON.parse reads it; an unsigned one must be a
// user_data ParseUserData accepts. ok is false for anything else.
func ParseUserAuthAnswer(body []byte) (a UserAuthAnswer, ok bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return UserAuthAnswer{}, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return UserAuthAnswer{}, false
	}
	if rawAuth, signed := m["auth"]; signed {
		a.Signed = true
		if json.Unmarshal(rawAuth, &a.Auth) != nil || json.Unmarshal(m["user_data"], &a.UserData) != nil {
			a.Auth, a.UserData = "", ""
		}
		return a, true
	}
	var b bytes.Buffer
	if json.Compact(&b, body) != nil {
		return UserAuthAnswer{}, false
	}
	a.UserData = b.String()
	if _, err := ParseUserData(a.UserData); err != nil {
		return UserAuthAnswer{}, false
	}
	return a, true
}
