package pusher

import (
	"regexp"
	"strings"
	"testing"
)

func TestChannelNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		valid bool
		kind  Kind
	}{
		{"public", true, KindPublic},
		{"private-record.flow.1", true, KindPrivate},
		{"presence-room.1", true, KindPresence},
		{"private-encrypted-x", true, KindPrivateEncrypted},
		{"a-zA-Z0-9_=@,.;", true, KindPublic},
		{"", false, KindPublic},
		{"has space", false, KindPublic},
		{"slash/no", false, KindPublic},
		{"ünïcode", false, KindPublic},
		{"quote\"", false, KindPublic},
		{strings.Repeat("a", 200), true, KindPublic},
		{strings.Repeat("a", 201), false, KindPublic},
		{"private-", true, KindPrivate},
		{"privatex", true, KindPublic},
		{"presence", true, KindPublic},
		{"private-encrypted", true, KindPrivate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidChannelName(tt.name); got != tt.valid {
				t.Errorf("ValidChannelName = %v, want %v", got, tt.valid)
			}
			if got := KindOf(tt.name); got != tt.kind {
				t.Errorf("KindOf = %v, want %v", got, tt.kind)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	for k, want := range map[Kind]string{KindPublic: "public", KindPrivate: "private", KindPresence: "presence",
		KindPrivateEncrypted: "private-encrypted", Kind(9): "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

func TestValidSocketID(t *testing.T) {
	t.Parallel()
	maxID := "18446744073709551615.18446744073709551615"
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"1234.1234", true},
		{"0.0", true},
		{"4294967295.4294967295", true}, // the hub's: two uint32s
		{maxID, true},                   // two uint64s: 41 characters
		{maxID + "0", false},
		{"0" + maxID, false},
		{"", false},
		{".", false},
		{"1.", false},
		{".1", false},
		{"1", false},
		{"1.2.3", false},
		{"1..2", false},
		{"-1.2", false},
		{"1.2 ", false},
		{" 1.2", false},
		{"1.2\n", false},
		{"a.b", false},
		{"１.２", false}, // fullwidth digits are not \d in PCRE without /u
	} {
		if got := ValidSocketID(tt.in); got != tt.want {
			t.Errorf("ValidSocketID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzChannelName checks the channel name and socket id validators against
// the regular expressions of pusher-http-php, and KindOf against the
// prefixes: no panics, the same answers.
func FuzzChannelName(f *testing.F) {
	for _, s := range []string{"private-foobar", "presence-x", "private-encrypted-x", "", "a b", "1234.1234", "1.", "9" + strings.Repeat("9", 40)} {
		f.Add(s)
	}
	nameRE := regexp.MustCompile(`\A[-a-zA-Z0-9_=@,.;]+\z`)
	socketRE := regexp.MustCompile(`\A[0-9]+\.[0-9]+\z`)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidChannelName(s), nameRE.MatchString(s) && len(s) <= MaxChannelNameLength; got != want {
			t.Fatalf("ValidChannelName(%q) = %v, want %v", s, got, want)
		}
		if got, want := ValidSocketID(s), socketRE.MatchString(s) && len(s) <= MaxSocketIDLength; got != want {
			t.Fatalf("ValidSocketID(%q) = %v, want %v", s, got, want)
		}
		var want Kind
		switch {
		case strings.HasPrefix(s, "private-encrypted-"):
			want = KindPrivateEncrypted
		case strings.HasPrefix(s, "private-"):
			want = KindPrivate
		case strings.HasPrefix(s, "presence-"):
			want = KindPresence
		}
		if got := KindOf(s); got != want {
			t.Fatalf("KindOf(%q) = %v, want %v", s, got, want)
		}
	})
}
