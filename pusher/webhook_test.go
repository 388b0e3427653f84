package pusher

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestWebhookBody: the events carry the fields Pusher documents for their
// name, client data as a JSON string, and the tenant under the signature.
func TestWebhookBody(t *testing.T) {
	body := WebhookBody(1700000000123, "shop.example", []WebhookEvent{
		{Name: WebhookChannelOccupied, Channel: "private-a", UserID: "ignored", SocketID: "ignored"},
		{Name: WebhookChannelVacated, Channel: "private-a"},
		{Name: WebhookMemberAdded, Channel: "presence-r", UserID: "7", Event: "ignored"},
		{Name: WebhookMemberRemoved, Channel: "presence-r", UserID: "7"},
		{Name: WebhookClientEvent, Channel: "presence-r", Event: "client-typing", Data: []byte(`{"t":"a\"b"}`), SocketID: "1.2", UserID: "7"},
		{Name: WebhookClientEvent, Channel: "private-a", Event: "client-x", SocketID: "3.4"},
	})
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	want := map[string]any{
		"time_ms": float64(1700000000123),
		"tenant":  "shop.example",
		"events": []any{
			map[string]any{"name": "channel_occupied", "channel": "private-a"},
			map[string]any{"name": "channel_vacated", "channel": "private-a"},
			map[string]any{"name": "member_added", "channel": "presence-r", "user_id": "7"},
			map[string]any{"name": "member_removed", "channel": "presence-r", "user_id": "7"},
			map[string]any{"name": "client_event", "channel": "presence-r", "event": "client-typing", "data": `{"t":"a\"b"}`, "socket_id": "1.2", "user_id": "7"},
			map[string]any{"name": "client_event", "channel": "private-a", "event": "client-x", "data": `{}`, "socket_id": "3.4"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("body %s\ngot  %v\nwant %v", body, got, want)
	}
	if b := WebhookBody(5, "", nil); string(b) != `{"time_ms":5,"events":[]}` {
		t.Fatalf("untenanted empty body %s", b)
	}
}

// TestWebhookSignature: the signature is the hex HMAC-SHA256 of the body
// (the value below is from openssl: printf '%s' '{"time_ms":1,"events":[]}' |
// openssl dgst -sha256 -hmac secret); a changed body, key or secret fails.
func TestWebhookSignature(t *testing.T) {
	body := []byte(`{"time_ms":1,"events":[]}`)
	const want = "7f7f57446968d787e73e1325b85147edc7991af069e8fffdc6a4e6fcc288693c"
	sig := WebhookSignature("secret", body)
	if sig != want {
		t.Fatalf("signature %q, want %q", sig, want)
	}
	if !VerifyWebhook("key", "secret", "key", sig, body) {
		t.Fatal("own signature refused")
	}
	for name, ok := range map[string]bool{
		"other key":    VerifyWebhook("key", "secret", "other", sig, body),
		"other secret": VerifyWebhook("key", "other", "key", sig, body),
		"other body":   VerifyWebhook("key", "secret", "key", sig, []byte(`{"time_ms":2,"events":[]}`)),
		"empty sig":    VerifyWebhook("key", "secret", "key", "", body),
	} {
		if ok {
			t.Errorf("%s accepted", name)
		}
	}
}
