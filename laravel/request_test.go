package laravel

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/recordsync/recordsync/pusher"
)

const formType = "application/x-www-form-urlencoded"

func TestLaravelPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/broadcasting/auth":            "/broadcasting/auth",
		"/broadcasting/auth/":           "/broadcasting/auth",
		"/broadcasting/auth///":         "/broadcasting/auth",
		"/index.php/broadcasting/auth/": "/broadcasting/auth",
		"/index.php":                    "/",
		"/index.php/":                   "/",
		"/":                             "/",
		"/index.phpx/a":                 "/index.phpx/a",
		"/broadcasting/auth%2F":         "/broadcasting/auth/",
		"/broadcasting/%61uth":          "/broadcasting/auth",
	} {
		r := httptest.NewRequest("GET", "http://localhost"+in, nil)
		if got := RoutePath(r.URL); got != want {
			t.Errorf("RoutePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzPHPFields: PHP's field names never keep a ' ' or '.' before an
// array's brackets, a scalar's name holds no '[', and parsing never panics.
func FuzzPHPFields(f *testing.F) {
	for _, s := range []string{"socket_id=1.2&channel_name=private-a", "channel[name=x&a[b]c=1&a[b[c=2& x.y=3&[z=4",
		"_method[=5&.method=6", "%00=1&a%00b=2&%=%&+=+", "&&&=", "a[]=1&a[x][y]=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) ([]phpField, bool){phpPostFields, phpQueryFields} {
			fields, _ := parse(s)
			for _, fl := range fields {
				if fl.name == "" || strings.ContainsAny(fl.name, " .\x00") || !fl.array && strings.Contains(fl.name, "[") {
					t.Fatalf("%q: field name %q (array %v)", s, fl.name, fl.array)
				}
			}
		}
	})
}

// FuzzLaravelMethod: never panics, puts the body back byte for byte, and a
// method read for certain is upper-case ASCII as PHP's strtoupper leaves it.
func FuzzLaravelMethod(f *testing.F) {
	f.Add("application/json", `{"_method":"put"}`, "", "")
	f.Add("application/x-www-form-urlencoded", "_method=PATCH", "_method=PUT", "")
	f.Add("multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nPUT\r\n--B--\r\n", "", "")
	f.Add("text/plain", "", "", "put")
	f.Fuzz(func(t *testing.T, ctype, body, query, header string) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/flows/1", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", ctype)
		if header != "" {
			r.Header.Set("X-HTTP-Method-Override", header)
		}
		method, certain := Method(r, 512)
		got, _ := io.ReadAll(r.Body)
		if string(got) != body {
			t.Fatalf("body restored as %q, want %q", got, body)
		}
		if certain && method != asciiUpper(method) {
			t.Fatalf("method %q", method)
		}
	})
}

// FuzzPHPJSONObject: never panics; what it decodes is valid UTF-8 JSON.
func FuzzPHPJSONObject(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"x":"\ud800"}`, `{"x":"\ud83d\ude00"}`, "[[[]]]", `"s"`, "", "0", "{\"a\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		obj, decoded := phpJSONObject(b)
		if decoded && obj.members != nil && !json.Valid(b) {
			t.Fatalf("decoded invalid JSON %q", b)
		}
	})
}

// FuzzReadAuthRequest: never panics, always restores the body byte for
// byte, and what it reads is a socket id of digits.
func FuzzReadAuthRequest(f *testing.F) {
	f.Add(formType, "socket_id=1.2&channel_name=private-x")
	f.Add("application/json", `{"socket_id":"1.2","channel_name":"private-x"}`)
	f.Add(formType, "socket_id=1.2&channel_name=a&channel.name=b")
	f.Fuzz(func(t *testing.T, ctype, body string) {
		r := httptest.NewRequest("POST", "/broadcasting/auth", strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		sid, _, err := ReadAuthRequest(r, 256)
		got, _ := io.ReadAll(r.Body)
		if string(got) != body {
			t.Fatalf("body restored as %q, want %q", got, body)
		}
		if err == nil && !pusher.ValidSocketID(sid) {
			t.Fatalf("socket id %q", sid)
		}
	})
}

// PeekBody twice hands back the same bytes without reading or copying the
// body again, and the app still reads it byte for byte; a smaller cap the
// second time is still honoured.
func TestPeekBodyTwice(t *testing.T) {
	const body = `{"_method":"PUT","client_version":"v1"}`
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	first, ok := PeekBody(r, 1024)
	if !ok || string(first) != body {
		t.Fatalf("first peek %q %v", first, ok)
	}
	second, ok := PeekBody(r, 1024)
	if !ok || string(second) != body || &second[0] != &first[0] {
		t.Fatalf("second peek %q %v: not the held bytes", second, ok)
	}
	if b, ok := PeekBody(r, 8); ok || b != nil {
		t.Fatalf("a smaller cap: %q %v", b, ok)
	}
	if got, _ := io.ReadAll(r.Body); string(got) != body {
		t.Fatalf("the app reads %q", got)
	}
}

// FuzzBearerToken reads arbitrary Authorization headers: a token read is
// what follows the header's last "Bearer ", without a comma.
func FuzzBearerToken(f *testing.F) {
	for _, v := range []string{"Bearer 1|abc", "Basic x, Bearer tok", "Bearer a, Bearer b", "Bearer tok,rest", "Bearer ", ""} {
		f.Add(v, "")
	}
	f.Add("Bearer a", "Bearer b")
	f.Fuzz(func(t *testing.T, v1, v2 string) {
		h := http.Header{"Authorization": {v1}}
		if v2 != "" {
			h.Add("Authorization", v2)
		}
		tok, ok := BearerToken(h)
		joined := strings.Join(h.Values("Authorization"), ", ")
		if !ok {
			if tok != "" || strings.Contains(joined, "Bearer ") {
				t.Fatalf("%q: no token but %q", joined, tok)
			}
			return
		}
		i := strings.LastIndex(joined, "Bearer ")
		if strings.Contains(tok, ",") || !strings.HasPrefix(joined[i+len("Bearer "):], tok) {
			t.Fatalf("%q: token %q", joined, tok)
		}
	})
}
