// Package kit embeds recordsync's browser kit (recordsync.js and its ES module
// wrapper recordsync.mjs) and serves it, so that pages load it from the proxy
// itself: <script src="/ws/recordsync.js"></script> (kit/README.md).
//
// The kit needs the Pusher app key and the websocket path; New fills them in
// the served file, so the page needs no configuration. A page may still
// override them with data attributes on its script tag (data-key,
// data-ws-path, data-poll-interval, ...) or RecordSync.configure.
package kit

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"path"
	"strings"
	"time"
)

// JS is recordsync.js as shipped, with no configuration filled in.
//
//go:embed recordsync.js
var JS []byte

// MJS is recordsync.mjs: the ES module form, which imports ./recordsync.js.
//
//go:embed recordsync.mjs
var MJS []byte

// File names under the websocket path.
const (
	FileJS  = "recordsync.js"
	FileMJS = "recordsync.mjs"
)

// The markers around the configuration object in recordsync.js.
var (
	configStart = []byte("/*recordsync:config*/")
	configEnd   = []byte("/*recordsync:end*/")
)

// Config is what the served kit is told.
type Config struct {
	// Key is the Pusher app key (recordsync's app_key). Empty: the kit has
	// no websocket and polls the version endpoint.
	Key string `json:"key,omitempty"`
	// WSPath is recordsync's ws_path, e.g. "/ws".
	WSPath string `json:"wsPath,omitempty"`
	// Records maps each record type to its route pattern, e.g. "flow" →
	// "/api/v1/flows/{id}": where the kit loads the latest record for
	// Reload Latest when the page names no URL.
	Records map[string]string `json:"records,omitempty"`
}

// Handler serves the kit's two files. It is safe for concurrent use.
type Handler struct {
	js, mjs asset
}

type asset struct {
	body []byte
	etag string
}

func newAsset(body []byte) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// New returns a Handler serving the kit with cfg filled in.
func New(cfg Config) *Handler {
	return &Handler{js: newAsset(Configure(cfg)), mjs: newAsset(MJS)}
}

// Configure returns recordsync.js with cfg in place of its empty
// configuration object (JSON with <, > and & escaped, safe in a script).
func Configure(cfg Config) []byte {
	conf, _ := json.Marshal(cfg) // strings and a map of strings: cannot fail
	i := bytes.Index(JS, configStart)
	j := bytes.Index(JS, configEnd)
	if i < 0 || j < i {
		panic("kit: recordsync.js lost its configuration markers")
	}
	out := make([]byte, 0, len(JS)+len(conf))
	out = append(out, JS[:i+len(configStart)]...)
	out = append(out, conf...)
	return append(out, JS[j:]...)
}

// Paths returns the URL paths the kit is served at under wsPath ("/ws" →
// "/ws/recordsync.js", "/ws/recordsync.mjs").
func Paths(wsPath string) (js, mjs string) {
	base := strings.TrimSuffix(wsPath, "/")
	return base + "/" + FileJS, base + "/" + FileMJS
}

// ServeHTTP serves recordsync.js or recordsync.mjs by the last element of
// the request path (404 for anything else): GET and HEAD only, with
// Content-Type text/javascript, an ETag, Cache-Control no-cache (browsers
// revalidate, so a new release is picked up at once) and 304 for a matching
// If-None-Match.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a *asset
	switch path.Base(r.URL.Path) {
	case FileJS:
		a = &h.js
	case FileMJS:
		a = &h.mjs
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/javascript; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", a.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	// ServeContent answers If-None-Match (304), HEAD and ranges.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// defaultHandler serves the kit without configuration.
var defaultHandler = New(Config{})

// Serve serves the unconfigured kit (the page gives its key with data-key),
// for mounting it in a plain net/http server.
func Serve(w http.ResponseWriter, r *http.Request) { defaultHandler.ServeHTTP(w, r) }
