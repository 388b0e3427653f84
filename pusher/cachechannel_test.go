package pusher

import "testing"

func TestIsCacheChannel(t *testing.T) {
	for name, want := range map[string]bool{
		"cache-scores":                   true,
		"private-cache-scores":           true,
		"presence-cache-room":            true,
		"private-encrypted-cache-scores": true,
		"scores":                         false,
		"private-scores":                 false,
		"presence-room":                  false,
		"private-encrypted-scores":       false,
		"cache":                          false,
		"cached-scores":                  false,
		"public-cache-scores":            false,
		"#server-to-user-cache-1":        false,
	} {
		if got := IsCacheChannel(name); got != want {
			t.Errorf("IsCacheChannel(%q) = %v, want %v", name, got, want)
		}
	}
	// The cache prefix keeps the kind.
	for name, kind := range map[string]Kind{
		"cache-x": KindPublic, "private-cache-x": KindPrivate, "presence-cache-x": KindPresence,
		"private-encrypted-cache-x": KindPrivateEncrypted,
	} {
		if KindOf(name) != kind {
			t.Errorf("KindOf(%q) = %v, want %v", name, KindOf(name), kind)
		}
	}
}
