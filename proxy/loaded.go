package proxy

import (
	"net/http"
	"strings"

	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/versioncache"
	"github.com/tidwall/gjson"
)

// loadedVersion returns the version the client loaded before this write:
// the first entity-tag of If-Match (RFC 9110 §13.1.1; "*" names none), else
// the ClientVersionField of a JSON body within the cap. It always leaves
// r.Body readable byte for byte as it arrived.
func (h *Handler) loadedVersion(r *http.Request) string {
	if v := ifMatchVersion(r.Header.Values("If-Match")); v != "" {
		return v
	}
	return bodyVersion(r, h.opts.ClientVersionField, h.opts.MaxBodyBytes)
}

// ifMatchVersion returns the first entity-tag of If-Match, normalised, or "".
func ifMatchVersion(values []string) string {
	if len(values) == 0 {
		return ""
	}
	tag := firstETag(values[0])
	if tag == "*" {
		return ""
	}
	return bare(tag)
}

// bare is versioncache.Normalize, also trimming space inside the quotes:
// an entity-tag holds no space (RFC 9110 §8.8.3), and a version read from
// JSON with stray spaces is the same version.
func bare(s string) string {
	return strings.TrimSpace(versioncache.Normalize(s))
}

// firstETag returns the first member of an entity-tag list: `W/"a", "b"` →
// `W/"a"`. Commas inside a quoted tag do not split it; a bare (unquoted)
// value, which clients send in practice, ends at the first comma.
func firstETag(s string) string {
	s = strings.TrimLeft(s, " \t,")
	i := 0
	if strings.HasPrefix(s, "W/") {
		i = 2
	}
	if i < len(s) && s[i] == '"' {
		if end := strings.IndexByte(s[i+1:], '"'); end >= 0 {
			return s[:i+1+end+1]
		}
		return strings.TrimSpace(s)
	}
	if c := strings.IndexByte(s, ','); c >= 0 {
		s = s[:c]
	}
	return strings.TrimSpace(s)
}

// bodyVersion reads the loaded version from a JSON request body. Bodies that
// are not JSON, are compressed, or are larger than max are not inspected.
// Whatever it reads it puts back in front of the rest of the body.
func bodyVersion(r *http.Request, field string, max int64) string {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || r.ContentLength > max {
		return ""
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return ""
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return ""
	}
	b, complete := laravel.PeekBody(r, max)
	if !complete {
		return ""
	}
	if !gjson.ValidBytes(b) {
		return ""
	}
	res, ok := uniquePath(b, field)
	if !ok {
		return ""
	}
	return versionString(res)
}

// uniquePath reads the value at a dotted path of a JSON document, but only
// when every key along the path appears once in its object: PHP's
// json_decode keeps the last of duplicate keys where gjson finds the first,
// so a duplicated key is read as no version (the request goes to the app,
// which decides) rather than as one the app may not see. A path with gjson
// syntax beyond plain dotted keys is read with gjson alone.
func uniquePath(b []byte, field string) (gjson.Result, bool) {
	if gjsonSyntax(field) {
		return gjson.GetBytes(b, field), true
	}
	cur := gjson.ParseBytes(b)
	for _, key := range strings.Split(field, ".") {
		if !cur.IsObject() {
			return gjson.Result{}, true
		}
		var found gjson.Result
		n := 0
		cur.ForEach(func(k, v gjson.Result) bool {
			if k.Str == key {
				found = v
				n++
			}
			return n < 2
		})
		if n > 1 {
			return gjson.Result{}, false
		}
		if n == 0 {
			return gjson.Result{}, true
		}
		cur = found
	}
	return cur, true
}

// versionString turns a gjson result into a bare version: strings and
// numbers (lock_version columns) count, anything else is no version.
func versionString(res gjson.Result) string {
	switch res.Type {
	case gjson.String:
		return bare(res.String())
	case gjson.Number:
		return strings.TrimSpace(res.Raw)
	}
	return ""
}
