package realtime

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Pusher error and close codes used by the hub (pusher-protocol.md, "Error
// codes"). pusher-js decides from the close code whether to reconnect:
// 4000–4099 never, 4100–4199 after a backoff, 4200–4299 at once.
const (
	// CodeAppNotFound: the app key in the URL is not the configured one.
	CodeAppNotFound = 4001
	// CodeOverQuota: the tenant already has MaxConnsPerTenant sockets.
	CodeOverQuota = 4004
	// CodePathNotFound: a path under WSPath that is not /app/{key}.
	CodePathNotFound = 4005
	// CodeUnsupportedProtocol: the client asked for protocol < 5.
	CodeUnsupportedProtocol = 4007
	// CodeOverCapacity: the socket's send queue overflowed (slow consumer).
	CodeOverCapacity = 4100
	// CodeReconnect: generic "reconnect now": server shutdown, and the code of
	// every non-fatal pusher:error about a bad inbound message (as Reverb).
	CodeReconnect = 4200
	// CodePongTimeout: the socket stayed silent after a server ping.
	CodePongTimeout = 4201
	// CodeClientEvents: client events are not enabled (Reverb's answer).
	CodeClientEvents = 4301
)

// MaxChannelNameLength is the longest channel name accepted (pusher-http-php).
const MaxChannelNameLength = 200

// channelKind is what a channel's name prefix makes of it. New kinds
// (presence, encrypted) plug in at the switch in conn.subscribe.
type channelKind int

const (
	kindPublic channelKind = iota
	kindPrivate
	kindPresence
	kindPrivateEncrypted
)

func (k channelKind) String() string {
	switch k {
	case kindPublic:
		return "public"
	case kindPrivate:
		return "private"
	case kindPresence:
		return "presence"
	case kindPrivateEncrypted:
		return "private-encrypted"
	default:
		return "channelKind(" + strconv.Itoa(int(k)) + ")"
	}
}

// kindOf classifies a channel by its prefix. "private-encrypted-" is tested
// before "private-", which it extends.
func kindOf(name string) channelKind {
	switch {
	case strings.HasPrefix(name, "private-encrypted-"):
		return kindPrivateEncrypted
	case strings.HasPrefix(name, "private-"):
		return kindPrivate
	case strings.HasPrefix(name, "presence-"):
		return kindPresence
	default:
		return kindPublic
	}
}

// channelNameChars is the set ^[-a-zA-Z0-9_=@,.;]+$ of pusher-http-php.
var channelNameChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-_=@,.;" {
		t[c] = true
	}
	return t
}()

// validChannelName reports whether name is a legal Pusher channel name:
// 1–200 characters of [-a-zA-Z0-9_=@,.;].
func validChannelName(name string) bool {
	if name == "" || len(name) > MaxChannelNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !channelNameChars[name[i]] {
			return false
		}
	}
	return true
}

// ChannelAuth is the auth string that subscribes socketID to a private
// channel (channelData "") or a presence channel (channelData the exact
// JSON string sent along): "key:" + hex HMAC-SHA256 of
// socketID:channel[:channelData] under secret. It is what an app's
// /broadcasting/auth answers and what the hub checks; clients of the hub
// outside this package (tests, load generators) sign with it.
func ChannelAuth(key, secret, socketID, channel, channelData string) string {
	return key + ":" + sign(secret, socketID, channel, channelData)
}

// sign returns the lowercase hex HMAC-SHA256 of socketID:channel (private
// channels) or socketID:channel:channelData (presence, channelData != "")
// under secret (pusher docs, auth-signatures.md).
func sign(secret, socketID, channel, channelData string) string {
	return hex.EncodeToString(signatureMAC(secret, socketID, channel, channelData))
}

func signatureMAC(secret, socketID, channel, channelData string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(socketID))
	mac.Write([]byte{':'})
	mac.Write([]byte(channel))
	if channelData != "" {
		mac.Write([]byte{':'})
		mac.Write([]byte(channelData))
	}
	return mac.Sum(nil)
}

// Auth errors; their text reaches the client in pusher:subscription_error.
var (
	errAuthMissing = errors.New("missing auth signature")
	errAuthFormat  = errors.New(`auth must be "key:signature"`)
	errAuthKey     = errors.New("auth signed for another app key")
	errAuthInvalid = errors.New("invalid signature")
)

// verifyAuth checks a private-channel auth string "key:hexsig" against the
// app credentials in constant time (hmac.Equal on the decoded MAC).
func verifyAuth(key, secret, socketID, channel, channelData, auth string) error {
	if auth == "" {
		return errAuthMissing
	}
	k, sig, ok := strings.Cut(auth, ":")
	if !ok {
		return errAuthFormat
	}
	if !hmac.Equal([]byte(k), []byte(key)) {
		return errAuthKey
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return errAuthInvalid
	}
	if !hmac.Equal(signatureMAC(secret, socketID, channel, channelData), got) {
		return errAuthInvalid
	}
	return nil
}

// clientFrame is one message from a client: {"event","channel","data"}.
type clientFrame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// Frame parse errors; their text reaches the client in pusher:error 4200.
var (
	errMalformed   = errors.New("malformed JSON")
	errNoEvent     = errors.New(`missing "event"`)
	errBadData     = errors.New(`"data" must be an object`)
	errBadChannel  = errors.New(`"channel" must be a string`)
	errBadAuth     = errors.New(`"auth" must be a string`)
	errBadChanData = errors.New(`"channel_data" must be a string`)
	errBadSince    = errors.New(`"since" must be a string or a number`)
)

// parseClientFrame decodes one text message. It never panics; any error is
// one of the err* values above.
func parseClientFrame(b []byte) (clientFrame, error) {
	var f clientFrame
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return f, errMalformed
	}
	if err := json.Unmarshal(b, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "event" {
			return f, errNoEvent
		}
		if errors.As(err, &te) && te.Field == "channel" {
			return f, errBadChannel
		}
		return f, errMalformed
	}
	if f.Event == "" {
		return f, errNoEvent
	}
	return f, nil
}

// subscribeData is the data of pusher:subscribe / pusher:unsubscribe.
type subscribeData struct {
	Channel     string
	Auth        string
	ChannelData string
	// Since is the recordsync extension: the version the client rendered.
	Since string
}

// parseSubscribeData decodes the data object of pusher:subscribe and
// pusher:unsubscribe. pusher-js sends an object; a JSON string holding an
// object (double encoded, as some clients do) is accepted too.
func parseSubscribeData(raw json.RawMessage) (subscribeData, error) {
	var d subscribeData
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return d, errBadData
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return d, errBadData
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return d, errBadData
	}
	var err error
	if d.Channel, err = optString(m["channel"]); err != nil {
		return d, errBadChannel
	}
	if d.Auth, err = optString(m["auth"]); err != nil {
		return d, errBadAuth
	}
	if d.ChannelData, err = optString(m["channel_data"]); err != nil {
		return d, errBadChanData
	}
	if v := bytes.TrimSpace(m["since"]); len(v) > 0 && v[0] != '"' && !bytes.Equal(v, []byte("null")) {
		// A number: keep its literal text (lock_version columns).
		var n json.Number
		if json.Unmarshal(v, &n) != nil {
			return d, errBadSince
		}
		d.Since = n.String()
	} else if d.Since, err = optString(v); err != nil {
		return d, errBadSince
	}
	return d, nil
}

// optString decodes an optional JSON string; absent or null is "".
func optString(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return "", nil
	}
	if v[0] != '"' {
		return "", errBadData
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", err
	}
	return s, nil
}

// appendJSONString appends s as a JSON string literal. Invalid UTF-8 becomes
// U+FFFD (as encoding/json); U+2028/2029 are escaped so that the text is also
// valid JavaScript.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendEventFrame appends the server frame
// {"event":event,"channel":channel,"data":"<data as a JSON string>"}; an empty
// channel is left out. data is the JSON text of the payload: pusher-js
// expects it double encoded and JSON.parses it back.
func appendEventFrame(b []byte, event, channel string, data []byte) []byte {
	b = append(b, `{"event":`...)
	b = appendJSONString(b, event)
	if channel != "" {
		b = append(b, `,"channel":`...)
		b = appendJSONString(b, channel)
	}
	b = append(b, `,"data":`...)
	if len(data) == 0 {
		data = []byte("{}")
	}
	b = appendJSONString(b, string(data))
	return append(b, '}')
}

// eventFrame builds one server frame.
func eventFrame(event, channel string, data []byte) []byte {
	return appendEventFrame(make([]byte, 0, 48+len(event)+len(channel)+len(data)*11/10), event, channel, data)
}

// Frames that never change.
var (
	framePong = []byte(`{"event":"pusher:pong","data":"{}"}`)
	framePing = []byte(`{"event":"pusher:ping","data":"{}"}`)
)

func handshakeFrame(socketID string, activityTimeoutSec int) []byte {
	data := make([]byte, 0, 64)
	data = append(data, `{"socket_id":`...)
	data = appendJSONString(data, socketID)
	data = append(data, `,"activity_timeout":`...)
	data = strconv.AppendInt(data, int64(activityTimeoutSec), 10)
	data = append(data, '}')
	return eventFrame("pusher:connection_established", "", data)
}

// errorFrame is pusher:error with data {"code":N,"message":"..."} (encoded as
// a JSON string, as Reverb does; pusher-js accepts both forms).
func errorFrame(code int, message string) []byte {
	data := make([]byte, 0, 32+len(message))
	data = append(data, `{"code":`...)
	data = strconv.AppendInt(data, int64(code), 10)
	data = append(data, `,"message":`...)
	data = appendJSONString(data, message)
	data = append(data, '}')
	return eventFrame("pusher:error", "", data)
}

func subscriptionSucceededFrame(channel string) []byte {
	return eventFrame("pusher_internal:subscription_succeeded", channel, []byte("{}"))
}

// Subscription error types (the "type" of pusher:subscription_error data).
const (
	subErrAuth        = "AuthError"          // status 401
	subErrInvalid     = "InvalidChannel"     // status 400
	subErrLimit       = "LimitReached"       // status 429
	subErrUnsupported = "UnsupportedChannel" // status 501
)

// subscriptionErrorFrame is what soketi sends and Echo's .error() receives:
// {"event":"pusher:subscription_error","channel":c,"data":"{\"type\":...,\"error\":...,\"status\":N}"}.
func subscriptionErrorFrame(channel, typ, msg string, status int) []byte {
	data := make([]byte, 0, 48+len(msg))
	data = append(data, `{"type":`...)
	data = appendJSONString(data, typ)
	data = append(data, `,"error":`...)
	data = appendJSONString(data, msg)
	data = append(data, `,"status":`...)
	data = strconv.AppendInt(data, int64(status), 10)
	data = append(data, '}')
	if len(channel) > MaxChannelNameLength {
		channel = truncateUTF8(channel, MaxChannelNameLength)
	}
	return eventFrame("pusher:subscription_error", channel, data)
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// quoteForMsg renders a client-supplied value for an error message, bounded.
func quoteForMsg(s string) string {
	return fmt.Sprintf("%q", truncateUTF8(s, 64))
}
