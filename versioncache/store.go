package versioncache

import (
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Defaults applied by New when an Options field is zero.
const (
	DefaultMaxEntries = 100_000
	DefaultTTL        = 10 * time.Minute
)

// Key names one record of one tenant. Record 1 of tenant A and record 1 of
// tenant B are different keys. The empty tenant is the single tenant of a site
// without tenancy.
type Key struct {
	Tenant string
	Type   string
	ID     string
}

func (k Key) String() string { return k.Tenant + "\x00" + k.Type + "\x00" + k.ID }

// Entry is what the store knows of one record.
type Entry struct {
	// Version is the bare version (see Normalize).
	Version string
	// UpdatedByID is the raw JSON of who saved it (a number or a quoted
	// string), or empty when unknown.
	UpdatedByID string
	// UpdatedByName is the display name of who saved it, or empty.
	UpdatedByName string
	// LearnedAt is when the store learned this version.
	LearnedAt time.Time
}

// Options configure a Store. Zero values mean the defaults.
type Options struct {
	// MaxEntries bounds how many records the store remembers. Default: DefaultMaxEntries.
	MaxEntries int64
	// TTL is how long an entry is kept after it was last advanced. Default: DefaultTTL.
	TTL time.Duration
}

// Store remembers the newest known version of each record. All methods are
// safe for concurrent use.
type Store struct {
	cache *ristretto.Cache[string, Entry]
	ttl   time.Duration
	seed  maphash.Seed
	// stripes serialise Advance per key so that the read-compare-write is
	// atomic; ristretto itself has no compare-and-set.
	stripes [256]sync.Mutex

	// Vouching (Suspend, Resume): while suspended Get answers nothing;
	// after Resume, entries learned before trustFrom (UnixNano, 0: all
	// are trusted) are unknown to Get until learned again.
	suspended atomic.Bool
	trustFrom atomic.Int64
	// notedMu guards noted and notedOverflow: the entries Advance moved
	// while suspended, for Resume.
	notedMu       sync.Mutex
	noted         map[Key]Entry
	notedOverflow int
}

// MaxNoted bounds the records a suspended Store notes for Resume; past it
// the others are counted, not noted.
const MaxNoted = 4096

// ErrClosed is returned by Advance after Close.
var ErrClosed = errors.New("versioncache: closed")

// New builds a Store.
func New(opts Options) (*Store, error) {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, Entry]{
		NumCounters: opts.MaxEntries * 10,
		MaxCost:     opts.MaxEntries,
		BufferItems: 64,
		// Every entry costs 1: MaxCost is a count of records.
		IgnoreInternalCost: true,
		Metrics:            true,
	})
	if err != nil {
		return nil, err
	}
	return &Store{cache: c, ttl: opts.TTL, seed: maphash.MakeSeed()}, nil
}

// Get returns the newest known entry for k that the store can vouch for, or
// false when it is unknown: never seen, forgotten, or not vouched for (the
// store is suspended, or the entry was learned before the last Resume).
func (s *Store) Get(k Key) (Entry, bool) {
	if s.suspended.Load() {
		return Entry{}, false
	}
	e, ok := s.cache.Get(k.String())
	if ok {
		if from := s.trustFrom.Load(); from != 0 && e.LearnedAt.UnixNano() < from {
			return Entry{}, false
		}
	}
	return e, ok
}

// Suspend stops the store from vouching for anything: Get answers nothing
// until Resume. A cluster suspends its instance's store while its bus is
// down, when saves made through other instances cannot reach it. Meanwhile
// Advance keeps learning, and notes what it moved (up to MaxNoted records)
// for Resume.
func (s *Store) Suspend() {
	s.notedMu.Lock()
	defer s.notedMu.Unlock()
	if !s.suspended.Load() {
		s.noted, s.notedOverflow = make(map[Key]Entry), 0
		s.suspended.Store(true)
	}
}

// Resume makes the store vouch again, but only for what it learns from now
// on: entries learned before are unknown to Get until learned again (the
// others' saves while the store was suspended may have superseded them). It
// returns the latest entry of each record Advance moved while the store was
// suspended (for the cluster to re-announce) and how many more records were
// moved than MaxNoted allowed to note. Resuming a store that is not
// suspended also distrusts what it holds, and returns nothing.
func (s *Store) Resume() (noted []Saved, overflow int) {
	s.notedMu.Lock()
	defer s.notedMu.Unlock()
	for k, e := range s.noted {
		noted = append(noted, Saved{Key: k, Entry: e})
	}
	overflow = s.notedOverflow
	s.noted, s.notedOverflow = nil, 0
	s.trustFrom.Store(time.Now().UnixNano())
	s.suspended.Store(false)
	return noted, overflow
}

// note remembers, while suspended, that k moved to e.
func (s *Store) note(k Key, e Entry) {
	if !s.suspended.Load() {
		return
	}
	s.notedMu.Lock()
	defer s.notedMu.Unlock()
	if s.noted == nil {
		return // resumed meanwhile
	}
	if _, ok := s.noted[k]; !ok && len(s.noted) >= MaxNoted {
		s.notedOverflow++
		return
	}
	s.noted[k] = e
}

// Advance records e as the version of k when it is newer than what the store
// holds (or when nothing is held, or the held opaque version is Different:
// the latest observation of an unordered version wins). It returns the entry
// the store now holds and whether e replaced it. An older or equal version
// never replaces what is held; an equal version refreshes the TTL.
//
// The store shares nothing: a version reaches the other instances of a
// cluster as a Saved, from whoever learned it (versioncache.Saved).
func (s *Store) Advance(k Key, e Entry) (held Entry, advanced bool) {
	if e.Version == "" {
		cur, _ := s.cache.Get(k.String())
		return cur, false
	}
	if e.LearnedAt.IsZero() {
		e.LearnedAt = time.Now()
	}
	key := k.String()
	mu := &s.stripes[maphash.String(s.seed, key)%uint64(len(s.stripes))]
	mu.Lock()
	defer mu.Unlock()
	cur, ok := s.cache.Get(key)
	if ok {
		switch Compare(e.Version, cur.Version) {
		case Older:
			return cur, false
		case Same:
			// Keep the first learner's who-fields, refresh the lifetime;
			// learned again, it is vouched for again (Resume).
			if e.LearnedAt.After(cur.LearnedAt) {
				cur.LearnedAt = e.LearnedAt
			}
			s.cache.SetWithTTL(key, cur, 1, s.ttl)
			return cur, false
		}
		// An update of a present key is applied synchronously by ristretto.
		s.cache.SetWithTTL(key, e, 1, s.ttl)
		s.note(k, e)
		return e, true
	}
	// A new key goes through ristretto's asynchronous admission. Wait so
	// that a second Advance of the same key, right behind this one, sees it:
	// otherwise an older version queued after a newer one could land last.
	if s.cache.SetWithTTL(key, e, 1, s.ttl) {
		s.cache.Wait()
	}
	s.note(k, e)
	return e, true
}

// Forget drops what the store knows of k.
func (s *Store) Forget(k Key) {
	s.cache.Del(k.String())
}

// Len returns about how many entries the store holds.
func (s *Store) Len() int64 {
	m := s.cache.Metrics
	if m == nil {
		return 0
	}
	added, evicted := int64(m.KeysAdded()), int64(m.KeysEvicted())
	if added < evicted {
		return 0
	}
	return added - evicted
}

// Close releases the store's goroutines. The store must not be used after.
func (s *Store) Close() {
	s.cache.Close()
}
