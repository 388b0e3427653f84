package proxy

import (
	"bytes"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// HeaderBroadcast is the response header with which the app asks that a
// save not be published ("skip"). It is removed from the response sent on.
const HeaderBroadcast = "X-Recordsync-Broadcast"

// recorder is a bounded response recorder. It buffers a response only when
// its status and headers say it is JSON worth inspecting (JSON content type,
// not compressed, Content-Length absent or within the cap) and gives up
// buffering — flushing what it holds and streaming the rest — as soon as the
// body grows past the cap.
//
// Caddy's caddyhttp.ResponseRecorder decides once, from the headers, and then
// buffers the whole body: a chunked JSON response without Content-Length
// would be held in memory whatever its size. That is why recordsync has its
// own.
//
// A recorder is used by one handler goroutine; it is not safe for concurrent use.
type recorder struct {
	w   http.ResponseWriter
	max int64
	// want decides, from the status, whether a response is worth buffering.
	want func(status int) bool
	// beforeHeader, if set, may edit the headers before they are decided on.
	beforeHeader func(h http.Header)
	// anyType buffers whatever the Content-Type (the auth endpoint's
	// answers are text/html): only the other checks of shouldBuffer apply.
	anyType bool

	// dropUnheld: a wanted response that cannot be held (by its headers,
	// or because it grew past max) is not sent on but dropped; the
	// caller answers in its place.
	dropUnheld bool
	// dropped: such a response was dropped.
	dropped bool
	// onStream, if set, is called once the response is known not to be
	// held: its headers go out as they are, or it grew past max.
	onStream func()

	status        int
	wroteHeader   bool
	buffering     bool // headers and body held back
	skipBroadcast bool // the app answered X-Recordsync-Broadcast: skip
	buf           *bytes.Buffer
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps a rare large response from pinning memory in the pool.
const maxPooledBuffer = 256 << 10

func newRecorder(w http.ResponseWriter, max int64, want func(int) bool) *recorder {
	return &recorder{w: w, max: max, want: want}
}

func (rec *recorder) Header() http.Header { return rec.w.Header() }

// Unwrap lets http.ResponseController (hijack, deadlines) reach the writer below.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.w }

func (rec *recorder) WriteHeader(status int) {
	if rec.wroteHeader {
		return
	}
	if status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
		// 1xx informational (103 Early Hints): passes straight on.
		rec.w.WriteHeader(status)
		return
	}
	rec.wroteHeader = true
	rec.status = status
	h := rec.w.Header()
	if v, ok := h[HeaderBroadcast]; ok {
		rec.skipBroadcast = len(v) > 0 && strings.EqualFold(strings.TrimSpace(v[0]), "skip")
		delete(h, HeaderBroadcast)
	}
	if rec.beforeHeader != nil {
		rec.beforeHeader(h)
	}
	wanted := rec.want != nil && rec.want(status)
	if wanted && (rec.anyType && bufferable(status, h, rec.max) || shouldBuffer(status, h, rec.max)) {
		rec.buffering = true
		rec.buf = bufPool.Get().(*bytes.Buffer)
		rec.buf.Reset()
		return
	}
	if wanted && rec.dropUnheld {
		rec.dropped = true
		return
	}
	rec.streaming()
	rec.w.WriteHeader(status)
}

// streaming tells onStream, once, that the response is not held.
func (rec *recorder) streaming() {
	if f := rec.onStream; f != nil {
		rec.onStream = nil
		f()
	}
}

func (rec *recorder) Write(p []byte) (int, error) {
	if !rec.wroteHeader {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.dropped {
		return len(p), nil
	}
	if !rec.buffering {
		return rec.w.Write(p)
	}
	if int64(rec.buf.Len())+int64(len(p)) > rec.max {
		if rec.dropUnheld {
			rec.buffering, rec.dropped = false, true
			rec.release()
			return len(p), nil
		}
		if err := rec.stream(); err != nil {
			return 0, err
		}
		return rec.w.Write(p)
	}
	return rec.buf.Write(p)
}

// Flush passes a flush on once the recorder streams; while it buffers, a
// flush is held like the bytes (as Caddy's own recorder does). Caddy's
// reverse_proxy flushes after every write of a response without
// Content-Length — which is what php_fastcgi and chunked upstreams answer —
// so giving up buffering on a flush would leave almost nothing to learn. The
// buffer is bounded by the cap either way; responses that must stream
// (text/event-stream, upgrades, RFC 10036 "Incremental: ?1") are never
// buffered in the first place.
func (rec *recorder) Flush() { _ = rec.FlushError() }

// FlushError is Flush for http.ResponseController, with the writer's error.
func (rec *recorder) FlushError() error {
	if !rec.wroteHeader {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.buffering || rec.dropped {
		return nil
	}
	return http.NewResponseController(rec.w).Flush()
}

// stream stops buffering: it writes the held headers and bytes and lets the
// rest through.
func (rec *recorder) stream() error {
	rec.buffering = false
	rec.streaming()
	rec.w.WriteHeader(rec.status)
	_, err := rec.w.Write(rec.buf.Bytes())
	rec.release()
	return err
}

// buffered reports whether the whole response is held: status, headers and body.
func (rec *recorder) buffered() bool { return rec.buffering }

// body is the held body; valid until writeBuffered or release.
func (rec *recorder) body() []byte { return rec.buf.Bytes() }

// writeBuffered sends the held response on, unchanged apart from the headers
// the caller edited, and returns the buffer to the pool.
func (rec *recorder) writeBuffered() error {
	if !rec.buffering {
		return nil
	}
	rec.buffering = false
	rec.w.WriteHeader(rec.status)
	var err error
	if rec.buf.Len() > 0 {
		_, err = rec.w.Write(rec.buf.Bytes())
	}
	rec.release()
	return err
}

func (rec *recorder) release() {
	if rec.buf == nil {
		return
	}
	if rec.buf.Cap() <= maxPooledBuffer {
		bufPool.Put(rec.buf)
	}
	rec.buf = nil
}

// shouldBuffer decides from the status and headers whether a response can be
// inspected: JSON (application/json or +json), not compressed, not
// incremental, and not announced as larger than max. Upgrades and event
// streams never are.
func shouldBuffer(status int, h http.Header, max int64) bool {
	return isJSON(h.Get("Content-Type")) && bufferable(status, h, max)
}

// bufferable is shouldBuffer without the JSON condition.
func bufferable(status int, h http.Header, max int64) bool {
	if status == http.StatusSwitchingProtocols || status == http.StatusNoContent ||
		status == http.StatusNotModified || status == http.StatusPartialContent {
		return false
	}
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return false
	}
	if v := h.Get("Incremental"); v != "" && v != "?0" {
		// RFC 10036: the app asked for the response to be forwarded as it comes.
		return false
	}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 || n > max {
			return false
		}
	}
	return true
}

// isJSON reports whether a Content-Type is application/json or a +json type.
func isJSON(ct string) bool {
	if ct == "" {
		return false
	}
	// Fast path for the common exact values.
	if ct == "application/json" || strings.HasPrefix(ct, "application/json;") {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}
