package proxy

import (
	"time"

	"github.com/recordsync/recordsync/versioncache"
)

// Publisher is told of every save the proxy learned: a successful write to
// announce, and (VersionOnly) every other version that advanced the cache,
// for the other instances of a cluster. The realtime hub implements it, or
// the cluster's Link when there is no hub. Saved is called synchronously on
// the request's goroutine after the response was written: it must not
// block.
type Publisher interface {
	Saved(versioncache.Saved)
}

// Observer receives the events metrics are made of. Its methods are called
// concurrently and must be cheap.
type Observer interface {
	// AuthSignature is called for every answer of the app's channel
	// authorisation endpoint while signing is on: result is AuthSigned,
	// AuthPassed, AuthUnsigned or AuthRefused (see their docs).
	AuthSignature(result string)
	// MethodOverride is called for a POST to a record route that Laravel
	// routes as PUT or PATCH (OverrideWrite), or whose method could not be
	// read as Laravel reads it (OverrideUnread).
	MethodOverride(outcome string)
	// Learned is called for every version read from an app's answer and
	// offered to the store; source is "response", "conflict_response" or "poll".
	Learned(source string)
	// ConflictFromCache is called when a stale write was answered from the cache.
	ConflictFromCache()
	// UpstreamConflict is called when the app itself answered a write with 409/412.
	UpstreamConflict()
	// Poll is called for every version poll, answered from the cache or not.
	Poll(fromCache bool)
	// WritersWaiting is called with +1 when a write starts waiting for its
	// record's turn and -1 when it stops waiting.
	WritersWaiting(delta int)
	// WriteWaitTimeout is called when a write gave up waiting (503).
	WriteWaitTimeout()
	// TenantMissing is called when a record request had an empty tenant key.
	TenantMissing()
	// ClusterLock is called (with a Locker) when a conditional write asked
	// for its record's cluster-wide lock: outcome is LockAcquired,
	// LockFallback or LockTimeout, waited how long the asking took.
	ClusterLock(outcome string, waited time.Duration)
	// ClusterLockExpired is called when a write's cluster-wide lock had
	// expired before the write finished (it overran the fencing timeout).
	ClusterLockExpired()
}

// Observer sources passed to Learned.
const (
	SourceResponse         = "response"
	SourceConflictResponse = "conflict_response"
	SourcePoll             = "poll"
)

type nopObserver struct{}

func (nopObserver) AuthSignature(string)  {}
func (nopObserver) MethodOverride(string) {}

func (nopObserver) Learned(string)     {}
func (nopObserver) ConflictFromCache() {}
func (nopObserver) UpstreamConflict()  {}
func (nopObserver) Poll(bool)          {}
func (nopObserver) WritersWaiting(int) {}
func (nopObserver) WriteWaitTimeout()  {}
func (nopObserver) TenantMissing()     {}

func (nopObserver) ClusterLock(string, time.Duration) {}
func (nopObserver) ClusterLockExpired()               {}
