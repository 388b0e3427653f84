package proxy

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLoadedVersion(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.MaxBodyBytes = 64 })
	v := "2026-01-01T12:00:00.000000Z"
	tests := []struct {
		name    string
		ifMatch []string
		ct      string
		ce      string
		body    string
		want    string
	}{
		{"if-match strong", []string{`"` + v + `"`}, "", "", "", v},
		{"if-match weak", []string{`W/"` + v + `"`}, "", "", "", v},
		{"if-match bare", []string{v}, "", "", "", v},
		{"if-match list takes first", []string{`"7", "8"`}, "", "", "", "7"},
		{"if-match quoted comma", []string{`"a,b", "c"`}, "", "", "", "a,b"},
		{"if-match second header ignored", []string{`"7"`, `"9"`}, "", "", "", "7"},
		{"if-match star falls to body", []string{"*"}, "application/json", "", `{"client_version":"3"}`, "3"},
		{"if-match wins over body", []string{`"1"`}, "application/json", "", `{"client_version":"3"}`, "1"},
		{"body string", nil, "application/json", "", `{"client_version":"` + v + `"}`, v},
		{"body number", nil, "application/json; charset=utf-8", "", `{"client_version":42}`, "42"},
		{"body +json", nil, "application/merge-patch+json", "", `{"client_version":"4"}`, "4"},
		{"body quoted etag", nil, "application/json", "", `{"client_version":"\"5\""}`, "5"},
		{"body null", nil, "application/json", "", `{"client_version":null}`, ""},
		{"body object", nil, "application/json", "", `{"client_version":{"a":1}}`, ""},
		{"body missing", nil, "application/json", "", `{"value":"x"}`, ""},
		{"body malformed", nil, "application/json", "", `{"client_version":"3"`, ""},
		{"body not json type", nil, "text/plain", "", `{"client_version":"3"}`, ""},
		{"body form", nil, "application/x-www-form-urlencoded", "", `client_version=3`, ""},
		{"body no type", nil, "", "", `{"client_version":"3"}`, ""},
		{"body compressed", nil, "application/json", "gzip", `{"client_version":"3"}`, ""},
		{"body over cap", nil, "application/json", "", `{"client_version":"3","pad":"` + strings.Repeat("x", 80) + `"}`, ""},
		{"empty", nil, "application/json", "", ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, "/api/v1/flows/1", strings.NewReader(tt.body))
			for _, m := range tt.ifMatch {
				r.Header.Add("If-Match", m)
			}
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			if tt.ce != "" {
				r.Header.Set("Content-Encoding", tt.ce)
			}
			if got := h.loadedVersion(r); got != tt.want {
				t.Errorf("loadedVersion = %q, want %q", got, tt.want)
			}
			got, _ := io.ReadAll(r.Body)
			if string(got) != tt.body {
				t.Errorf("body after = %q, want %q", got, tt.body)
			}
		})
	}
}

// closeTracker records Close of the original body.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func gzipped(tb testing.TB, s string) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

// The body the upstream reads is the body the client sent, byte for byte,
// whatever was inspected; Content-Length is kept and Close reaches the original.
func TestBodyRestored(t *testing.T) {
	const max = 128
	h, _ := newTestHandler(t, func(o *Options) { o.MaxBodyBytes = max })
	big := `{"client_version":"3","pad":"` + strings.Repeat("é", 300) + `"}`
	tests := []struct {
		name          string
		body          []byte
		ct, ce        string
		contentLength int64 // -1: unknown (chunked)
		want          string
	}{
		{"small json", []byte(`{"client_version":"3","value":"a"}`), "application/json", "", 0, "3"},
		{"small json chunked", []byte(`{"client_version":"3","value":"a"}`), "application/json", "", -1, "3"},
		{"over cap known length", []byte(big), "application/json", "", 0, ""},
		{"over cap chunked", []byte(big), "application/json", "", -1, ""},
		{"exactly cap", []byte(`{"client_version":"3","p":"` + strings.Repeat("y", max-29) + `"}`), "application/json", "", -1, "3"},
		{"non-json", []byte("\x00\x01binary\xff"), "application/octet-stream", "", 0, ""},
		{"gzip", gzipped(t, `{"client_version":"3"}`), "application/json", "gzip", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := &closeTracker{Reader: bytes.NewReader(tt.body)}
			r := httptest.NewRequest(http.MethodPatch, "/api/v1/flows/1", nil)
			r.Body = orig
			r.ContentLength = int64(len(tt.body))
			if tt.contentLength < 0 {
				r.ContentLength = -1
			}
			wantCL := r.ContentLength
			r.Header.Set("Content-Type", tt.ct)
			if tt.ce != "" {
				r.Header.Set("Content-Encoding", tt.ce)
			}
			if got := h.loadedVersion(r); got != tt.want {
				t.Errorf("loaded = %q, want %q", got, tt.want)
			}
			got, err := io.ReadAll(r.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.body) {
				t.Fatalf("restored body differs: %d bytes, want %d", len(got), len(tt.body))
			}
			if r.ContentLength != wantCL {
				t.Errorf("ContentLength = %d, want %d", r.ContentLength, wantCL)
			}
			r.Body.Close()
			if !orig.closed {
				t.Error("Close did not reach the original body")
			}
		})
	}
}

// A body that breaks while being read is handed on with the same error.
func TestBodyReadError(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	boom := errors.New("boom")
	r := httptest.NewRequest(http.MethodPut, "/api/v1/flows/1", nil)
	r.Body = io.NopCloser(io.MultiReader(strings.NewReader(`{"client_ver`), iotestErr{boom}))
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/json")
	if v := h.loadedVersion(r); v != "" {
		t.Fatalf("loaded = %q", v)
	}
	got, err := io.ReadAll(r.Body)
	if string(got) != `{"client_ver` || !errors.Is(err, boom) {
		t.Fatalf("got %q, %v", got, err)
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

func TestNoneMatch(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   bool
	}{
		{"strong", []string{`"7"`}, true},
		{"weak", []string{`W/"7"`}, true},
		{"list", []string{`"1", W/"7"`}, true},
		{"second header", []string{`"1"`, `"7"`}, true},
		{"star", []string{`*`}, true},
		{"other", []string{`"8"`}, false},
		{"prefix only", []string{`"77"`}, false},
		{"none", nil, false},
		{"garbage", []string{`,,, "`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := noneMatch(tt.values, "7"); got != tt.want {
				t.Errorf("noneMatch(%q) = %v, want %v", tt.values, got, tt.want)
			}
		})
	}
}

func FuzzLoadedVersion(f *testing.F) {
	f.Add(`"2026-01-01T12:00:00.000000Z"`, "application/json", []byte(`{"client_version":"3"}`))
	f.Add(``, "application/json", []byte(`{"client_version":42}`))
	f.Add(`W/"1", "2"`, "application/json", []byte(`{"client_version":`))
	f.Add(`*`, "application/problem+json", []byte(`{"client_version":"\u0000"}`))
	f.Add(``, "text/plain", []byte(`{"client_version":"3"}`))
	f.Add(``, "application/json", []byte(`{"client_version":"1","x":{},"client_version":"2"}`))
	h, _ := newTestHandler(f, func(o *Options) { o.MaxBodyBytes = 256 })
	f.Fuzz(func(t *testing.T, ifMatch, ct string, body []byte) {
		r := httptest.NewRequest(http.MethodPut, "/api/v1/flows/1", bytes.NewReader(body))
		if ifMatch != "" {
			r.Header["If-Match"] = []string{ifMatch}
		}
		r.Header["Content-Type"] = []string{ct}
		v := h.loadedVersion(r)
		if v != strings.TrimSpace(v) {
			t.Fatalf("untrimmed version %q", v)
		}
		got, err := io.ReadAll(r.Body)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("body not restored: %v", err)
		}
		noneMatch([]string{ifMatch}, v)
	})
}

// A key duplicated along the client_version path is no version: PHP's
// json_decode keeps the last duplicate, gjson finds the first, so the
// request goes to the app instead of being judged on a value the app may
// not read.
func TestUniquePath(t *testing.T) {
	for _, tc := range []struct {
		body, field, want string
		ok                bool
	}{
		{`{"client_version":"1"}`, "client_version", "1", true},
		{`{"client_version":"1","client_version":"2"}`, "client_version", "", false},
		{`{"data":{"v":"1"},"data":{"v":"2"}}`, "data.v", "", false},
		{`{"data":{"v":"1","v":"2"}}`, "data.v", "", false},
		{`{"data":{"v":"1"},"other":{"v":"2"}}`, "data.v", "1", true},
		{`{"a":1}`, "client_version", "", true},
		{`{"data":"x"}`, "data.v", "", true},
		{`{"client_version":"1","x":{"client_version":"2"}}`, "client_version", "1", true},
	} {
		res, ok := uniquePath([]byte(tc.body), tc.field)
		if ok != tc.ok || res.String() != tc.want {
			t.Errorf("uniquePath(%s, %s) = %q, %v; want %q, %v", tc.body, tc.field, res.String(), ok, tc.want, tc.ok)
		}
	}
}

// A write whose client_version is given twice (stale first, current last,
// as PHP would read it) is not answered from the cache: the app decides.
func TestDuplicateClientVersionGoesToTheApp(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", tokenOK, "")
	stale := do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tokenOK, putBody(version(9), "v"))
	if stale.Code != http.StatusConflict || stale.Header().Get(HeaderCache) != "hit" {
		t.Fatalf("a plain stale write: %d %v", stale.Code, stale.Header())
	}
	calls, _ := app.stats()
	body := `{"client_version":"` + version(9) + `","client_version":"` + version(10) + `","value":"v"}`
	rr := do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tokenOK, body)
	if c, _ := app.stats(); c != calls+1 || rr.Header().Get(HeaderCache) == "hit" {
		t.Fatalf("answered at the edge: %d %v", rr.Code, rr.Header())
	}
}
