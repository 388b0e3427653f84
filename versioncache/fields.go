package versioncache

import (
	"crypto/rand"
	"crypto/sha256"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/tidwall/gjson"
)

// Bounds of a record's field fingerprints. A record object with more than
// MaxFields top-level fields, a field name longer than MaxFieldNameBytes,
// a value nested deeper than maxDepth, a duplicated key anywhere (PHP's
// json_decode keeps the last, gjson the first) or a number whose exponent
// cannot be held gets no fingerprints at all: its changes are unknown,
// never guessed from part of it.
const (
	MaxFields         = 64
	MaxFieldNameBytes = 64
	maxDepth          = 32
)

// Kinds of a field's JSON value.
const (
	KindString = 's'
	KindNumber = 'n'
	KindBool   = 'b'
	KindNull   = 'z'
	KindObject = 'o'
	KindArray  = 'a'
)

// Varies is the print of a field that is caller-dependent: two answers
// for the same version of the record showed it differently (a per-user
// field such as can_edit), or one showed it and another did not. Such a
// field is never reported as changed and never makes a merge safe.
const Varies uint64 = 0

// Fields are the fingerprints of the top-level fields of one version of a
// record: for each field its name, a keyed hash of its canonical JSON (keys
// sorted, numbers and string escapes normalised) and the kind of its
// value, never the value itself. The zero Fields is unknown (no body was
// seen, or the record could not be fingerprinted). Fields are immutable.
type Fields struct {
	shape  *shape   // the sorted names, shared by records of one shape
	prints []uint64 // per name; Varies for a caller-dependent field
	kinds  []byte   // per name
}

// shape is a sorted list of field names, interned so that the versions of
// all records of one type (which show the same fields) share one copy.
type shape struct {
	names []string
}

// maxShapes bounds the interned shapes; past it a shape is not shared.
const maxShapes = 4096

var shapes struct {
	mu   sync.Mutex
	seed maphash.Seed
	m    map[uint64][]*shape
}

func init() { shapes.seed = maphash.MakeSeed() }

// lookupShape returns the interned shape of the n names name(0..n-1),
// making one with newNames() when there is none.
func lookupShape(n int, name func(int) string, newNames func() []string) *shape {
	var h maphash.Hash
	h.SetSeed(shapes.seed)
	for i := range n {
		h.WriteString(name(i))
		h.WriteByte(0)
	}
	sum := h.Sum64()
	shapes.mu.Lock()
	defer shapes.mu.Unlock()
next:
	for _, s := range shapes.m[sum] {
		if len(s.names) != n {
			continue
		}
		for i, have := range s.names {
			if have != name(i) {
				continue next
			}
		}
		return s
	}
	s := &shape{names: newNames()}
	if shapes.m == nil {
		shapes.m = make(map[uint64][]*shape)
	}
	if len(shapes.m) < maxShapes {
		shapes.m[sum] = append(shapes.m[sum], s)
	}
	return s
}

func internShape(names []string) *shape {
	return lookupShape(len(names), func(i int) string { return names[i] }, func() []string { return names })
}

// Known reports whether f holds fingerprints.
func (f Fields) Known() bool { return f.shape != nil }

// Len is the number of fields.
func (f Fields) Len() int {
	if f.shape == nil {
		return 0
	}
	return len(f.shape.names)
}

// Field returns the i-th field (by name order).
func (f Fields) Field(i int) (name string, print uint64, kind byte) {
	return f.shape.names[i], f.prints[i], f.kinds[i]
}

// Lookup returns the print and kind of the field called name.
func (f Fields) Lookup(name string) (print uint64, kind byte, ok bool) {
	if f.shape == nil {
		return 0, 0, false
	}
	i, found := slices.BinarySearch(f.shape.names, name)
	if !found {
		return 0, 0, false
	}
	return f.prints[i], f.kinds[i], true
}

// identical reports whether f and g are the same Fields value (not merely
// equal prints).
func (f Fields) identical(g Fields) bool {
	return f.shape == g.shape && len(f.prints) == len(g.prints) && (len(f.prints) == 0 || &f.prints[0] == &g.prints[0])
}

// bytes is about how much memory f holds of its own (the shape is shared).
func (f Fields) bytes() int {
	return len(f.prints)*8 + len(f.kinds) + 56
}

// NewFields builds Fields from parallel lists (as they travel between the
// instances of a cluster). The names must be sorted, distinct and within
// the bounds above, and every kind one of the Kind constants.
func NewFields(names []string, prints []uint64, kinds []byte) (Fields, bool) {
	if len(names) == 0 || len(names) > MaxFields || len(prints) != len(names) || len(kinds) != len(names) {
		return Fields{}, false
	}
	for i, n := range names {
		if n == "" || len(n) > MaxFieldNameBytes || (i > 0 && names[i-1] >= n) {
			return Fields{}, false
		}
		switch kinds[i] {
		case KindString, KindNumber, KindBool, KindNull, KindObject, KindArray:
		default:
			return Fields{}, false
		}
	}
	return Fields{shape: internShape(slices.Clone(names)), prints: slices.Clone(prints), kinds: slices.Clone(kinds)}, true
}

// Printer fingerprints JSON values with a key, so that a print says
// nothing about a value to whoever does not hold the key (a boolean has
// two values; its unkeyed hash would be the value). The instances of a
// cluster share the key, derived from the cluster's secret, for their
// prints to compare.
type Printer struct {
	key [16]byte
}

// NewPrinter returns a Printer keyed by secret; an empty secret gets a
// random key (prints then compare within this process only).
func NewPrinter(secret []byte) *Printer {
	p := &Printer{}
	if len(secret) == 0 {
		_, _ = rand.Read(p.key[:])
		return p
	}
	sum := sha256.Sum256(append([]byte("recordsync field fingerprints\x00"), secret...))
	copy(p.key[:], sum[:])
	return p
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Value returns the print and kind of one JSON value (gjson's result of a
// document gjson.Valid accepted); ok is false when it cannot be
// fingerprinted (see the bounds above).
func (p *Printer) Value(v gjson.Result) (print uint64, kind byte, ok bool) {
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], p.key[:]...)
	b, ok = canonical(b, v, 0)
	if ok {
		print = xxhash.Sum64(b)
		if print == Varies {
			print = 1
		}
		kind = kindOf(v)
	}
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		bufPool.Put(bp)
	}
	return print, kind, ok
}

// Record fingerprints the top-level fields of a record object, leaving out
// the fields skip names (the version and who-saved-it fields). ok is false
// for a value that is not an object, or one out of bounds.
func (p *Printer) Record(obj gjson.Result, skip func(name string) bool) (Fields, bool) {
	if !obj.IsObject() {
		return Fields{}, false
	}
	type field struct {
		name  string
		print uint64
		kind  byte
	}
	var buf [MaxFields]field
	fs := buf[:0]
	ok := true
	n := 0
	obj.ForEach(func(k, v gjson.Result) bool {
		n++
		if n > MaxFields*2 {
			ok = false
			return false
		}
		name := k.String()
		if skip != nil && skip(name) {
			return true
		}
		if len(fs) == MaxFields || len(name) > MaxFieldNameBytes || name == "" {
			ok = false
			return false
		}
		pr, kind, good := p.Value(v)
		if !good {
			ok = false
			return false
		}
		fs = append(fs, field{name, pr, kind})
		return true
	})
	if !ok || len(fs) == 0 {
		return Fields{}, false
	}
	slices.SortFunc(fs, func(a, b field) int { return strings.Compare(a.name, b.name) })
	for i := 1; i < len(fs); i++ {
		if fs[i].name == fs[i-1].name {
			return Fields{}, false // duplicated key: PHP and gjson disagree
		}
	}
	out := Fields{prints: make([]uint64, len(fs)), kinds: make([]byte, len(fs))}
	for i, f := range fs {
		out.prints[i], out.kinds[i] = f.print, f.kind
	}
	out.shape = lookupShape(len(fs), func(i int) string { return fs[i].name }, func() []string {
		names := make([]string, len(fs))
		for i, f := range fs {
			names[i] = strings.Clone(f.name)
		}
		return names
	})
	return out, true
}

func kindOf(v gjson.Result) byte {
	switch v.Type {
	case gjson.String:
		return KindString
	case gjson.Number:
		return KindNumber
	case gjson.True, gjson.False:
		return KindBool
	case gjson.Null:
		return KindNull
	}
	if v.IsArray() {
		return KindArray
	}
	return KindObject
}

// canonical appends an unambiguous encoding of v's value to b: a tag, then
// strings as their decoded bytes with their length, numbers as exact
// decimals (1.50, 1.5 and 15e-1 alike), objects with their keys sorted,
// arrays in order. Two JSON texts encode alike exactly when PHP's
// json_decode reads them as the same value (up to float rounding, which
// only makes more values differ).
func canonical(b []byte, v gjson.Result, depth int) ([]byte, bool) {
	switch v.Type {
	case gjson.String:
		return appendString(append(b, 's'), v.Str), true
	case gjson.Number:
		return appendNumber(append(b, 'n'), v.Raw)
	case gjson.True:
		return append(b, 't'), true
	case gjson.False:
		return append(b, 'f'), true
	case gjson.Null:
		return append(b, 'z'), true
	}
	if depth >= maxDepth {
		return b, false
	}
	if v.IsArray() {
		b = append(b, 'a')
		ok := true
		n := 0
		v.ForEach(func(_, e gjson.Result) bool {
			n++
			b, ok = canonical(b, e, depth+1)
			return ok
		})
		return strconv.AppendInt(append(b, '#'), int64(n), 10), ok
	}
	if !v.IsObject() {
		return b, false
	}
	type member struct {
		key string
		val gjson.Result
	}
	var members []member
	v.ForEach(func(k, e gjson.Result) bool {
		members = append(members, member{k.String(), e})
		return true
	})
	slices.SortFunc(members, func(x, y member) int { return strings.Compare(x.key, y.key) })
	b = strconv.AppendInt(append(b, 'o'), int64(len(members)), 10)
	for i, m := range members {
		if i > 0 && members[i-1].key == m.key {
			return b, false
		}
		b = appendString(b, m.key)
		var ok bool
		if b, ok = canonical(b, m.val, depth+1); !ok {
			return b, false
		}
	}
	return b, true
}

func appendString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// appendNumber appends the exact decimal value of a JSON number as
// [-]digits e exponent, with the digits stripped of leading and trailing
// zeros (zero is "0", whatever its sign).
func appendNumber(b []byte, raw string) ([]byte, bool) {
	neg := strings.HasPrefix(raw, "-")
	raw = strings.TrimPrefix(raw, "-")
	mant, exp := raw, ""
	if i := strings.IndexAny(raw, "eE"); i >= 0 {
		mant, exp = raw[:i], raw[i+1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	e := int64(0)
	if exp != "" {
		exp = strings.TrimPrefix(exp, "+")
		if len(strings.TrimLeft(strings.TrimPrefix(exp, "-"), "0")) > 15 {
			return b, false // 1e1000000000000000: no exact form worth holding
		}
		n, err := strconv.ParseInt(exp, 10, 64)
		if err != nil {
			return b, false
		}
		e = n
	}
	e -= int64(len(frac))
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return append(b, '0'), true
	}
	for len(digits) > 1 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		e++
	}
	if neg {
		b = append(b, '-')
	}
	b = append(b, digits...)
	b = append(b, 'e')
	return strconv.AppendInt(b, e, 10), true
}

// Changed returns the names of the fields whose print differs between two
// versions' Fields (also the fields one shows and the other does not),
// leaving out the caller-dependent ones; nil when either is unknown, an
// empty (non-nil) list when nothing differs.
func Changed(prev, cur Fields) []string {
	if !prev.Known() || !cur.Known() {
		return nil
	}
	out := []string{}
	walk(prev, cur, func(name string, a, b int) {
		switch {
		case a < 0:
			if cur.prints[b] != Varies {
				out = append(out, name)
			}
		case b < 0:
			if prev.prints[a] != Varies {
				out = append(out, name)
			}
		case prev.prints[a] == Varies || cur.prints[b] == Varies:
		case prev.prints[a] != cur.prints[b] || prev.kinds[a] != cur.kinds[b]:
			out = append(out, name)
		}
	})
	return out
}

// walk calls fn for every name of a or b in order, with its index in each
// (-1 where it is missing).
func walk(a, b Fields, fn func(name string, i, j int)) {
	an, bn := a.shape.names, b.shape.names
	i, j := 0, 0
	for i < len(an) || j < len(bn) {
		switch {
		case j == len(bn) || (i < len(an) && an[i] < bn[j]):
			fn(an[i], i, -1)
			i++
		case i == len(an) || bn[j] < an[i]:
			fn(bn[j], -1, j)
			j++
		default:
			fn(an[i], i, j)
			i++
			j++
		}
	}
}

// sameVersion combines the Fields of two answers for the same version of a
// record: a field they show differently, or that only one shows, becomes
// Varies (caller- or route-dependent). It returns held itself when nothing
// changes.
func sameVersion(held, seen Fields) Fields {
	if !seen.Known() {
		return held
	}
	if !held.Known() {
		return seen
	}
	var names []string
	var prints []uint64
	var kinds []byte
	changed := false
	walk(held, seen, func(name string, i, j int) {
		names = append(names, name)
		switch {
		case i < 0:
			prints, kinds = append(prints, Varies), append(kinds, seen.kinds[j])
			changed = true
		case j < 0:
			prints, kinds = append(prints, Varies), append(kinds, held.kinds[i])
			changed = changed || held.prints[i] != Varies
		case held.prints[i] != seen.prints[j] || held.kinds[i] != seen.kinds[j]:
			prints, kinds = append(prints, Varies), append(kinds, held.kinds[i])
			changed = changed || held.prints[i] != Varies
		default:
			prints, kinds = append(prints, held.prints[i]), append(kinds, held.kinds[i])
		}
	})
	if !changed || len(names) > MaxFields {
		if len(names) > MaxFields {
			return Fields{}
		}
		return held
	}
	return Fields{shape: internShape(names), prints: prints, kinds: kinds}
}

// inherit marks Varies in next every field prev marked Varies: a field
// found caller-dependent stays so in the record's later versions.
func inherit(prev, next Fields) Fields {
	if !prev.Known() || !next.Known() {
		return next
	}
	var varies []string
	for i, p := range prev.prints {
		if p == Varies {
			varies = append(varies, prev.shape.names[i])
		}
	}
	return markVaries(next, varies)
}

// markVaries marks Varies in f the fields named in names.
func markVaries(f Fields, names []string) Fields {
	if !f.Known() || len(names) == 0 {
		return f
	}
	var prints []uint64
	for _, n := range names {
		i, found := slices.BinarySearch(f.shape.names, n)
		if !found || f.prints[i] == Varies {
			continue
		}
		if prints == nil {
			prints = slices.Clone(f.prints)
		}
		prints[i] = Varies
	}
	if prints == nil {
		return f
	}
	return Fields{shape: f.shape, prints: prints, kinds: f.kinds}
}
