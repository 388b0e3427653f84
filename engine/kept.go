package engine

import "sync"

// kept holds one part that a configuration load keeps while its identity
// (its key) stays the same, and replaces otherwise. The zero key means
// none. Safe for concurrent use.
type kept[K comparable, T comparable] struct {
	mu  sync.Mutex
	key K
	v   T
}

// set makes the part match key. The same key keeps the running part (cur);
// another key opens a new one first (a failing open keeps the running one
// and returns its error) and hands the replaced part back as old, for the
// caller to close when it is no longer used; the zero key drops the part
// (old). old is the zero T when nothing was replaced.
func (k *kept[K, T]) set(key K, open func() (T, error)) (cur, old T, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var zeroK K
	var zeroT T
	if key == k.key {
		return k.v, zeroT, nil
	}
	next := zeroT
	if key != zeroK {
		if next, err = open(); err != nil {
			return k.v, zeroT, err
		}
	}
	old, k.v, k.key = k.v, next, key
	return next, old, nil
}

// get returns the running part (the zero T when none).
func (k *kept[K, T]) get() T {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.v
}

// current returns the running part's key and the part.
func (k *kept[K, T]) current() (K, T) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.key, k.v
}
