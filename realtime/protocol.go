package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/recordsync/recordsync/pusher"

	"github.com/recordsync/recordsync/versioncache"
)

// Pusher error and close codes used by the hub (the Pusher protocol docs, "Error
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

// dataObject decodes the data of a client message that must be an object:
// pusher-js sends an object; a JSON string holding one (double encoded, as
// some clients do) is accepted too. The error is errBadData.
func dataObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errBadData
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errBadData
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errBadData
	}
	return m, nil
}

// parseSubscribeData decodes the data object of pusher:subscribe and
// pusher:unsubscribe. pusher-js sends an object; a JSON string holding an
// object (double encoded, as some clients do) is accepted too.
func parseSubscribeData(raw json.RawMessage) (subscribeData, error) {
	var d subscribeData
	m, err := dataObject(raw)
	if err != nil {
		return d, err
	}
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

// appendEventFrame appends the server frame
// {"event":event,"channel":channel,"data":"<data as a JSON string>"}; an empty
// channel is left out. data is the JSON text of the payload: pusher-js
// expects it double encoded and JSON.parses it back.
func appendEventFrame(b []byte, event, channel string, data []byte) []byte {
	b = append(b, `{"event":`...)
	b = pusher.AppendJSONString(b, event)
	if channel != "" {
		b = append(b, `,"channel":`...)
		b = pusher.AppendJSONString(b, channel)
	}
	b = append(b, `,"data":`...)
	if len(data) == 0 {
		data = []byte("{}")
	}
	b = pusher.AppendJSONString(b, string(data))
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
	// The same as whole websocket frames (wsText).
	wirePong = wsText(framePong)
	wirePing = wsText(framePing)
)

func handshakeFrame(socketID string, activityTimeoutSec int) []byte {
	data := make([]byte, 0, 64)
	data = append(data, `{"socket_id":`...)
	data = pusher.AppendJSONString(data, socketID)
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
	data = pusher.AppendJSONString(data, message)
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
	data = pusher.AppendJSONString(data, typ)
	data = append(data, `,"error":`...)
	data = pusher.AppendJSONString(data, msg)
	data = append(data, `,"status":`...)
	data = strconv.AppendInt(data, int64(status), 10)
	data = append(data, '}')
	if len(channel) > pusher.MaxChannelNameLength {
		channel = versioncache.TruncateUTF8(channel, pusher.MaxChannelNameLength)
	}
	return eventFrame("pusher:subscription_error", channel, data)
}

// quoteForMsg renders a client-supplied value for an error message, bounded.
func quoteForMsg(s string) string {
	return fmt.Sprintf("%q", versioncache.TruncateUTF8(s, 64))
}
