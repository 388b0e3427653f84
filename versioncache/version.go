package versioncache

import (
	"strconv"
	"strings"
	"time"
)

// Order is the result of comparing two versions.
type Order int

const (
	// Older means the first version is older than the second.
	Older Order = -1
	// Same means the versions are equal.
	Same Order = 0
	// Newer means the first version is newer than the second.
	Newer Order = 1
	// Different means the versions are unequal opaque strings with no order.
	Different Order = 2
)

func (o Order) String() string {
	switch o {
	case Older:
		return "older"
	case Same:
		return "same"
	case Newer:
		return "newer"
	case Different:
		return "different"
	}
	return "Order(" + strconv.Itoa(int(o)) + ")"
}

// Compare orders version a against version b.
//
// Both parse as RFC 3339 timestamps (any fractional precision, as Laravel's
// "2026-01-01T12:00:00.000000Z" or "2026-01-01T12:00:00+00:00"): they compare
// as instants. Both parse as base-10 integers (lock_version columns): they
// compare as numbers. Otherwise they are opaque strings that are either the
// same or Different. Surrounding quotes and a weak-ETag prefix W/ are not part
// of a version; strip them with Normalize first.
func Compare(a, b string) Order {
	if a == b {
		return Same
	}
	if ta, ok := parseTime(a); ok {
		if tb, ok := parseTime(b); ok {
			return cmp(ta.Compare(tb))
		}
	}
	if ia, ok := parseInt(a); ok {
		if ib, ok := parseInt(b); ok {
			switch {
			case ia < ib:
				return Older
			case ia > ib:
				return Newer
			}
			return Same
		}
	}
	return Different
}

func cmp(c int) Order {
	switch {
	case c < 0:
		return Older
	case c > 0:
		return Newer
	}
	return Same
}

// parseTime accepts RFC 3339 with or without fractional seconds, and
// the space-separated "Y-m-d H:i:s[.u]" form Laravel stores (read as UTC) so
// that versions sniffed from a JSON body and those of a raw column compare.
func parseTime(s string) (time.Time, bool) {
	if len(s) < 19 || len(s) > 40 || s[4] != '-' {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02 15:04:05.999999999", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func parseInt(s string) (int64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// Normalize turns a version as it travels in HTTP (an entity-tag such as
// `"2026-01-01T12:00:00.000000Z"` or `W/"7"`) into the bare version. A bare
// version is returned unchanged, trimmed of surrounding space.
func Normalize(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return s
}
