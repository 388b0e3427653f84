package laravel

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"math/rand"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// phpCookieVectors are the cookies testdata/cookievectors.php makes with
// Debian's Laravel 8.83: fresh keys and values on every run.
type phpCookieVectors struct {
	AppName     string            `json:"app_name"`
	Names       map[string]string `json:"names"`
	AppKey      string            `json:"app_key"`
	PreviousKey string            `json:"previous_key"`
	OtherKey    string            `json:"other_key"`
	Key16       string            `json:"key16"`
	SessionID   string            `json:"session_id"`
	CSRFToken   string            `json:"csrf_token"`
	Vectors     []struct {
		What         string  `json:"what"`
		Name         string  `json:"name"`
		Value        string  `json:"value"`
		Sent         string  `json:"sent"`
		Plain        string  `json:"plain"`
		Key          string  `json:"key"`
		Cipher       string  `json:"cipher"`
		LaravelReads *string `json:"laravel_reads"`
	} `json:"vectors"`
}

var (
	phpVectorsOnce sync.Once
	phpVectors     phpCookieVectors
	phpVectorsErr  error
)

// loadPHPCookieVectors runs testdata/cookievectors.php once per test
// binary; without the php command (Debian's php-cli and
// php-laravel-framework) the test is skipped.
func loadPHPCookieVectors(t testing.TB) phpCookieVectors {
	t.Helper()
	php, err := exec.LookPath("php")
	if err != nil {
		t.Skip("php not found: the cookies are made by PHP's Laravel (apt-get install php-cli php-laravel-framework)")
	}
	phpVectorsOnce.Do(func() {
		cmd := exec.Command(php, "-d", "include_path=.:/usr/share/php", "cookievectors.php")
		cmd.Dir = "testdata"
		out, err := cmd.Output()
		if err != nil {
			phpVectorsErr = err
			if ee, ok := err.(*exec.ExitError); ok {
				phpVectorsErr = &phpError{err, string(ee.Stderr) + string(out)}
			}
			return
		}
		phpVectorsErr = json.Unmarshal(out, &phpVectors)
	})
	if phpVectorsErr != nil {
		t.Fatalf("testdata/cookievectors.php: %v", phpVectorsErr)
	}
	return phpVectors
}

type phpError struct {
	err    error
	output string
}

func (e *phpError) Error() string { return e.err.Error() + ": " + e.output }

func mustKey(t testing.TB, s string) []byte {
	t.Helper()
	k, err := ParseAppKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The default session cookie name of an app named "My App", by where its
// config/session.php comes from (see cookievectors.php): recordsync finds
// the session under any of them, so it need not know which.
func TestSessionCookieNamesOfLaravelVersions(t *testing.T) {
	v := loadPHPCookieVectors(t)
	want := map[string]string{
		"slug_underscore": "my_app_session", // laravel/laravel 8.x-11.x; laravel/framework 11.x, 12.x
		"slug_hyphen":     "my-app-session", // laravel/laravel 12.x (since mid-2025), 13.x
		"snake":           "my_app_session", // laravel/framework 13.x
	}
	for k, name := range want {
		if v.Names[k] != name {
			t.Errorf("%s: PHP makes %q of %q, want %q", k, v.Names[k], v.AppName, name)
		}
	}
}

// Every cookie PHP's Laravel made is read as Laravel reads it: under its
// own name, with the key it was made with among the keys, whatever the
// cipher; a session cookie gives its session id, the others their value
// but no session.
func TestOpenCookieMadeByPHP(t *testing.T) {
	v := loadPHPCookieVectors(t)
	keys := map[string][]byte{
		"key": mustKey(t, v.AppKey), "previous": mustKey(t, v.PreviousKey),
		"other": mustKey(t, v.OtherKey), "key16": mustKey(t, v.Key16),
	}
	current := map[string][][]byte{
		"key":      {keys["key"]},
		"previous": {keys["key"], keys["previous"]},
		"other":    {keys["other"]},
		"key16":    {keys["key16"]},
	}
	seen := map[string]bool{}
	for _, c := range v.Vectors {
		t.Run(c.What, func(t *testing.T) {
			seen[c.Cipher] = true
			if c.LaravelReads == nil || *c.LaravelReads != c.Plain {
				t.Fatalf("Laravel 8.83 itself does not read it back: %v", c.LaravelReads)
			}
			if got := phpRawURLDecode(c.Sent); got != c.Value {
				t.Fatalf("the value as sent does not decode to the value: %q", got)
			}
			ks := current[c.Key]
			plain, err := OpenCookie(ks, c.Name, c.Value)
			if err != nil || plain != c.Plain {
				t.Fatalf("OpenCookie = %q, %v; want %q", plain, err, c.Plain)
			}
			id, err := DecodeCookie(ks, c.Name, c.Value)
			if isSession := IsSessionID(c.Plain) && c.Name != "XSRF-TOKEN"; isSession {
				if err != nil || id != c.Plain {
					t.Fatalf("DecodeCookie = %q, %v; want the session %q", id, err, c.Plain)
				}
			} else if c.Name != "XSRF-TOKEN" && err == nil {
				t.Fatalf("DecodeCookie took %q for a session", id)
			}
			// Under another name, another key, or without the key it was
			// made with, it is nothing.
			if _, err := OpenCookie(ks, c.Name+"x", c.Value); err == nil {
				t.Error("read under another name")
			}
			if _, err := OpenCookie([][]byte{keys["other"]}, c.Name, c.Value); err == nil && c.Key != "other" {
				t.Error("read under another key")
			}
			if c.Key == "previous" {
				if _, err := OpenCookie([][]byte{keys["key"]}, c.Name, c.Value); err == nil {
					t.Error("read without the previous key")
				}
				// The previous key first (a rotated-back key) reads it too.
				if got, err := OpenCookie([][]byte{keys["previous"], keys["key"]}, c.Name, c.Value); err != nil || got != c.Plain {
					t.Errorf("previous key first: %q, %v", got, err)
				}
			}
			// A key of the other size is no key of this value.
			if _, err := OpenCookie([][]byte{keys["key16"], keys["key"]}, c.Name, c.Value); (err == nil) != (c.Key == "key" || c.Key == "key16") {
				t.Errorf("with the 128-bit key first: %v", err)
			}
		})
	}
	for _, c := range []string{"AES-256-CBC", "AES-128-CBC", "AES-256-GCM", "AES-128-GCM"} {
		if !seen[c] {
			t.Errorf("no vector for %s", c)
		}
	}
	// The XSRF-TOKEN cookie holds the CSRF token, shaped as a session id:
	// only its name tells it apart (recordsync never tries it).
	if !IsSessionID(v.CSRFToken) {
		t.Errorf("the CSRF token %q is not shaped as a session id any more: the XSRF-TOKEN rule may be revisited", v.CSRFToken)
	}
}

// A GCM value altered anywhere does not open.
func TestOpenCookieGCMTampered(t *testing.T) {
	v := loadPHPCookieVectors(t)
	key := [][]byte{mustKey(t, v.AppKey)}
	for _, c := range v.Vectors {
		if c.Cipher != "AES-256-GCM" || c.Key != "key" {
			continue
		}
		raw, _ := base64.StdEncoding.DecodeString(c.Value)
		var p map[string]string
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{"iv", "value", "tag"} {
			b, _ := base64.StdEncoding.DecodeString(p[field])
			b[len(b)/2] ^= 1
			q := maps.Clone(p)
			q[field] = base64.StdEncoding.EncodeToString(b)
			j, _ := json.Marshal(q)
			if got, err := OpenCookie(key, c.Name, base64.StdEncoding.EncodeToString(j)); err == nil {
				t.Errorf("%s altered: read %q", field, got)
			}
		}
		q := maps.Clone(p)
		q["tag"] = ""
		j, _ := json.Marshal(q)
		if _, err := OpenCookie(key, c.Name, base64.StdEncoding.EncodeToString(j)); err == nil {
			t.Error("a GCM value without its tag read as CBC")
		}
		return
	}
	t.Fatal("no AES-256-GCM vector")
}

func TestParsePreviousKeys(t *testing.T) {
	k32 := "base64:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("a", 32)))
	k32b := "base64:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("b", 32)))
	k16 := "base64:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("c", 16)))
	for _, tc := range []struct {
		name, in string
		n        int // keys read; -1: an error
	}{
		{"none", "", 0},
		{"one", k32, 1},
		{"two, in order", k32 + "," + k32b, 2},
		{"empty entries and PHP's falsy 0 are dropped (array_filter)", "," + k32 + ",,0," + k32b + ",", 2},
		{"raw key", strings.Repeat("r", 32), 1},
		{"a space after the comma is part of the key", k32 + ", " + k32b, -1},
		{"another cipher's size", k32 + "," + k16, -1},
		{"not base64", "base64:!!", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParsePreviousKeys(tc.in, 32)
			if tc.n < 0 {
				if err == nil {
					t.Fatalf("read %d keys", len(keys))
				}
				return
			}
			if err != nil || len(keys) != tc.n {
				t.Fatalf("%d keys, %v; want %d", len(keys), err, tc.n)
			}
		})
	}
	keys, _ := ParsePreviousKeys(k32+","+k32b, 32)
	if string(keys[0]) != strings.Repeat("a", 32) || string(keys[1]) != strings.Repeat("b", 32) {
		t.Fatal("keys out of order")
	}
}

// PHPCookies against what PHP 8.2 filled $_COOKIE with for the same
// Cookie header (php -S, printing json_encode($_COOKIE)).
func TestPHPCookies(t *testing.T) {
	type kv = [2]string
	for _, tc := range []struct {
		header []string
		want   []kv
	}{
		{[]string{"a=x+y%2Bz; b.c=1; b_c=2; d=1; d=2;  e%5Ff=3; g[h]=4; XSRF-TOKEN=5; x y=6"},
			[]kv{{"a", "x+y+z"}, {"b_c", "1"}, {"d", "1"}, {"e%5Ff", "3"}, {"XSRF-TOKEN", "5"}, {"x_y", "6"}}},
		{[]string{"=1; a=2;;  \tb;c=%zz%41; d =4;e=5=6; f=1, g=2"},
			[]kv{{"a", "2"}, {"b", ""}, {"c", "%zzA"}, {"d_", "4"}, {"e", "5=6"}, {"f", "1, g=2"}}},
		{[]string{"a=1", "b=2"}, []kv{{"a", "1, b=2"}}},
		{[]string{"g[h]=4; g=5"}, nil},
		{[]string{"g=5; g[h]=4; k=1"}, []kv{{"k", "1"}}},
		{[]string{" a.b=1; a_b=2"}, []kv{{"a_b", "1"}}},
		{[]string{"x[=1; x_=2"}, []kv{{"x_", "1"}}},
		{[]string{"[a]=1; b=2"}, []kv{{"b", "2"}}},
		{[]string{"a=%2B+%2b%3D"}, []kv{{"a", "+++="}}},
	} {
		h := http.Header{"Cookie": tc.header}
		cookies, ok := PHPCookies(h)
		var got []kv
		for _, c := range cookies {
			got = append(got, kv{c.Name, c.Value})
		}
		if !ok || !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q (%v), want %q", tc.header, got, ok, tc.want)
		}
	}
	if _, ok := PHPCookies(http.Header{"Cookie": {"a=1"}, "COOKIE": {"b=2"}}); ok {
		t.Error("two spellings of the header read")
	}
	if _, ok := PHPCookies(http.Header{"Cookie": {strings.Repeat("a=1;", phpMaxInputVars+1)}}); ok {
		t.Error("past max_input_vars read")
	}
	if c, ok := PHPCookies(http.Header{"Cookie": {strings.Repeat(";", 5000) + "a=1"}}); !ok || len(c) != 1 {
		t.Error("empty pieces counted toward max_input_vars")
	}
}

// diffCookiePieces are what the generated Cookie headers are made of.
var (
	diffCookieNames = []string{
		"laravel_session", "laravel.session", "laravel session", " laravel_session", "laravel_session[]",
		"laravel_session[x]", "laravel_session[", "laravel%5Fsession", "my-app-session", "XSRF-TOKEN", "a", "a[b]c",
		"\tb", "0", "", "=", "[x]",
	}
	diffCookieValues = []string{
		"eyJpdiI6x%3D", "v", "", "a+b", "%2B", "%zz", "%", "1=2", "a, b=c", "%00", "\"q\"", "é",
	}
)

// TestPHPReadsCookies: generated Cookie headers read by PHP (php-fpm, as
// Caddy's php_fastcgi passes them) and by PHPCookies: the same cookies,
// names and values, in the same order, or a refusal.
func TestPHPReadsCookies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts php-fpm")
	}
	p := startPHPFPM(t)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	pick := func(s []string) string { return s[rng.Intn(len(s))] }
	read := 0
	for i := range 500 {
		var fields []string
		for range 1 + rng.Intn(2) {
			var b strings.Builder
			for j := range 1 + rng.Intn(5) {
				if j > 0 {
					b.WriteString(pick([]string{"; ", ";", ";;", " ; "}))
				}
				b.WriteString(pick(diffCookieNames))
				if rng.Intn(8) > 0 {
					b.WriteString("=" + pick(diffCookieValues))
				}
			}
			fields = append(fields, b.String())
		}
		r, _ := http.NewRequest("GET", "http://localhost/x", nil)
		r.Header["Cookie"] = fields
		php := p.read(t, r, nil)
		var want [][2]string
		for _, c := range php.Cookies {
			if s, ok := c.Value.str(); ok {
				name, _ := base64.StdEncoding.DecodeString(c.Name)
				want = append(want, [2]string{string(name), s})
			}
		}
		cookies, ok := PHPCookies(r.Header)
		if !ok {
			continue
		}
		read++
		var got [][2]string
		for _, c := range cookies {
			got = append(got, [2]string{c.Name, c.Value})
		}
		if !slices.Equal(got, want) {
			t.Fatalf("case %d, Cookie %q:\nrecordsync read %q\nPHP read %q", i, fields, got, want)
		}
	}
	if read < 400 {
		t.Fatalf("only %d of 500 headers read", read)
	}
}

// FuzzPHPCookies: any header reads without panicking, each name once and
// as PHP would file it again, never an array.
func FuzzPHPCookies(f *testing.F) {
	f.Add("a=x+y%2Bz; b.c=1; b_c=2; d=1; d=2;  e%5Ff=3; g[h]=4; XSRF-TOKEN=5; x y=6")
	f.Add("=1; a=2;;  \tb;c=%zz%41; d =4;e=5=6; f=1, g=2")
	f.Add("g=5; g[h]=4; k=1\x00j=2")
	f.Fuzz(func(t *testing.T, header string) {
		cookies, ok := PHPCookies(http.Header{"Cookie": {header}})
		if !ok {
			return
		}
		seen := map[string]bool{}
		for _, c := range cookies {
			if c.Name == "" || seen[c.Name] {
				t.Fatalf("name %q empty or repeated in %q", c.Name, cookies)
			}
			seen[c.Name] = true
			if again, array, _ := phpVarName(c.Name); again != c.Name || array {
				t.Fatalf("name %q is not as PHP files it (%q, array %v)", c.Name, again, array)
			}
			if c.Value != phpRawURLDecode(c.Raw) {
				t.Fatalf("value %q is not the raw %q decoded", c.Value, c.Raw)
			}
		}
	})
}

// FuzzOpenCookie: no input panics, and what opens under two keys (one of
// them the app's) is a value after a verified prefix.
func FuzzOpenCookie(f *testing.F) {
	k, _ := ParseAppKey(laravelAppKey)
	keys := [][]byte{[]byte(strings.Repeat("p", 32)), k}
	f.Add("laravel_session", laravelCookie)
	f.Add("laravel_session", laravelCookie2)
	f.Add("XSRF-TOKEN", laravelCookieOtherName)
	// A GCM-shaped payload (tag set, 12-byte iv) and a CBC one with a tag.
	f.Add("laravel_session", base64.StdEncoding.EncodeToString([]byte(`{"iv":"AAAAAAAAAAAAAAAA","value":"AAAA","mac":"","tag":"AAAAAAAAAAAAAAAAAAAAAA=="}`)))
	f.Add("laravel_session", base64.StdEncoding.EncodeToString([]byte(`{"iv":"AAAAAAAAAAAAAAAAAAAAAA==","value":"AAAA","mac":"x","tag":"0"}`)))
	f.Add("", "")
	f.Fuzz(func(t *testing.T, name, value string) {
		plain, err := OpenCookie(keys, name, value)
		if err != nil {
			return
		}
		if value != laravelCookie && value != laravelCookie2 && value != laravelCookieOtherName {
			t.Fatalf("forged value opened: %q → %q", value, plain)
		}
	})
}
