package proxy

import (
	"context"
	"net/http"
	"time"

	"github.com/recordsync/recordsync/versioncache"
	"go.uber.org/zap"
)

// Locker serialises the conditional writes of one record across several
// recordsync processes (cluster.Locker implements it over Redis). The
// proxy asks it inside the record's local turn, so one process sends at most
// one waiter per record to it at a time.
type Locker interface {
	// LockRecord takes k's cluster-wide lock, waiting while ctx lives. An
	// error while ctx is still alive means the cluster could not be asked:
	// the write then goes on serialised by this process only.
	LockRecord(ctx context.Context, k versioncache.Key) (RecordLock, error)
}

// RecordLock is a held cluster-wide record lock.
type RecordLock interface {
	// Latest is the newest version learned under this record's lock by any
	// process, read when the lock was taken; ok is false when none is known.
	// The guard checks against it, so a version another process learned a
	// moment ago counts even before it reached this process's cache.
	Latest() (e versioncache.Entry, ok bool)
	// Unlock releases the lock and hands learned (when its Version is not
	// empty) to the next holder. expired is true when the lock had run out
	// before (the write overran the fencing timeout).
	Unlock(learned versioncache.Entry) (expired bool)
}

// Outcomes passed to Observer.ClusterLock.
const (
	// LockAcquired: the write holds its record's cluster-wide lock.
	LockAcquired = "acquired"
	// LockFallback: the cluster could not be asked (Redis unreachable); the
	// write goes on serialised by this process only.
	LockFallback = "fallback"
	// LockTimeout: write_wait passed, or the client went away, while waiting
	// for the lock; the write is answered 503.
	LockTimeout = "timeout"
)

// lockCluster takes key's cluster-wide lock for the write that holds the
// local turn ht, waiting at most until WriteWait after since (when the write
// started waiting for its local turn). It returns the newest version learned
// under the lock (Version "" when none), and ok false when the write gave up
// waiting: then nothing is held and the caller answers 503. When the cluster
// cannot be asked the write goes on with the local turn only (ok true).
func (h *Handler) lockCluster(r *http.Request, key versioncache.Key, ht *heldTurn, since time.Time) (latest versioncache.Entry, ok bool) {
	ctx, cancel := context.WithDeadline(r.Context(), since.Add(h.opts.WriteWait))
	defer cancel()
	start := time.Now()
	lk, err := h.opts.Locker.LockRecord(ctx, key)
	waited := time.Since(start)
	switch {
	case err == nil:
		h.obs.ClusterLock(LockAcquired, waited)
		ht.cluster = lk
		latest, _ = lk.Latest()
		return latest, true
	case ctx.Err() != nil:
		h.obs.ClusterLock(LockTimeout, waited)
		return versioncache.Entry{}, false
	default:
		h.obs.ClusterLock(LockFallback, waited)
		if ce := h.log.Check(zap.DebugLevel, "cluster lock unavailable: write serialised by this instance only"); ce != nil {
			ce.Write(zap.String("type", key.Type), zap.String("id", key.ID), zap.Error(err))
		}
		return versioncache.Entry{}, true
	}
}
