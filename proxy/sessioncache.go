package proxy

import (
	"hash/maphash"
	"sync/atomic"
)

// sessionCache remembers what a Laravel encrypted cookie verified as, so
// that a tab polling with the same cookies is not decrypted (AES, HMAC,
// JSON: most of a poll's CPU) on every request. Laravel re-encrypts the
// session cookie on each response that sets it, but a poll answered from
// the cache sets none, so a polling tab repeats the same value; its other
// encrypted cookies (a remember-me cookie) keep theirs for long.
//
// Direct-mapped: a cookie has one slot, chosen by a seeded hash of its
// value, and a newer cookie in the slot replaces the older. A hit compares
// the whole name and value, so a hash collision is a miss, never another
// session. Only cookies that verified are stored (a forged one fails the
// MAC and takes no slot), with the session id they hold or, for one that
// holds no session id, nothing (its plaintext is not kept). The cache
// belongs to the Handler, so to one set of keys. Memory is bounded by
// sessionCacheSlots entries; no locks, no goroutine.
type sessionCache struct {
	seed  maphash.Seed
	slots [sessionCacheSlots]atomic.Pointer[sessionEntry]
}

// sessionCacheSlots: a few thousand concurrently polling sessions per
// instance hit; more share slots and decrypt again (still correct).
const sessionCacheSlots = 4096

type sessionEntry struct {
	name, value string
	// id is the session id the cookie holds; "" when it verified but
	// holds none.
	id string
}

func newSessionCache() *sessionCache { return &sessionCache{seed: maphash.MakeSeed()} }

func (c *sessionCache) slot(value string) *atomic.Pointer[sessionEntry] {
	return &c.slots[maphash.String(c.seed, value)%sessionCacheSlots]
}

// get returns what the cookie name=value verified as, if remembered.
func (c *sessionCache) get(name, value string) (id string, ok bool) {
	if e := c.slot(value).Load(); e != nil && e.value == value && e.name == name {
		return e.id, true
	}
	return "", false
}

// put remembers that the cookie name=value verified, holding the session
// id ("" for none).
func (c *sessionCache) put(name, value, id string) {
	c.slot(value).Store(&sessionEntry{name: name, value: value, id: id})
}
