package caddymodule

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/recordsync/recordsync/cluster"
	"github.com/recordsync/recordsync/proxy"
	"github.com/recordsync/recordsync/versioncache"
)

// clusterLocker makes the proxy's Locker on the state's Cluster (issue 6:
// conditional writes serialised cluster-wide); nil without a cluster. The
// Locker holds no goroutines and is made per config: after a reload its
// first write asks Redis again, whatever the old one had seen.
func (h *Handler) clusterLocker(state *sharedState) (proxy.Locker, error) {
	c := state.cluster()
	if c == nil {
		return nil, nil
	}
	l, err := cluster.NewLocker(c, cluster.LockOptions{Timeout: time.Duration(h.ClusterLockTimeout)})
	if err != nil {
		return nil, err
	}
	writeWait := time.Duration(h.WriteWait)
	if writeWait == 0 {
		writeWait = proxy.DefaultWriteWait
	}
	if l.Timeout() > writeWait {
		h.logger.Warn("cluster_lock_timeout is longer than write_wait: writers queued behind a crashed instance's lock give up (503) before it expires",
			zap.Duration("cluster_lock_timeout", l.Timeout()), zap.Duration("write_wait", writeWait))
	}
	return clusterLocker{l}, nil
}

// clusterLocker is the proxy's Locker over cluster.Locker.
type clusterLocker struct{ l *cluster.Locker }

func (c clusterLocker) LockRecord(ctx context.Context, k versioncache.Key) (proxy.RecordLock, error) {
	lk, err := c.l.Acquire(ctx, k)
	if err != nil {
		return nil, err
	}
	return recordLock{lk}, nil
}

// recordLock is a held cluster.Lock as the proxy's RecordLock.
type recordLock struct{ *cluster.Lock }

// Unlock releases the lock; expired only when Redis said the lock was no
// longer this holder's (a failed release is the outage's, and the lock
// expires by itself).
func (r recordLock) Unlock(learned versioncache.Entry) (expired bool) {
	owned, err := r.Release(learned)
	return err == nil && !owned
}

// Interface guards
var (
	_ proxy.Locker     = clusterLocker{}
	_ proxy.RecordLock = recordLock{}
)
