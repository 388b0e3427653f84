package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfilePresenceAndAuth(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`recordsync {
		auth_endpoint /api/broadcasting/auth
		client_events members
		client_event_rate 5
		presence_max_members 50
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if h.AuthEndpoint != "/api/broadcasting/auth" || h.WebSocket.ClientEvents != "members" || h.WebSocket.ClientEventRate != 5 || h.WebSocket.PresenceMaxMembers != 50 {
		t.Fatalf("parsed %+v", h)
	}
	o := h.hubOptions()
	if o.ClientEvents != "members" || o.ClientEventRate != 5 || o.PresenceMaxMembers != 50 {
		t.Fatalf("hub options %+v", o)
	}

	for _, tc := range []struct{ name, input, want string }{
		{"bad client_events", "recordsync {\n\tclient_events all\n}", "client_events must be off or members"},
		{"bad auth_endpoint", "recordsync {\n\tauth_endpoint broadcasting/auth\n}", "auth_endpoint takes paths starting with /"},
		{"bad rate", "recordsync {\n\tclient_event_rate fast\n}", "not a non-negative whole number"},
		{"duplicate", "recordsync {\n\tclient_events off\n\tclient_events members\n}", `duplicate subdirective "client_events"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Testfile:") {
				t.Fatalf("error %v, want %q with the line", err, tc.want)
			}
		})
	}
}
