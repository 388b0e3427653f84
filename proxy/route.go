package proxy

import (
	"fmt"
	"strings"

	"github.com/recordsync/recordsync/versioncache"
)

// RouteMatch is a path matched against a record route.
type RouteMatch struct {
	// Type is the route's record type.
	Type string
	// ID is the captured {id}.
	ID string
	// Params are all captured {names}, including "id".
	Params map[string]string
	// Spec is the route the path matched (owned by the Handler: read only).
	Spec *RouteSpec
}

// pattern is a compiled path pattern: one entry per segment, a literal or a
// {name} that matches one non-empty segment.
type pattern struct {
	segs  []segment
	names []string // captured names in order of appearance
}

type segment struct {
	lit   string
	param string // non-empty: this segment is {param}
}

// compilePattern parses a pattern such as "/api/v1/projects/{project}/tasks/{id}".
// Every name in required must appear.
func compilePattern(p string, required ...string) (*pattern, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("pattern %q must start with /", p)
	}
	if strings.ContainsAny(p, "?# \t") {
		return nil, fmt.Errorf("pattern %q must be a bare path", p)
	}
	pt := &pattern{}
	for _, s := range strings.Split(p[1:], "/") {
		if s == "" {
			return nil, fmt.Errorf("pattern %q has an empty segment", p)
		}
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			name := s[1 : len(s)-1]
			if !validName(name) {
				return nil, fmt.Errorf("pattern %q: invalid placeholder {%s}", p, name)
			}
			for _, n := range pt.names {
				if n == name {
					return nil, fmt.Errorf("pattern %q: placeholder {%s} appears twice", p, name)
				}
			}
			pt.names = append(pt.names, name)
			pt.segs = append(pt.segs, segment{param: name})
			continue
		}
		if strings.ContainsAny(s, "{}") {
			return nil, fmt.Errorf("pattern %q: a placeholder must be a whole segment, got %q", p, s)
		}
		pt.segs = append(pt.segs, segment{lit: s})
	}
	for _, r := range required {
		if !pt.has(r) {
			return nil, fmt.Errorf("pattern %q has no {%s}", p, r)
		}
	}
	return pt, nil
}

func (pt *pattern) has(name string) bool {
	for _, n := range pt.names {
		if n == name {
			return true
		}
	}
	return false
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// match reports whether path matches, without allocating.
func (pt *pattern) match(path string) bool {
	i := 0
	for _, s := range pt.segs {
		if i >= len(path) || path[i] != '/' {
			return false
		}
		i++
		j := strings.IndexByte(path[i:], '/')
		if j < 0 {
			j = len(path)
		} else {
			j += i
		}
		seg := path[i:j]
		if s.param != "" {
			if seg == "" {
				return false
			}
		} else if seg != s.lit {
			return false
		}
		i = j
	}
	return i == len(path)
}

// param returns the value of the named placeholder in a path that matched
// ("" for a path that does not).
func (pt *pattern) param(path, name string) string {
	i := 0
	for _, s := range pt.segs {
		i++ // the '/'
		if i > len(path) {
			return ""
		}
		j := strings.IndexByte(path[i:], '/')
		if j < 0 {
			j = len(path)
		} else {
			j += i
		}
		if s.param == name {
			return path[i:j]
		}
		i = j
	}
	return ""
}

// params returns every placeholder of a path that matched (those it can
// find of a path that does not).
func (pt *pattern) params(path string) map[string]string {
	m := make(map[string]string, len(pt.names))
	i := 0
	for _, s := range pt.segs {
		i++
		if i > len(path) {
			break
		}
		j := strings.IndexByte(path[i:], '/')
		if j < 0 {
			j = len(path)
		} else {
			j += i
		}
		if s.param != "" {
			m[s.param] = path[i:j]
		}
		i = j
	}
	return m
}

// route is a compiled RouteSpec.
type route struct {
	spec  *RouteSpec
	pat   *pattern
	lists []listTemplate
	// inertia reads the record from an Inertia page (nil: not configured);
	// inertiaPats are the more patterns of its pages.
	inertia     *reader
	inertiaPats []*pattern
}

// listTemplate is a compiled ListSpec channel: literal parts and the names
// between them.
type listTemplate struct {
	spec  ListSpec
	parts []string // lit, name, lit, name, ..., lit
}

func compileList(l ListSpec, pt *pattern) (listTemplate, error) {
	if l.Channel == "" || l.Event == "" || l.IDKey == "" {
		return listTemplate{}, fmt.Errorf("list needs a channel, an event and an id key, got %q %q %q", l.Channel, l.Event, l.IDKey)
	}
	lt := listTemplate{spec: l}
	rest := l.Channel
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			if strings.ContainsRune(rest, '}') {
				return listTemplate{}, fmt.Errorf("list channel %q: unbalanced }", l.Channel)
			}
			lt.parts = append(lt.parts, rest)
			return lt, nil
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return listTemplate{}, fmt.Errorf("list channel %q: unbalanced {", l.Channel)
		}
		name := rest[open+1 : open+end]
		if !pt.has(name) {
			return listTemplate{}, fmt.Errorf("list channel %q: {%s} is not captured by the pattern", l.Channel, name)
		}
		lt.parts = append(lt.parts, rest[:open], name)
		rest = rest[open+end+1:]
	}
}

func (lt *listTemplate) resolve(params map[string]string) versioncache.List {
	var b strings.Builder
	for i, p := range lt.parts {
		if i%2 == 0 {
			b.WriteString(p)
		} else {
			b.WriteString(params[p])
		}
	}
	return versioncache.List{Channel: b.String(), Event: lt.spec.Event, IDKey: lt.spec.IDKey}
}

// Match matches path against the record routes, in configuration order, and
// returns the first match. It is safe for concurrent use.
func (h *Handler) Match(path string) (RouteMatch, bool) {
	rt, pt := h.matchRoute(path)
	if rt == nil {
		return RouteMatch{}, false
	}
	p := pt.params(path)
	return RouteMatch{Type: rt.spec.Type, ID: p["id"], Params: p, Spec: rt.spec}, true
}

// matchRoute is Match without allocation: the route and which of its
// patterns matched (its own, then its Inertia pages').
func (h *Handler) matchRoute(path string) (*route, *pattern) {
	for i := range h.routes {
		rt := &h.routes[i]
		if rt.pat.match(path) {
			return rt, rt.pat
		}
		for _, pt := range rt.inertiaPats {
			if pt.match(path) {
				return rt, pt
			}
		}
	}
	return nil, nil
}
