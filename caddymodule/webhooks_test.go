package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestUnmarshalCaddyfileWebhooks: webhooks blocks (repeatable) read into
// their JSON, and onto the hub's webhook options with the placeholders of
// their URLs evaluated and {tenant} kept.
func TestUnmarshalCaddyfileWebhooks(t *testing.T) {
	t.Setenv("RS_HOOK", "http://127.0.0.1:8080")
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`recordsync {
		tenant {host}
		app_key k
		app_secret s
		webhooks {env.RS_HOOK}/pusher/{tenant} https://audit.example/hooks {
			events channel_occupied channel_vacated
			host {tenant}
			batch 1s
			retry_for 1m
		}
		webhooks {
			url http://127.0.0.1:9/ce
			events client_event member_added member_removed
			queue 50
			max_events 10
			timeout 2s
			batch 100ms
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h.Webhooks)
	want := `[{"urls":["{env.RS_HOOK}/pusher/{tenant}","https://audit.example/hooks"],"events":["channel_occupied","channel_vacated"],"host":"{tenant}","batch":1000000000,"retry_for":60000000000},` +
		`{"urls":["http://127.0.0.1:9/ce"],"events":["client_event","member_added","member_removed"],"batch":100000000,"max_events":10,"queue":50,"timeout":2000000000}]`
	if string(got) != want {
		t.Fatalf("parsed\n%s\nwant\n%s", got, want)
	}
	// The JSON reads back the same (strictly).
	var again Handler
	b, _ := json.Marshal(h)
	if err := again.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if b2, _ := json.Marshal(again); string(b2) != string(b) {
		t.Fatalf("JSON round trip\n%s\n%s", b, b2)
	}

	o, err := h.webhookOptions()
	if err != nil {
		t.Fatal(err)
	}
	if o.AppKey != "k" || o.AppSecret != "s" || o.Batch != 100*time.Millisecond || len(o.Targets) != 3 {
		t.Fatalf("options %+v", o)
	}
	first, third := o.Targets[0], o.Targets[2]
	if first.URL != "http://127.0.0.1:8080/pusher/{tenant}" || first.Host != "{tenant}" || first.RetryFor != time.Minute ||
		strings.Join(first.Events, " ") != "channel_occupied channel_vacated" {
		t.Errorf("first target %+v", first)
	}
	if third.URL != "http://127.0.0.1:9/ce" || third.Queue != 50 || third.MaxEvents != 10 || third.Timeout != 2*time.Second {
		t.Errorf("third target %+v", third)
	}
}

func TestWebhooksConfigErrors(t *testing.T) {
	for _, tc := range []struct{ input, want string }{
		{"recordsync {\n\twebhooks http://x/\n}", "needs its events"},
		{"recordsync {\n\twebhooks {\n\t\tevents client_event\n\t}\n}", "at least one URL"},
		{"recordsync {\n\twebhooks http://x/ {\n\t\tevents client_event cache_miss\n\t}\n}", `unknown event "cache_miss"`},
		{"recordsync {\n\twebhooks http://x/ {\n\t\tevents client_event\n\t\tevents channel_vacated\n\t}\n}", `duplicate "events"`},
		{"recordsync {\n\twebhooks http://x/ {\n\t\tevents client_event\n\t\tsecret x\n\t}\n}", `unrecognized webhooks subdirective "secret"`},
		{"recordsync {\n\twebhooks http://x/ {\n\t\tevents\n\t}\n}", "wrong argument count"},
		{"recordsync {\n\twebhooks http://x/ {\n\t\tevents client_event\n\t\tretry_for never\n\t}\n}", "not a positive duration"},
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.input, err, tc.want)
		}
	}
	for name, tc := range map[string]struct {
		h    Handler
		want string
	}{
		"no hub":             {Handler{Webhooks: []WebhookConfig{{URLs: []string{"http://x/"}, Events: []string{"client_event"}}}}, "need the websocket hub"},
		"relative URL":       {Handler{WebSocket: WebSocketConfig{AppKey: "k", AppSecret: "s"}, Webhooks: []WebhookConfig{{URLs: []string{"/hooks"}, Events: []string{"client_event"}}}}, "absolute http"},
		"tenant, untenanted": {Handler{WebSocket: WebSocketConfig{AppKey: "k", AppSecret: "s"}, Webhooks: []WebhookConfig{{URLs: []string{"http://x/{tenant}"}, Events: []string{"client_event"}}}}, "{tenant} needs tenant"},
		"no events (JSON)":   {Handler{WebSocket: WebSocketConfig{AppKey: "k", AppSecret: "s"}, Webhooks: []WebhookConfig{{URLs: []string{"http://x/"}}}}, "needs urls and events"},
	} {
		if _, err := tc.h.webhookOptions(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
	if o, err := (&Handler{}).webhookOptions(); err != nil || len(o.Targets) != 0 {
		t.Errorf("no webhooks: %+v %v", o, err)
	}
	var h Handler
	if err := h.UnmarshalJSON([]byte(`{"webhooks":[{"urls":["http://x/"],"events":["client_event"],"secret":"x"}]}`)); err == nil {
		t.Error("an unknown webhooks key was accepted")
	}
}
