package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/versioncache"
	"github.com/tidwall/gjson"
	"golang.org/x/net/html"
)

// Inertia (https://inertiajs.com/the-protocol) answers a visit with a page
// object, {"component":..,"props":{..},"url":..,"version":..}: as JSON with
// the header X-Inertia: true to a request that carries X-Inertia, and on a
// first load inside the HTML, where the adapter's root view puts it
// (inertia-laravel's @inertia Blade directive, src/Directive.php):
//
//	3.x  <script data-page="app" type="application/json">{...}</script>
//	2.x  <div id="app" data-page="{&quot;component&quot;:...}"></div>
//
// A form submitted through Inertia's router (a PUT, PATCH or a POST with
// _method) is answered with a redirect, 303 for PUT/PATCH/DELETE
// (inertia-laravel src/Middleware.php, onEmptyResponse/redirect handling),
// which the browser's XHR follows with the same headers to the next page.

// HeaderInertia marks Inertia's requests and its JSON page answers.
const HeaderInertia = "X-Inertia"

// inertiaFollowWait bounds how long a record's turn waits, after an
// Inertia write answered with a redirect to the record's page, for the page
// the browser follows to (it comes right behind the redirect; a client that
// does not follow costs the next writer at most this).
const inertiaFollowWait = 3 * time.Second

// reader says where an answer holds a record: the gjson paths of its
// version and of who saved it, and its record object.
type reader struct {
	version, byID, byName string
	record                recordObject
}

func newReader(version, byID, byName string) *reader {
	return &reader{version: version, byID: byID, byName: byName, record: newRecordObject(version, byID, byName)}
}

// inertia is the reader of the same record in an Inertia page, its record
// object at props.<props>: the fields keep their names relative to the
// record object ("data.updated_by" → "props.flow.updated_by"); a
// who-saved-it field outside the record object is not read there.
func (rd *reader) inertia(props string) (*reader, error) {
	if !rd.record.ok {
		return nil, fmt.Errorf("inertia: version_field %q must be a plain dotted path", rd.version)
	}
	if !plainPath(props) || strings.HasPrefix(props, ".") || strings.HasSuffix(props, ".") || strings.Contains(props, "..") {
		return nil, fmt.Errorf("inertia: want the dotted path of the record in the page's props, e.g. flow, got %q", props)
	}
	base := "props." + props
	rel := func(p string) string {
		switch {
		case !plainPath(p):
			return ""
		case rd.record.path == "":
			return base + "." + p
		case strings.HasPrefix(p, rd.record.path+"."):
			return base + p[len(rd.record.path):]
		}
		return ""
	}
	return newReader(rel(rd.version), rel(rd.byID), rel(rd.byName)), nil
}

// inertiaRequest reports whether r is an Inertia visit (X-Inertia: true).
func inertiaRequest(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get(HeaderInertia), "true")
}

// inertiaPage returns the page object of an answer to an Inertia route: the
// JSON body of an X-Inertia answer to an X-Inertia request, or the one page
// object of an HTML answer to a plain request. ok is false for anything
// else, and for HTML that holds no page object or more than one.
func inertiaPage(r *http.Request, rec *recorder) (page []byte, ok bool) {
	hdr := rec.Header()
	if inertiaRequest(r) {
		if !strings.EqualFold(hdr.Get(HeaderInertia), "true") || !isJSON(hdr.Get("Content-Type")) {
			return nil, false
		}
		page = rec.body()
	} else {
		if !isHTML(hdr.Get("Content-Type")) {
			return nil, false
		}
		if page, ok = pageFromHTML(rec.body()); !ok {
			return nil, false
		}
	}
	if !gjson.ValidBytes(page) {
		return nil, false
	}
	if c := gjson.GetBytes(page, "component"); c.Type != gjson.String || !gjson.GetBytes(page, "props").IsObject() {
		return nil, false
	}
	return page, true
}

func isHTML(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "text/html")
}

// pageFromHTML finds the page object in an HTML document as a browser's
// HTML parser reads it (golang.org/x/net/html's tokenizer follows the HTML
// standard's tokenization): the text of a <script data-page type=
// "application/json"> element, or the entity-decoded value of another
// element's data-page attribute. A document with more than one data-page
// attribute is refused: which one the page's script reads would be a guess.
func pageFromHTML(doc []byte) ([]byte, bool) {
	if !bytes.Contains(doc, []byte("data-page")) {
		return nil, false
	}
	z := html.NewTokenizer(bytes.NewReader(doc))
	var page []byte
	found := 0
	inScript := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			// io.EOF, or the tokenizer gave up: a page read so far stands
			// only if the whole document was read.
			return page, found == 1 && page != nil && errors.Is(z.Err(), io.EOF)
		case html.TextToken:
			if inScript {
				page = bytes.Clone(z.Text())
				inScript = false
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			inScript = false
			name, hasAttr := z.TagName()
			var dataPage, typ string
			has := false
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				switch string(k) {
				case "data-page":
					if has {
						return nil, false // twice on one element
					}
					has, dataPage = true, string(v)
				case "type":
					typ = string(v)
				}
			}
			if !has {
				continue
			}
			found++
			if found > 1 {
				return nil, false
			}
			if string(name) == "script" {
				if !strings.EqualFold(typ, "application/json") {
					return nil, false
				}
				inScript = true
				continue
			}
			page = []byte(dataPage)
		default:
			inScript = false
		}
	}
}

// follow is a record's turn kept, after an Inertia write was answered with
// a redirect to the record's page, for the page the browser follows to:
// what that page shows is the write's save.
type follow struct {
	held  *heldTurn
	cred  string
	timer *time.Timer
	// before is the version held when the write went to the app ("":
	// none): the page's version must be newer to be the write's save.
	before string
	// The write's own: announce it (or not) as the write would have.
	announce  bool
	published published
}

// follows are the turns kept for the pages Inertia's redirects lead to, by
// record. A follow is taken out of the map by exactly one of: the page
// (take) or its timer; whoever takes it releases its turn.
type follows struct {
	mu sync.Mutex
	m  map[versioncache.Key]*follow
}

func newFollows() *follows { return &follows{m: make(map[versioncache.Key]*follow)} }

// keep keeps f's turn for the page at k, for at most inertiaFollowWait.
func (fs *follows) keep(k versioncache.Key, f *follow) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if old := fs.m[k]; old != nil {
		// Cannot happen while f holds k's turn; give the old one up.
		old.timer.Stop()
		delete(fs.m, k)
		old.held.release()
	}
	fs.m[k] = f
	f.timer = time.AfterFunc(inertiaFollowWait, func() {
		fs.mu.Lock()
		cur := fs.m[k]
		if cur == f {
			delete(fs.m, k)
		}
		fs.mu.Unlock()
		if cur == f {
			f.held.obs.Refused(RefusedInertiaUnfollowed)
			f.held.release()
		}
	})
}

// take returns the follow kept at k for cred, if any, and removes it.
func (fs *follows) take(k versioncache.Key, cred string) *follow {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.m[k]
	if f == nil || f.cred != cred || cred == "" {
		return nil
	}
	delete(fs.m, k)
	f.timer.Stop()
	return f
}

// redirectTo reports whether a redirect answer to r leads to path on the
// same site: its Location, resolved against the request, on the request's
// host, read as Laravel's router reads a path.
func redirectTo(r *http.Request, location string) (string, bool) {
	if location == "" {
		return "", false
	}
	u, err := url.Parse(location)
	if err != nil {
		return "", false
	}
	if u.Scheme != "" || u.Host != "" {
		if !strings.EqualFold(u.Host, r.Host) || (u.Scheme != "http" && u.Scheme != "https") {
			return "", false
		}
	}
	if u.Path == "" || !strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	return laravel.RoutePath(u), true
}
