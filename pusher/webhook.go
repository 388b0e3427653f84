package pusher

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Webhooks, as Pusher Channels sends them (https://pusher.com/docs/channels/server_api/webhooks/):
// a POST whose body is {"time_ms":<unix ms>,"events":[...]} with
// Content-Type exactly "application/json" (pusher-http-node's WebHook
// refuses any other, even with a charset), X-Pusher-Key (the app key) and
// X-Pusher-Signature (hex HMAC-SHA256 of the body under the app secret).

// Names of webhook events (WebhookEvent.Name).
const (
	WebhookChannelOccupied = "channel_occupied"
	WebhookChannelVacated  = "channel_vacated"
	WebhookMemberAdded     = "member_added"
	WebhookMemberRemoved   = "member_removed"
	WebhookClientEvent     = "client_event"
)

// Headers and content type of a webhook request.
const (
	WebhookKeyHeader       = "X-Pusher-Key"
	WebhookSignatureHeader = "X-Pusher-Signature"
	WebhookContentType     = "application/json"
)

// WebhookEvent is one event of a webhook. Which fields are set depends on
// Name: channel_occupied and channel_vacated carry the channel;
// member_added and member_removed the channel and user_id; client_event
// the channel, event, data (the client's data as a JSON string, as Pusher
// sends it), socket_id and, on presence channels, user_id.
type WebhookEvent struct {
	Name     string
	Channel  string
	UserID   string
	Event    string
	Data     []byte // JSON text; rendered as a string
	SocketID string
}

// AppendJSON appends e as a JSON object, with only the fields its Name
// carries.
func (e WebhookEvent) AppendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = AppendJSONString(b, e.Name)
	b = append(b, `,"channel":`...)
	b = AppendJSONString(b, e.Channel)
	switch e.Name {
	case WebhookMemberAdded, WebhookMemberRemoved:
		b = append(b, `,"user_id":`...)
		b = AppendJSONString(b, e.UserID)
	case WebhookClientEvent:
		b = append(b, `,"event":`...)
		b = AppendJSONString(b, e.Event)
		b = append(b, `,"data":`...)
		data := e.Data
		if len(data) == 0 {
			data = []byte("{}")
		}
		b = AppendJSONString(b, string(data))
		b = append(b, `,"socket_id":`...)
		b = AppendJSONString(b, e.SocketID)
		if e.UserID != "" {
			b = append(b, `,"user_id":`...)
			b = AppendJSONString(b, e.UserID)
		}
	}
	return append(b, '}')
}

// WebhookBody renders {"time_ms":timeMS,"events":[...]} and, when tenant
// is set, "tenant":tenant after them: recordsync's one addition to
// Pusher's format, under the signature, so that a body says which tenant
// its events are of (Pusher has one app per webhook; here one app serves
// many tenants).
func WebhookBody(timeMS int64, tenant string, events []WebhookEvent) []byte {
	b := make([]byte, 0, 64+len(events)*96)
	b = append(b, `{"time_ms":`...)
	b = strconv.AppendInt(b, timeMS, 10)
	b = append(b, `,"events":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.AppendJSON(b)
	}
	b = append(b, ']')
	if tenant != "" {
		b = append(b, `,"tenant":`...)
		b = AppendJSONString(b, tenant)
	}
	return append(b, '}')
}

// WebhookSignature is the X-Pusher-Signature of body: the hex HMAC-SHA256
// of the body under the app secret.
func WebhookSignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook reports whether a webhook's X-Pusher-Key and
// X-Pusher-Signature are those of key and secret for body, comparing the
// signature in constant time (what the Pusher server SDKs check).
func VerifyWebhook(key, secret, gotKey, gotSignature string, body []byte) bool {
	if gotKey != key {
		return false
	}
	want := WebhookSignature(secret, body)
	return hmac.Equal([]byte(want), []byte(gotSignature))
}
