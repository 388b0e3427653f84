package versioncache

import "testing"

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b string
		want Order
	}{
		{"same string", "2026-01-01T12:00:00.000000Z", "2026-01-01T12:00:00.000000Z", Same},
		{"laravel microseconds newer", "2026-01-01T12:00:00.000002Z", "2026-01-01T12:00:00.000001Z", Newer},
		{"laravel microseconds older", "2026-01-01T12:00:00.000001Z", "2026-01-01T12:00:00.000002Z", Older},
		{"different precision same instant", "2026-01-01T12:00:00Z", "2026-01-01T12:00:00.000000Z", Same},
		{"offset vs Z same instant", "2026-01-01T13:00:00+01:00", "2026-01-01T12:00:00.000000Z", Same},
		{"offset newer", "2026-01-01T13:00:01+01:00", "2026-01-01T12:00:00Z", Newer},
		{"nanoseconds", "2026-01-01T12:00:00.000000001Z", "2026-01-01T12:00:00Z", Newer},
		{"database form", "2026-01-01 12:00:00.5", "2026-01-01T12:00:00.4Z", Newer},
		{"integers", "10", "9", Newer},
		{"integers older", "9", "10", Older},
		{"integer equal with sign", "+7", "7", Same},
		{"negative integers", "-1", "0", Older},
		{"opaque different", "abc", "abd", Different},
		{"time vs integer", "2026-01-01T12:00:00Z", "5", Different},
		{"empty vs value", "", "1", Different},
		{"bad date stays opaque", "2026-13-01T12:00:00Z", "2026-12-01T12:00:00Z", Different},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Compare(tc.a, tc.b); got != tc.want {
				t.Errorf("Compare(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		`"2026-01-01T12:00:00.000000Z"`: "2026-01-01T12:00:00.000000Z",
		`W/"7"`:                         "7",
		` "x" `:                         "x",
		`7`:                             "7",
		`"`:                             `"`,
		``:                              ``,
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCompare checks that Compare never panics and is antisymmetric: if a
// is Newer than b then b is Older than a, Same and Different are symmetric.
func FuzzCompare(f *testing.F) {
	for _, s := range [][2]string{
		{"2026-01-01T12:00:00.000000Z", "2026-01-01T12:00:00.000001Z"},
		{"1", "2"}, {"abc", "abc"}, {"2026-01-01 12:00:00", "2026-01-01T12:00:00Z"},
		{"9223372036854775807", "-9223372036854775808"}, {`W/"1"`, `"1"`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := Compare(a, b), Compare(b, a)
		switch ab {
		case Newer:
			if ba != Older {
				t.Fatalf("Compare(a,b)=Newer but Compare(b,a)=%v", ba)
			}
		case Older:
			if ba != Newer {
				t.Fatalf("Compare(a,b)=Older but Compare(b,a)=%v", ba)
			}
		case Same, Different:
			if ba != ab {
				t.Fatalf("Compare(a,b)=%v but Compare(b,a)=%v", ab, ba)
			}
		default:
			t.Fatalf("Compare returned %v", ab)
		}
		if Compare(a, a) != Same {
			t.Fatalf("Compare(a,a) != Same for %q", a)
		}
		_ = Normalize(a)
	})
}
