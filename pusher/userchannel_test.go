package pusher

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestUserChannel(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   string
		ok   bool
	}{
		{"#server-to-user-2", "2", true},
		{"#server-to-user-a1b2-c3", "a1b2-c3", true},
		{"#server-to-user-ann@example.com", "ann@example.com", true},
		{"#server-to-user-Zoë", "Zoë", true},
		{"#server-to-user-" + strings.Repeat("x", MaxUserIDLength), strings.Repeat("x", MaxUserIDLength), true},
		{"#server-to-user-" + strings.Repeat("x", MaxUserIDLength+1), "", false},
		{"#server-to-user-", "", false},
		{"#server-to-user-a\nb", "", false},
		{"#server-to-user-a\x7fb", "", false},
		{"#server-to-user-a\u0085b", "", false},
		{"#server-to-user-\xff", "", false},
		{"server-to-user-2", "", false},
		{"#server-to-users-2", "", false},
		{"private-server-to-user-2", "", false},
		{"#other-2", "", false},
	} {
		id, ok := UserOfChannel(tc.name)
		if id != tc.id || ok != tc.ok {
			t.Errorf("UserOfChannel(%q) = %q, %v; want %q, %v", tc.name, id, ok, tc.id, tc.ok)
		}
		if ok && UserChannel(id) != tc.name {
			t.Errorf("UserChannel(%q) = %q, want %q", id, UserChannel(id), tc.name)
		}
		if ok && ValidChannelName(tc.name) {
			t.Errorf("%q is also an ordinary channel name", tc.name)
		}
	}
}

// FuzzUserOfChannel: a channel name from a client or the HTTP API never
// panics, and what it accepts round-trips and is a user id.
func FuzzUserOfChannel(f *testing.F) {
	for _, s := range []string{"#server-to-user-1", "#server-to-user-", "#server-to-user-\x00", "private-x", "#server-to-user-Zoë"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		id, ok := UserOfChannel(name)
		if !ok {
			if id != "" {
				t.Fatalf("refused %q with id %q", name, id)
			}
			return
		}
		if UserChannel(id) != name || !ValidUserID(id) || !utf8.ValidString(id) || len(id) > MaxUserIDLength {
			t.Fatalf("accepted %q as %q", name, id)
		}
		if ValidChannelName(name) {
			t.Fatalf("%q is both a user channel and an ordinary one", name)
		}
	})
}
