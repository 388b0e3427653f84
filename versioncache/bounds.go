package versioncache

import "unicode/utf8"

// Bounds of what an Entry holds, whoever learned it (an app's answer, an
// event of the app, another instance): a version longer than
// MaxVersionBytes is not learned (Laravel's microsecond updated_at is 27
// bytes, a lock_version at most 20); an updated_by_id whose JSON is longer
// than MaxByIDBytes is not kept (raw JSON cannot be cut); an
// updated_by_name is cut to MaxNameBytes with TruncateUTF8. record.updated
// carries them on within these bounds.
const (
	MaxVersionBytes = 64
	MaxByIDBytes    = 64
	MaxNameBytes    = 120
)

// TruncateUTF8 cuts s to at most n bytes without splitting a UTF-8
// character.
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
