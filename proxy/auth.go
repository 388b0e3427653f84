package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/versioncache"
)

// authState is what the app last said to one credential about one record.
type authState uint8

const (
	authUnknown      authState = iota
	authAllowed                // a 2xx answer
	authUnauthorised           // a 401 answer
	authForbidden              // a 403 answer
)

// authMemory remembers, for AuthTTL, whether the app allowed a credential to
// read or write a record. It is bounded (ristretto) and may forget: a
// forgotten entry means "ask the app". Safe for concurrent use.
type authMemory struct {
	cache *ristretto.Cache[string, authState]
}

func newAuthMemory(entries int64) (*authMemory, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, authState]{
		NumCounters:        entries * 10,
		MaxCost:            entries,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	return &authMemory{cache: c}, nil
}

func authKey(k versioncache.Key, cred string) string {
	return k.Tenant + "\x00" + k.Type + "\x00" + k.ID + "\x00" + cred
}

// get returns what is remembered for cred and k; no credential is never known.
func (m *authMemory) get(k versioncache.Key, cred string) authState {
	if cred == "" {
		return authUnknown
	}
	s, _ := m.cache.Get(authKey(k, cred))
	return s
}

// learn remembers the app's answer status to cred for k: 2xx allows,
// 401/403 deny, anything else tells nothing.
func (m *authMemory) learn(k versioncache.Key, cred string, status int, ttl time.Duration) {
	if cred == "" {
		return
	}
	var s authState
	switch {
	case status >= 200 && status < 300:
		s = authAllowed
	case status == http.StatusUnauthorized:
		s = authUnauthorised
	case status == http.StatusForbidden:
		s = authForbidden
	default:
		return
	}
	key := authKey(k, cred)
	if cur, ok := m.cache.Get(key); ok && cur == s {
		// Already known: keep the original expiry (the app's answer is
		// re-asked at least every TTL) and skip ristretto's write path.
		return
	}
	// An update of a present key applies at once; a new key goes through
	// ristretto's asynchronous admission: wait for it, so that the caller's
	// next request (often right behind this one) sees it.
	if m.cache.SetWithTTL(key, s, 1, ttl) {
		m.cache.Wait()
	}
}

func (m *authMemory) close() { m.cache.Close() }

// credentialID returns the hex SHA-256 that names the caller's credential,
// or "" when the request has none. The credential is info.Credential, else
// the Authorization header, else the session cookie; with a Laravel key the
// session cookie (also when it is the configured credential) is decrypted and
// its session id is what is hashed. A cookie that does not verify is no
// credential. Raw credentials are never kept.
func (h *Handler) credentialID(r *http.Request, info RequestInfo) string {
	var kind byte
	var raw string
	switch {
	case info.Credential != "":
		kind, raw = 'p', info.Credential
		if h.appKey != nil {
			if c, err := r.Cookie(h.opts.SessionCookie); err == nil && c.Value == info.Credential {
				kind = 's'
				if raw = h.sessionID(c.Value); raw == "" {
					return ""
				}
			}
		}
	case r.Header.Get("Authorization") != "":
		kind, raw = 'a', r.Header.Get("Authorization")
	default:
		c, err := r.Cookie(h.opts.SessionCookie)
		if err != nil || c.Value == "" {
			return ""
		}
		kind, raw = 'c', c.Value
		if h.appKey != nil {
			kind = 's'
			if raw = h.sessionID(c.Value); raw == "" {
				return ""
			}
		}
	}
	d := sha256.New()
	d.Write([]byte{kind, 0})
	d.Write([]byte(raw))
	var sum [sha256.Size]byte
	return hex.EncodeToString(d.Sum(sum[:0]))
}

// sessionID decrypts a Laravel session cookie value as it appears in the
// Cookie header (percent-encoded by PHP) and returns the session id, or "".
func (h *Handler) sessionID(cookie string) string {
	if id, ok := h.sessions.get(cookie); ok {
		return id
	}
	value := cookie
	if strings.IndexByte(value, '%') >= 0 {
		if u, err := url.PathUnescape(value); err == nil {
			value = u
		}
	}
	id, err := laravel.DecodeCookie(h.appKey, h.opts.SessionCookie, value)
	if err != nil {
		return ""
	}
	h.sessions.put(cookie, id)
	return id
}
