package kit

import (
	"bytes"
	_ "embed"
	"net/http"
	"path"
	"time"
)

// The live console's page (recordsync's debug console, served by the
// engine package under the path the configuration gives): one HTML page, its
// script and its style sheet, with no build step and nothing from another
// host.

// ConsoleHTML is the console's page; "{{base}}" stands for the console's
// path (HTML-escaped by whoever serves it).
//
//go:embed console.html
var ConsoleHTML []byte

// ConsoleJS and ConsoleCSS are the page's script and style sheet.
var (
	//go:embed console.js
	ConsoleJS []byte
	//go:embed console.css
	ConsoleCSS []byte
)

// File names of the console's assets under its path.
const (
	ConsoleJSFile  = "console.js"
	ConsoleCSSFile = "console.css"
)

var (
	consoleJS  = newAsset(ConsoleJS)
	consoleCSS = newAsset(ConsoleCSS)
)

// ServeConsoleAsset serves console.js or console.css by the last element of
// the request path (404 for anything else), GET and HEAD only, as the
// kit's files are served (ETag, Cache-Control no-cache).
func ServeConsoleAsset(w http.ResponseWriter, r *http.Request) {
	var a *asset
	ctype := "text/javascript; charset=utf-8"
	switch path.Base(r.URL.Path) {
	case ConsoleJSFile:
		a = &consoleJS
	case ConsoleCSSFile:
		a, ctype = &consoleCSS, "text/css; charset=utf-8"
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
	hdr.Set("Content-Type", ctype)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", a.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
