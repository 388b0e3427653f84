package proxy

import (
	"hash/maphash"
	"sync/atomic"
)

// sessionCache remembers which session id a Laravel session cookie value
// decrypted to, so that a tab polling with the same cookie is not decrypted
// (AES-CBC, HMAC, JSON: most of a poll's CPU) on every request. Laravel
// re-encrypts the cookie on each response that sets it, but a poll answered
// from the cache sets none, so a polling tab repeats the same value.
//
// Direct-mapped: a value has one slot, chosen by a seeded hash, and a newer
// value in the slot replaces the older. A hit compares the whole cookie
// value, so a hash collision is a miss, never another session. Only values
// that verified are stored (a forged cookie fails the MAC and takes no
// slot), and the cache belongs to the Handler, so to one app key. Memory is
// bounded by sessionCacheSlots entries; no locks, no goroutine.
type sessionCache struct {
	seed  maphash.Seed
	slots [sessionCacheSlots]atomic.Pointer[sessionEntry]
}

// sessionCacheSlots: a few thousand concurrently polling sessions per
// instance hit; more share slots and decrypt again (still correct).
const sessionCacheSlots = 4096

type sessionEntry struct {
	cookie, id string
}

func newSessionCache() *sessionCache { return &sessionCache{seed: maphash.MakeSeed()} }

func (c *sessionCache) slot(cookie string) *atomic.Pointer[sessionEntry] {
	return &c.slots[maphash.String(c.seed, cookie)%sessionCacheSlots]
}

// get returns the session id cookie decrypted to, if remembered.
func (c *sessionCache) get(cookie string) (string, bool) {
	if e := c.slot(cookie).Load(); e != nil && e.cookie == cookie {
		return e.id, true
	}
	return "", false
}

// put remembers that cookie (verified) decrypted to id.
func (c *sessionCache) put(cookie, id string) {
	c.slot(cookie).Store(&sessionEntry{cookie: cookie, id: id})
}
