package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/pusher"
	"github.com/recordsync/recordsync/versioncache"
	"github.com/tidwall/gjson"
)

// recordObject says where a record's fields are in its JSON: the object
// that holds the version field (VersionField "data.updated_at" → "data",
// "updated_at" → the whole document), and which of its fields are not the
// record's own (the version and who-saved-it fields).
type recordObject struct {
	path string // gjson path of the object; "" for the document itself
	ok   bool   // the version field is a plain dotted path
	skip []string
}

// gjsonSyntax reports whether a path uses gjson syntax beyond dotted keys
// (wildcards, queries, modifiers, escapes).
func gjsonSyntax(p string) bool {
	return strings.ContainsAny(p, `*?#|@\!=<>%`)
}

// plainPath reports whether p is a dotted path of plain keys.
func plainPath(p string) bool {
	return p != "" && !gjsonSyntax(p)
}

// SplitPath splits a dotted path at its last dot: "data.updated_at" →
// "data", "updated_at"; "updated_at" → "", "updated_at".
func SplitPath(p string) (parent, key string) {
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

func newRecordObject(versionField, byID, byName string) recordObject {
	if !plainPath(versionField) {
		return recordObject{}
	}
	ro := recordObject{ok: true}
	parent, last := SplitPath(versionField)
	ro.path = parent
	ro.skip = append(ro.skip, last)
	for _, f := range []string{byID, byName} {
		if !plainPath(f) {
			continue
		}
		if p, l := SplitPath(f); p == parent {
			ro.skip = append(ro.skip, l)
		}
	}
	return ro
}

// fields fingerprints the record object of a valid JSON answer.
func (ro recordObject) fields(p *versioncache.Printer, body []byte) versioncache.Fields {
	if p == nil || !ro.ok {
		return versioncache.Fields{}
	}
	obj := gjson.ParseBytes(body)
	if ro.path != "" {
		obj = gjson.GetBytes(body, ro.path)
	}
	f, _ := p.Record(obj, func(name string) bool { return slices.Contains(ro.skip, name) })
	return f
}

// bodyChanges is what a stale write's JSON body changes against the
// version it was loaded on.
type bodyChanges struct {
	// fields are the body's record fields (the loaded-version field, _token
	// and _method left out) with their prints and kinds.
	fields []bodyField
	// yours names the fields whose value differs from the loaded
	// version's (or that it does not show): what the write changes.
	yours []string
}

type bodyField struct {
	name  string
	print uint64
	kind  byte
}

// readBodyChanges reads a write's JSON body as Laravel would
// (laravel.ReadJSONFields) and compares it with loaded, the Fields of the
// version the write was loaded on. ok is false when the body cannot be
// read that way or a value cannot be fingerprinted.
func (h *Handler) readBodyChanges(r *http.Request, loaded versioncache.Fields) (bc bodyChanges, ok bool) {
	if h.opts.Printer == nil {
		return bc, false
	}
	members, err := laravel.ReadJSONFields(r, h.opts.MaxBodyBytes)
	if err != nil {
		return bc, false
	}
	versionKey, _, _ := strings.Cut(h.opts.ClientVersionField, ".")
	names := make([]string, 0, len(members))
	for name := range members {
		if name == versionKey || name == "_token" || name == "_method" {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		pr, kind, good := h.opts.Printer.Value(gjson.ParseBytes(members[name]))
		if !good {
			return bodyChanges{}, false
		}
		bc.fields = append(bc.fields, bodyField{name, pr, kind})
		if lp, lk, has := loaded.Lookup(name); !has || lp != pr || lk != kind {
			bc.yours = append(bc.yours, name)
		}
	}
	if bc.yours == nil {
		bc.yours = []string{}
	}
	return bc, true
}

// mergeable reports whether every field of the body is untouched between
// the loaded version and the current one: shown by both, not
// caller-dependent, with the same print and kind. A body field is taken
// for the record field of the same name only when it is sent in the kind
// of JSON value the record shows (a null on either side fits any kind: a
// nullable field); one sent in another kind (a number where the record
// shows a string, an object where it shows an array) may be another thing
// of the same name, and counts as touched. Such a PATCH changes nothing
// anyone else changed.
func (bc bodyChanges) mergeable(loaded, cur versioncache.Fields) bool {
	if !loaded.Known() || !cur.Known() {
		return false
	}
	for _, f := range bc.fields {
		lp, lk, inLoaded := loaded.Lookup(f.name)
		cp, ck, inCur := cur.Lookup(f.name)
		if !inLoaded || !inCur || lp == versioncache.Varies || cp == versioncache.Varies {
			return false
		}
		if lp != cp || lk != ck || (f.kind != lk && f.kind != versioncache.KindNull && lk != versioncache.KindNull) {
			return false
		}
	}
	return true
}

// conflictDetail is what a conflict answered at the edge says about the
// fields: changed since the caller's version, changed by the caller, and
// both. A nil list is unknown and left out.
type conflictDetail struct {
	changed, yours, overlap []string
}

// detail works out the conflictDetail of a stale write loaded on version
// loaded when cur is the current entry.
func (h *Handler) detail(r *http.Request, key versioncache.Key, loaded string, cur versioncache.Entry) (d conflictDetail, bc bodyChanges, bodyOK bool, loadedFields versioncache.Fields) {
	loadedFields, held := h.store.FieldsAt(key, loaded)
	if held && cur.Fields.Known() {
		d.changed = versioncache.Changed(loadedFields, cur.Fields)
	}
	if held {
		if bc, bodyOK = h.readBodyChanges(r, loadedFields); bodyOK {
			d.yours = bc.yours
		}
	}
	if d.changed != nil && d.yours != nil {
		d.overlap = []string{}
		for _, n := range d.yours {
			if slices.Contains(d.changed, n) {
				d.overlap = append(d.overlap, n)
			}
		}
	}
	return d, bc, bodyOK, loadedFields
}

// appendNames appends ,"key":["a","b"] when names is known.
func appendNames(b []byte, key string, names []string) []byte {
	if names == nil {
		return b
	}
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":[`...)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = pusher.AppendJSONString(b, n)
	}
	return append(b, ']')
}

// rewriteLoaded makes a write carry version v where it carried the version
// it was loaded on: If-Match, and the client-version field of its JSON
// body (a unique key at every level, which loadedVersion required). It
// reports false, changing nothing, when the body's field cannot be
// rewritten in place.
func (h *Handler) rewriteLoaded(r *http.Request, v string) bool {
	tag, ok := etag(v)
	if !ok || !utf8.ValidString(v) {
		return false
	}
	body, complete := laravel.PeekBody(r, h.opts.MaxBodyBytes)
	if !complete {
		return false
	}
	var out []byte
	if res, unique := uniquePath(body, h.opts.ClientVersionField); unique && res.Exists() {
		if res.Index <= 0 || res.Index+len(res.Raw) > len(body) || string(body[res.Index:res.Index+len(res.Raw)]) != res.Raw {
			return false
		}
		quoted, err := json.Marshal(v)
		if err != nil {
			return false
		}
		if res.Type == gjson.Number {
			if _, err := strconv.ParseInt(v, 10, 64); err == nil {
				quoted = []byte(v) // a lock_version stays a number
			}
		}
		out = make([]byte, 0, len(body)+len(quoted))
		out = append(out, body[:res.Index]...)
		out = append(out, quoted...)
		out = append(out, body[res.Index+len(res.Raw):]...)
	} else if !unique {
		return false
	}
	if len(r.Header.Values("If-Match")) > 0 {
		r.Header.Set("If-Match", tag)
	}
	if out != nil {
		r.Body = io.NopCloser(bytes.NewReader(out))
		r.ContentLength = int64(len(out))
		r.Header.Set("Content-Length", strconv.Itoa(len(out)))
	}
	return true
}
