package pusher

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`quote " back \ slash`, `"quote \" back \\ slash"`},
		{"ctl \x00\x01\x1f\n\r\t\x7f", `"ctl \u0000\u0001\u001f\n\r\t` + "\x7f" + `"`},
		{"ünï €", `"ünï €"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"bad \xff\xfe utf8", `"bad \ufffd\ufffd utf8"`},
		{"<script>&", `"<script>&"`},
	} {
		got := string(AppendJSONString([]byte("x"), tt.in))
		if got != "x"+tt.want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", tt.in, got[1:], tt.want)
		}
		var back string
		if err := json.Unmarshal([]byte(got[1:]), &back); err != nil {
			t.Fatalf("%q: invalid JSON %s: %v", tt.in, got[1:], err)
		}
		// encoding/json replaces each invalid byte, as AppendJSONString does.
		want := strings.ReplaceAll(strings.ReplaceAll(tt.in, "\xff", "\uFFFD"), "\xfe", "\uFFFD")
		if back != want {
			t.Fatalf("round trip of %q = %q", tt.in, back)
		}
	}
}

// FuzzJSONString checks the hand-written encoder against encoding/json:
// the output always decodes, to the input when it is valid UTF-8, and has
// no raw U+2028/U+2029 (JavaScript line terminators).
func FuzzJSONString(f *testing.F) {
	f.Add("plain")
	f.Add("\x00\"\\\u2028\xff\n")
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q → %s: %v", s, b, err)
		}
		if strings.ToValidUTF8(s, "") == s && back != s {
			t.Fatalf("valid UTF-8 %q came back as %q", s, back)
		}
		if strings.ContainsAny(string(b), "\u2028\u2029") {
			t.Fatalf("%q → %s: a raw line separator", s, b)
		}
	})
}
