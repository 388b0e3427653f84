package caddymodule

import (
	"time"

	"go.uber.org/zap"

	"github.com/recordsync/recordsync/cluster"
	"github.com/recordsync/recordsync/engine"
	"github.com/recordsync/recordsync/proxy"
)

// clusterLocker makes the proxy's Locker on the Engine's Cluster
// (conditional writes serialised cluster-wide); nil without a cluster. The
// Locker holds no goroutines and is made per config: after a reload its
// first write asks Redis again, whatever the old one had seen.
func (h *Handler) clusterLocker(eng *engine.Engine) (proxy.Locker, error) {
	c := eng.Cluster()
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
	return l, nil
}
