package versioncache

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
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
	// Fields are the fingerprints of the record's fields at this version
	// (unknown when it was learned without a body, e.g. from an event).
	Fields Fields
	// Changed names the fields that differ from the version before this
	// one that recordsync knew (Changed of the two versions' Fields, or
	// what the event that announced it said); nil when unknown.
	Changed []string
}

// Options configure a Store. Zero values mean the defaults.
type Options struct {
	// MaxEntries bounds how many records the store remembers. Default: DefaultMaxEntries.
	MaxEntries int64
	// TTL is how long an entry is kept after it was last advanced. Default: DefaultTTL.
	TTL time.Duration
	// FieldVersions is how many versions of a record keep their Fields:
	// the latest and FieldVersions-1 before it, so that a write loaded on
	// one of them can be told what changed since. Default:
	// DefaultFieldVersions; negative: no Fields are kept at all.
	FieldVersions int
}

// DefaultFieldVersions is the default of Options.FieldVersions, and
// MaxFieldVersions its largest value.
const (
	DefaultFieldVersions = 3
	MaxFieldVersions     = 100
)

// typeKey names a record type of a tenant.
type typeKey struct{ tenant, typ string }

// maxVariesTypes bounds the types whose caller-dependent fields are
// remembered.
const maxVariesTypes = 4096

// typeVaries returns the fields known caller-dependent in records of k's type.
func (s *Store) typeVaries(k Key) []string {
	s.variesMu.Lock()
	defer s.variesMu.Unlock()
	return s.varies[typeKey{k.Tenant, k.Type}]
}

// noteVaries remembers the Varies fields of f for k's type.
func (s *Store) noteVaries(k Key, f Fields) {
	tk := typeKey{k.Tenant, k.Type}
	s.variesMu.Lock()
	defer s.variesMu.Unlock()
	known := s.varies[tk]
	var add []string
	for i := range f.Len() {
		if name, p, _ := f.Field(i); p == Varies && !slices.Contains(known, name) {
			add = append(add, name)
		}
	}
	if len(add) == 0 || len(known)+len(add) > MaxFields {
		return
	}
	if s.varies == nil {
		s.varies = make(map[typeKey][]string)
	}
	if _, has := s.varies[tk]; !has && len(s.varies) >= maxVariesTypes {
		return
	}
	s.varies[tk] = append(slices.Clip(known), add...)
}

// stored is what the store holds for one record: its latest entry and the
// Fields of a few versions before it, newest first.
type stored struct {
	Entry
	past []pastFields
}

type pastFields struct {
	version string
	fields  Fields
}

// Store remembers the newest known version of each record. All methods are
// safe for concurrent use.
type Store struct {
	cache *ristretto.Cache[string, stored]
	ttl   time.Duration
	// keepPast is how many versions before the latest keep their Fields;
	// noFields: Fields are not kept at all.
	keepPast int
	noFields bool
	// varies remembers, per tenant and record type, the fields found
	// caller-dependent in one record (two answers of one version showed
	// them differently): they are Varies in every record of the type from
	// then on.
	variesMu sync.Mutex
	varies   map[typeKey][]string
	seed     maphash.Seed
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
	if opts.FieldVersions < -1 || opts.FieldVersions > MaxFieldVersions {
		return nil, fmt.Errorf("versioncache: field_versions must be from 1 to %d, or -1 (off); got %d", MaxFieldVersions, opts.FieldVersions)
	}
	if opts.FieldVersions == 0 {
		opts.FieldVersions = DefaultFieldVersions
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, stored]{
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
	return &Store{cache: c, ttl: opts.TTL, seed: maphash.MakeSeed(),
		keepPast: max(opts.FieldVersions-1, 0), noFields: opts.FieldVersions < 0}, nil
}

// Get returns the newest known entry for k that the store can vouch for, or
// false when it is unknown: never seen, forgotten, or not vouched for (the
// store is suspended, or the entry was learned before the last Resume).
func (s *Store) Get(k Key) (Entry, bool) {
	if s.suspended.Load() {
		return Entry{}, false
	}
	h, ok := s.cache.Get(k.String())
	if ok {
		if from := s.trustFrom.Load(); from != 0 && h.LearnedAt.UnixNano() < from {
			return Entry{}, false
		}
	}
	return h.Entry, ok
}

// FieldsAt returns the Fields the store holds of version v of k: the
// latest version's or one of the few before it (Options.FieldVersions).
func (s *Store) FieldsAt(k Key, v string) (Fields, bool) {
	h, ok := s.cache.Get(k.String())
	if !ok || v == "" {
		return Fields{}, false
	}
	if Compare(h.Version, v) == Same {
		return h.Fields, h.Fields.Known()
	}
	for _, p := range h.past {
		if Compare(p.version, v) == Same {
			return p.fields, true
		}
	}
	return Fields{}, false
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
		return cur.Entry, false
	}
	if e.LearnedAt.IsZero() {
		e.LearnedAt = time.Now()
	}
	if s.noFields {
		e.Fields, e.Changed = Fields{}, nil
	}
	key := k.String()
	mu := &s.stripes[maphash.String(s.seed, key)%uint64(len(s.stripes))]
	mu.Lock()
	defer mu.Unlock()
	cur, ok := s.cache.Get(key)
	if ok {
		switch Compare(e.Version, cur.Version) {
		case Older:
			return cur.Entry, false
		case Same:
			// Keep the first learner's who-fields, refresh the lifetime;
			// learned again, it is vouched for again (Resume). The
			// answers' Fields combine (one version, one set of Fields).
			if e.LearnedAt.After(cur.LearnedAt) {
				cur.LearnedAt = e.LearnedAt
			}
			s.sameVersion(k, &cur, e)
			s.cache.SetWithTTL(key, cur, 1, s.ttl)
			return cur.Entry, false
		}
		// An update of a present key is applied synchronously by ristretto.
		next := stored{Entry: e}
		next.Fields = markVaries(inherit(cur.Fields, e.Fields), s.typeVaries(k))
		if next.Changed == nil {
			next.Changed = Changed(cur.Fields, next.Fields)
		}
		if s.keepPast > 0 && cur.Fields.Known() {
			next.past = make([]pastFields, 0, min(len(cur.past)+1, s.keepPast))
			next.past = append(next.past, pastFields{cur.Version, cur.Fields})
			for _, p := range cur.past {
				if len(next.past) == s.keepPast {
					break
				}
				next.past = append(next.past, p)
			}
		}
		s.cache.SetWithTTL(key, next, 1, s.ttl)
		s.note(k, next.Entry)
		return next.Entry, true
	}
	// A new key goes through ristretto's asynchronous admission. Wait so
	// that a second Advance of the same key, right behind this one, sees it:
	// otherwise an older version queued after a newer one could land last.
	e.Fields = markVaries(e.Fields, s.typeVaries(k))
	if s.cache.SetWithTTL(key, stored{Entry: e}, 1, s.ttl) {
		s.cache.Wait()
	}
	s.note(k, e)
	return e, true
}

// sameVersion folds another answer (or event) for the version h holds into
// h: its Fields combine with h's, and Changed is what the combined Fields
// say against the version before (or, with none held, the event's names
// less the fields now known to vary).
func (s *Store) sameVersion(k Key, h *stored, e Entry) {
	fields := sameVersion(h.Fields, e.Fields)
	if !fields.identical(h.Fields) {
		s.noteVaries(k, fields)
	}
	if len(h.past) > 0 {
		fields = inherit(h.past[0].fields, fields)
	}
	if fields.identical(h.Fields) && h.Changed != nil {
		return
	}
	h.Fields = fields
	if len(h.past) > 0 && fields.Known() {
		h.Changed = Changed(h.past[0].fields, fields)
		return
	}
	changed := h.Changed
	if changed == nil {
		changed = e.Changed
	}
	if changed != nil && fields.Known() {
		kept := make([]string, 0, len(changed))
		for _, n := range changed {
			if p, _, ok := fields.Lookup(n); !ok || p != Varies {
				kept = append(kept, n)
			}
		}
		changed = kept
	}
	h.Changed = changed
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
