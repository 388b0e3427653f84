package cluster

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
)

// What the instances of a cluster read back from Redis — bus messages, the
// socket registry's entries, the version a lock holder left — is shared
// infrastructure: any client of the Redis server can PUBLISH on the
// cluster's channel (pub/sub ignores the database number: see
// https://redis.io/docs/latest/develop/interact/pubsub/, "Database &
// Scoping") and write its keys. So each of them carries an HMAC-SHA256
// (RFC 2104) keyed with a key only the instances hold, derived with HKDF
// (RFC 5869) from the cluster's secret, its name and its database number,
// and each is bounded in size before it is read. What fails either test is
// dropped and counted (Observer.Dropped), never used.

// Bounds of what is read back from Redis.
const (
	// MaxBusMessageBytes bounds one bus message: a longer one is dropped
	// (counted as ReasonOversized) before its signature is checked or its
	// JSON read. The sender splits a presence sync over it into parts and
	// does not send an event over it (counted as not shared).
	MaxBusMessageBytes = 1 << 20
	// MaxSocketEntryBytes bounds one socket registry entry as it is read
	// (GETRANGE): a longer one is unknown (ReasonOversized), never signed
	// for. An entry is the instance id, a signature and the tenant.
	MaxSocketEntryBytes = 8 << 10
	// MaxLockVersionBytes bounds each field of the version a lock holder
	// left (the version, by_id, by_name, the signature): a longer one is
	// not read (ReasonOversized).
	MaxLockVersionBytes = 4 << 10
)

// Where a refusal passed to Observer.Dropped was read.
const (
	DroppedBus    = "bus"    // a message on the cluster's channel
	DroppedSocket = "socket" // a socket registry entry (then LookupUnknown)
	DroppedLock   = "lock"   // the version a lock holder left
	// DroppedOccupancy: a channel or member a silent instance held, in
	// the webhooks' occupancy (occupancy.go).
	DroppedOccupancy = "occupancy"
)

// Reasons passed to Observer.Dropped.
const (
	// ReasonOversized: over its bound (MaxBusMessageBytes,
	// MaxSocketEntryBytes, MaxLockVersionBytes); dropped unread.
	ReasonOversized = "oversized"
	// ReasonUnauthenticated: no signature, or one that is not this
	// cluster's (another secret, another cluster name or database, or a
	// forgery).
	ReasonUnauthenticated = "unauthenticated"
	// ReasonMalformed: signed by an instance of this cluster but not
	// readable (a bug, or a newer build's message of this protocol).
	ReasonMalformed = "malformed"
	// ReasonReplayed: a bus message an instance already sent (its sequence
	// number is not above the last one heard from that instance).
	ReasonReplayed = "replayed"
)

// ErrNoSecret is returned by New without Options.Secret.
var ErrNoSecret = errors.New("cluster: a secret shared by the instances is required to authenticate what they read back from Redis")

// hkdfSalt separates recordsync's keys from any other use of the secret
// (the websocket app_secret also signs Pusher channel authorisations,
// HMAC-SHA256 keyed with the secret itself: a key derived here never is).
const hkdfSalt = "recordsync cluster v1"

// clusterKeys are the HMAC keys of one cluster (secret, name, database),
// one per kind of value, so that a signature of one kind never verifies as
// another.
type clusterKeys struct {
	bus, socket, lock, occupancy []byte
	// grants signs the channel grants remembered for callers and the
	// messages that end them (grants.go).
	grants []byte
}

// deriveKeys derives the keys of the cluster name on database db from
// secret (HKDF-SHA256, RFC 5869; the name and the database are in the
// info, so two clusters sharing a secret never accept each other's
// messages even when they share a channel).
func deriveKeys(secret, name string, db int) (clusterKeys, error) {
	if secret == "" {
		return clusterKeys{}, ErrNoSecret
	}
	derive := func(purpose string) ([]byte, error) {
		info := purpose + "\x00" + name + "\x00" + strconv.Itoa(db)
		return hkdf.Key(sha256.New, []byte(secret), []byte(hkdfSalt), info, sha256.Size)
	}
	var k clusterKeys
	var err error
	if k.bus, err = derive("bus"); err != nil {
		return k, err
	}
	if k.socket, err = derive("socket"); err != nil {
		return k, err
	}
	if k.lock, err = derive("lock"); err != nil {
		return k, err
	}
	if k.occupancy, err = derive("occupancy"); err != nil {
		return k, err
	}
	k.grants, err = derive("grants")
	return k, err
}

// macLen is the length of a signature as it is written: base64url (no
// padding) of an HMAC-SHA256.
var macLen = base64.RawURLEncoding.EncodedLen(sha256.Size)

// mac returns the base64url HMAC-SHA256 (RFC 2104) of parts, each
// length-prefixed so that no two different lists of parts sign alike.
func mac(key []byte, parts ...string) string {
	h := hmac.New(sha256.New, key)
	writeParts(h, parts)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// validMAC reports whether sig is mac(key, parts...), in constant time.
func validMAC(key []byte, sig string, parts ...string) bool {
	if len(sig) != macLen {
		return false
	}
	got := make([]byte, sha256.Size)
	if n, err := base64.RawURLEncoding.Strict().Decode(got, []byte(sig)); err != nil || n != sha256.Size {
		return false
	}
	h := hmac.New(sha256.New, key)
	writeParts(h, parts)
	return hmac.Equal(got, h.Sum(nil))
}

func writeParts(h hash.Hash, parts []string) {
	var n [20]byte
	for _, p := range parts {
		h.Write(strconv.AppendInt(n[:0], int64(len(p)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
}
