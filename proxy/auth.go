package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/versioncache"
	"go.uber.org/zap"
)

// authState is what the app last said to one credential about one record.
type authState uint8

const (
	authUnknown      authState = iota
	authAllowed                // a 2xx answer that was the record
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

// remember stores what the app said to cred about k for ttl.
func (m *authMemory) remember(k versioncache.Key, cred string, s authState, ttl time.Duration) {
	if cred == "" || s == authUnknown {
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

// authorise remembers what the app's answer to cred says about k: a 401 or
// 403 denies; a 2xx allows only when it is the record (isRecord: a JSON
// answer with a version at VersionField, as entryFrom reads it); anything
// else tells nothing. An SPA's catch-all page, a 200 {"success":false} or a
// public preview without the version authorises nobody (counted).
func (h *Handler) authorise(k versioncache.Key, cred string, status int, isRecord bool) {
	if cred == "" {
		return
	}
	var s authState
	switch {
	case status >= 200 && status < 300:
		if !isRecord {
			h.obs.Refused(RefusedNotRecord)
			h.debug("a 2xx answer that is not the record authorises nobody",
				zap.String("type", k.Type), zap.String("id", k.ID), zap.Int("status", status))
			return
		}
		s = authAllowed
	case status == http.StatusUnauthorized:
		s = authUnauthorised
	case status == http.StatusForbidden:
		s = authForbidden
	default:
		return
	}
	h.auth.remember(k, cred, s, h.opts.AuthTTL)
}

// credentialID returns the hex SHA-256 that names the caller as the app
// authenticates it, or "" when recordsync cannot tell who that is. Raw
// credentials are never kept.
//
// With a configured credential (info.Credential) the caller is that value,
// taken as it is; when it is the value of a session cookie and Laravel keys
// are set, the session id inside the verified cookie (one that does not
// verify names nobody).
//
// Otherwise the caller is what Laravel itself reads:
//   - a Bearer token (bearerToken): Sanctum's personal access tokens,
//     Passport's, Echo's bearerToken option;
//   - the session (session.go): with Laravel keys, the id inside a cookie
//     that verifies as the session (a cookie that does not is no session:
//     Laravel's EncryptCookies drops it and starts a fresh, empty one),
//     found under whatever name the app gives it; without keys, the raw
//     cookie.
//
// When a request carries both, the caller is both together: whichever of
// the two the app authenticates by (Sanctum's guard tries the session
// first: Laravel\Sanctum\Guard::__invoke), nobody else holds that pair.
// Basic credentials and an Authorization header without a Bearer token
// (Bearer null, undefined, empty) are never the caller: a site-wide
// basic_auth sends one value for everyone, and so does an SPA whose token
// is not set yet. A request with only those has no caller: it is always
// sent to the app.
func (h *Handler) credentialID(r *http.Request, info RequestInfo) string {
	if info.Credential != "" {
		kind, raw := byte('p'), info.Credential
		if h.keys != nil {
			if c, ok := h.credentialCookie(r, info.Credential); ok {
				id, verified := h.openCookie(c.Name, c.Value)
				switch {
				case id != "":
					kind, raw = 's', id
				case !verified:
					h.obs.Refused(RefusedSessionUnverified)
					return ""
				}
			}
		}
		return hashCredential("", kind, raw)
	}
	token := h.bearerToken(r)
	kind, session := h.session(r)
	if token == "" && session == "" {
		return ""
	}
	return hashCredential(token, kind, session)
}

// hashCredential hashes a Bearer token ("" for none) and a session or
// configured value of kind (0 for none) into the credential's name. Tokens
// hold no NUL (isBearerToken), so the parts cannot run into each other.
func hashCredential(token string, kind byte, raw string) string {
	d := sha256.New()
	if token != "" {
		d.Write([]byte{'t', 0})
		d.Write([]byte(token))
		d.Write([]byte{0})
	}
	if kind != 0 {
		d.Write([]byte{kind, 0})
		d.Write([]byte(raw))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(d.Sum(sum[:0]))
}

// bearerToken returns the Bearer token Laravel reads from the request
// (laravel.BearerToken), or "" (counted when an Authorization header was
// there). What it reads counts only when it is a token: see isBearerToken.
func (h *Handler) bearerToken(r *http.Request) string {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return ""
	}
	token, ok := laravel.BearerToken(r.Header)
	if !ok {
		if len(values[0]) >= 6 && strings.EqualFold(values[0][:6], "Basic ") {
			h.obs.Refused(RefusedCredentialBasic)
		} else {
			h.obs.Refused(RefusedCredentialNotToken)
		}
		return ""
	}
	if !isBearerToken(token) {
		h.obs.Refused(RefusedCredentialNotToken)
		return ""
	}
	return token
}

// isBearerToken reports whether s can be a token: not empty, made of the
// characters of RFC 6750's b64token (§2.1: letters, digits and -._~+/=)
// and the | of Sanctum's "{id}|{secret}" tokens, and not what JavaScript
// makes of a missing value ('Bearer ' + null is "Bearer null").
func isBearerToken(s string) bool {
	if s == "" || len(s) > maxTokenBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=' || c == '|':
		default:
			return false
		}
	}
	if len(s) <= len("undefined") {
		for _, js := range jsNonValues {
			if strings.EqualFold(s, js) {
				return false
			}
		}
	}
	return true
}

// maxTokenBytes bounds a Bearer token: a JWT with many claims stays well
// under it; a longer value is not taken as anyone.
const maxTokenBytes = 8 << 10

// jsNonValues are what a browser's code sends when the token it meant to
// send is not set: String(null), String(undefined), and their kin.
var jsNonValues = []string{"null", "undefined", "false", "true", "NaN"}
