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

// EdgeObserver is told, record by record, of what the proxy answered
// itself (recordsync's live console). Its methods are called on the
// request's goroutine and must not block.
type EdgeObserver interface {
	// EdgeConflict: a write loaded on version loaded was answered stale
	// from the cache, whose entry for the record is cur.
	EdgeConflict(key versioncache.Key, loaded string, cur versioncache.Entry)
	// EdgePoll: a version poll of the record, answered from the cache (or
	// from the remembered refusal) or passed to the app.
	EdgePoll(key versioncache.Key, fromCache bool)
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
	// MergedPatch is called when a stale PATCH whose fields nobody else
	// changed was forwarded on the current version (RouteSpec.MergePatches).
	MergedPatch()
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
	// Refused is called whenever the proxy declines to take something from
	// a request or an answer: a credential that is not the caller, an
	// answer that is not the record, a body it could not read before a
	// write's turn, a turn held too long, a string over its bound. reason is
	// one of the Refused* constants.
	Refused(reason string)
}

// Reasons passed to Observer.Refused.
const (
	// RefusedCredentialBasic: an Authorization header with Basic
	// credentials (and no Bearer token Laravel would read), not taken as the
	// caller.
	RefusedCredentialBasic = "credential_basic"
	// RefusedCredentialNotToken: an Authorization header that carries no
	// Bearer token (Bearer null, Bearer undefined, an empty Bearer, another
	// scheme, a value that is not a token), not taken as the caller.
	RefusedCredentialNotToken = "credential_not_token"
	// RefusedSessionUnverified: a session cookie that does not verify with
	// the Laravel keys (or, its name not configured, encrypted cookies none
	// of which verifies as a session), not taken as the caller.
	RefusedSessionUnverified = "session_unverified"
	// RefusedSessionUnread: cookies not read for the session: a Cookie
	// header PHP's reading of which is not certain, or more encrypted
	// cookies than are tried (8). The request has no session.
	RefusedSessionUnread = "session_unread"
	// RefusedNotRecord: a 2xx answer to a caller that was not the record
	// (not JSON, too large to read, no version at VersionField): it
	// authorises nobody.
	RefusedNotRecord = "not_the_record"
	// RefusedBodyUnread: a conditional write whose body could not be read
	// whole within MaxBodyBytes before its turn: it took no turn and went to
	// the app unguarded.
	RefusedBodyUnread = "body_unread"
	// RefusedTurnExpired: a write held its record's turn for TurnTimeout
	// without its answer; the turn went to the next writer.
	RefusedTurnExpired = "turn_expired"
	// RefusedInertiaUnfollowed: an Inertia write was answered with a
	// redirect to the record's page, and that page did not come within
	// inertiaFollowWait: its save was not learned, the record's turn went
	// to the next writer.
	RefusedInertiaUnfollowed = "inertia_unfollowed"
	// RefusedInertiaPage: an answer to an Inertia route that is an HTML
	// page without exactly one readable Inertia page object, or whose
	// page has no version at the route's props path: not learned.
	RefusedInertiaPage = "inertia_page"
	// RefusedVersionTooLong: a version longer than versioncache.MaxVersionBytes, not
	// learned.
	RefusedVersionTooLong = "version_too_long"
	// RefusedUpdatedByIDTooLong: an updated_by_id longer than versioncache.MaxByIDBytes,
	// not kept.
	RefusedUpdatedByIDTooLong = "updated_by_id_too_long"
	// RefusedUpdatedByNameTruncated: an updated_by_name longer than
	// versioncache.MaxNameBytes, kept truncated.
	RefusedUpdatedByNameTruncated = "updated_by_name_truncated"
)

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
func (nopObserver) MergedPatch()       {}
func (nopObserver) UpstreamConflict()  {}
func (nopObserver) Poll(bool)          {}
func (nopObserver) WritersWaiting(int) {}
func (nopObserver) WriteWaitTimeout()  {}
func (nopObserver) TenantMissing()     {}

func (nopObserver) ClusterLock(string, time.Duration) {}
func (nopObserver) ClusterLockExpired()               {}
func (nopObserver) Refused(string)                    {}
