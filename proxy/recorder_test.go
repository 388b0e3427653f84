package proxy

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestShouldBuffer(t *testing.T) {
	tests := []struct {
		name   string
		status int
		hdr    map[string]string
		want   bool
	}{
		{"json", 200, map[string]string{"Content-Type": "application/json"}, true},
		{"json charset", 200, map[string]string{"Content-Type": "application/json; charset=utf-8"}, true},
		{"problem+json", 409, map[string]string{"Content-Type": "application/problem+json"}, true},
		{"vnd+json", 200, map[string]string{"Content-Type": "application/vnd.api+json"}, true},
		{"upper case", 200, map[string]string{"Content-Type": "Application/JSON"}, true},
		{"length within cap", 200, map[string]string{"Content-Type": "application/json", "Content-Length": "100"}, true},
		{"length over cap", 200, map[string]string{"Content-Type": "application/json", "Content-Length": "1025"}, false},
		{"bad length", 200, map[string]string{"Content-Type": "application/json", "Content-Length": "x"}, false},
		{"gzip", 200, map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, false},
		{"identity", 200, map[string]string{"Content-Type": "application/json", "Content-Encoding": "identity"}, true},
		{"html", 200, map[string]string{"Content-Type": "text/html"}, false},
		{"no type", 200, nil, false},
		{"event stream", 200, map[string]string{"Content-Type": "text/event-stream"}, false},
		{"text/json is not a JSON type we read", 200, map[string]string{"Content-Type": "text/json"}, false},
		{"upgrade", 101, map[string]string{"Content-Type": "application/json"}, false},
		{"no content", 204, map[string]string{"Content-Type": "application/json"}, false},
		{"not modified", 304, map[string]string{"Content-Type": "application/json"}, false},
		{"incremental", 200, map[string]string{"Content-Type": "application/json", "Incremental": "?1"}, false},
		{"partial", 206, map[string]string{"Content-Type": "application/json"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.hdr {
				h.Set(k, v)
			}
			if got := shouldBuffer(tt.status, h, 1024); got != tt.want {
				t.Errorf("shouldBuffer = %v, want %v", got, tt.want)
			}
		})
	}
}

// countingWriter is the client's side: it records how many bytes had
// reached it at each moment.
type countingWriter struct {
	*httptest.ResponseRecorder
	written int
	flushes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.written += len(p)
	return c.ResponseRecorder.Write(p)
}

func (c *countingWriter) Flush() { c.flushes++; c.ResponseRecorder.Flush() }

// A JSON response larger than the cap, sent chunked (no Content-Length),
// reaches the client while the app is still writing it, never holding more
// than the cap, and arrives byte for byte.
func TestHugeResponseStreams(t *testing.T) {
	const max = 4 << 10
	h, obs := newTestHandler(t, func(o *Options) { o.MaxBodyBytes = max })
	chunk := bytes.Repeat([]byte(`{"a":"0123456789"},`), 100)
	var sent bytes.Buffer
	client := &countingWriter{ResponseRecorder: httptest.NewRecorder()}
	maxHeld := 0
	next := func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"data":{"updated_at":"1"},"list":[`))
		sent.WriteString(`{"data":{"updated_at":"1"},"list":[`)
		for i := 0; i < 500; i++ {
			w.Write(chunk)
			sent.Write(chunk)
			if held := sent.Len() - client.written; held > maxHeld {
				maxHeld = held
			}
		}
		w.Write([]byte(`{}]}`))
		sent.WriteString(`{}]}`)
		return nil
	}
	r := httptest.NewRequest(http.MethodGet, "/api/v1/flows/1", nil)
	if err := h.ServeHTTP(client, r, RequestInfo{}, next); err != nil {
		t.Fatal(err)
	}
	if maxHeld > max {
		t.Errorf("held back %d bytes, cap %d", maxHeld, max)
	}
	if !bytes.Equal(client.Body.Bytes(), sent.Bytes()) {
		t.Fatalf("client got %d bytes, app sent %d", client.Body.Len(), sent.Len())
	}
	if client.Header().Get("Etag") != "" || obs.get("learned.response") != 0 {
		t.Error("learned from a response over the cap")
	}
	if _, ok := h.store.Get(keyOf("flow", "1")); ok {
		t.Error("stored a version from a streamed response")
	}
}

// Caddy's reverse_proxy flushes after every write of a response without
// Content-Length (php_fastcgi's answers): such a response is still held and
// learned while it is within the cap; past the cap, flushes reach the client.
func TestRecorderFlushWhileBuffering(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.MaxBodyBytes = 64 })
	client := &countingWriter{ResponseRecorder: httptest.NewRecorder()}
	var atFlush int
	next := func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"data":`))
		http.NewResponseController(w).Flush()
		atFlush = client.written
		w.Write([]byte(`{"updated_at":"1"}}`))
		http.NewResponseController(w).Flush()
		return nil
	}
	if err := h.ServeHTTP(client, httptest.NewRequest("GET", "/api/v1/flows/1", nil), RequestInfo{}, next); err != nil {
		t.Fatal(err)
	}
	if atFlush != 0 || client.flushes != 0 {
		t.Fatalf("a flush while buffering reached the client (%d bytes, %d flushes)", atFlush, client.flushes)
	}
	if client.Body.String() != `{"data":{"updated_at":"1"}}` || client.Header().Get("ETag") != `"1"` {
		t.Fatalf("body %q etag %q", client.Body.String(), client.Header().Get("ETag"))
	}

	// Over the cap: streaming, and flushes pass.
	client = &countingWriter{ResponseRecorder: httptest.NewRecorder()}
	big := `{"data":{"updated_at":"2"},"pad":"` + strings.Repeat("x", 100) + `"}`
	next = func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(big))
		http.NewResponseController(w).Flush()
		atFlush = client.written
		return nil
	}
	h.ServeHTTP(client, httptest.NewRequest("GET", "/api/v1/flows/1", nil), RequestInfo{}, next)
	if atFlush != len(big) || client.flushes != 1 || client.Body.String() != big {
		t.Fatalf("over the cap: %d bytes at flush, %d flushes", atFlush, client.flushes)
	}
}

// Event streams and upgrades are never held back.
func TestRecorderNeverBuffers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		ct     string
	}{
		{"event stream", 200, "text/event-stream"},
		{"switching protocols", 101, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHandler(t, nil)
			client := &countingWriter{ResponseRecorder: httptest.NewRecorder()}
			var at int
			var code int
			next := func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Content-Type", tc.ct)
				w.WriteHeader(tc.status)
				w.Write([]byte("data: x\n\n"))
				at = client.written
				code = client.Code
				return nil
			}
			h.ServeHTTP(client, httptest.NewRequest("GET", "/api/v1/flows/1", nil), RequestInfo{}, next)
			if at != len("data: x\n\n") || code != tc.status {
				t.Fatalf("client had %d bytes, status %d during the handler", at, code)
			}
		})
	}
}

// Unwrap reaches the writer below (http.ResponseController relies on it).
func TestRecorderUnwrap(t *testing.T) {
	w := httptest.NewRecorder()
	rec := newRecorder(w, 10, learnableStatus)
	if rec.Unwrap() != w {
		t.Fatal("Unwrap")
	}
	var _ http.Flusher = rec
}

// 1xx informational answers pass through; the final status is recorded.
func TestRecorderInformational(t *testing.T) {
	w := httptest.NewRecorder()
	rec := newRecorder(w, 1024, learnableStatus)
	rec.Header().Set("Link", "</a.css>; rel=preload")
	rec.WriteHeader(http.StatusEarlyHints)
	rec.Header().Set("Content-Type", "application/json")
	rec.WriteHeader(200)
	rec.Write([]byte(`{}`))
	if !rec.buffered() || rec.status != 200 {
		t.Fatalf("buffered %v status %d", rec.buffered(), rec.status)
	}
	rec.writeBuffered()
	// httptest.ResponseRecorder keeps the first status it is given (103).
	if w.Body.String() != "{}" || !strings.Contains(w.Header().Get("Link"), "preload") {
		t.Fatalf("got %d %q", w.Code, w.Body.String())
	}
}
