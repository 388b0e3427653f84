package proxy

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/recordsync/recordsync/laravel"
	"go.uber.org/zap"
)

// XSRFCookie is the cookie Laravel's CSRF middleware sets
// (Illuminate/Foundation/Http/Middleware/VerifyCsrfToken.php, newCookie;
// PreventRequestForgery.php in 13.x): encrypted under the same key as the
// session, readable by JavaScript, and holding the CSRF token, which has
// the very shape of a session id (Str::random(40)). It is never taken as
// the session, whatever it holds.
const XSRFCookie = "XSRF-TOKEN"

// maxSessionCookies bounds the encrypted cookies tried as the session in
// one request (each up to laravel.MaxCookieBytes, under each key). A Laravel
// app's browser sends one or two (the session, a remember-me cookie) and
// XSRF-TOKEN, which is not tried; a request with more reads no session.
const maxSessionCookies = 8

// session returns what the request's cookies say of its caller, as
// credentialID hashes it (kind, raw; kind 0 for no session):
//
//   - without Laravel keys, the raw cookie named SessionCookie (default
//     laravel_session), kind 'c';
//   - with SessionCookie set, the session id inside that cookie, kind 's';
//   - otherwise the session found among the cookies (findSession).
//
// Cookies are read as PHP reads them (laravel.PHPCookies): the names PHP
// files them under, which the values' prefixes are bound to.
func (h *Handler) session(r *http.Request) (kind byte, raw string) {
	cookies, ok := laravel.PHPCookies(r.Header)
	if !ok {
		h.obs.Refused(RefusedSessionUnread)
		h.debug("the Cookie header is not read as PHP reads it (two spellings, or over max_input_vars): no session")
		return 0, ""
	}
	if h.keys == nil {
		if c, found := cookieNamed(cookies, h.rawSessionCookie); found && c.Value != "" {
			return 'c', c.Value
		}
		return 0, ""
	}
	if name := h.opts.SessionCookie; name != "" {
		c, found := cookieNamed(cookies, name)
		if !found || c.Value == "" {
			return 0, ""
		}
		id, verified := h.openCookie(c.Name, c.Value)
		if id == "" {
			h.obs.Refused(RefusedSessionUnverified)
			if !verified && laravel.LooksEncrypted(c.Value) {
				h.warnUnverified([]string{c.Name})
			}
			return 0, ""
		}
		return 's', id
	}
	return h.findSession(cookies)
}

// findSession finds the session among the cookies without knowing its
// name: Laravel's default name follows APP_NAME, differently in each
// version (config/session.php: Str::slug(APP_NAME, '_').'_session' in
// laravel/laravel 8.x-11.x and laravel/framework 11.x-12.x,
// Str::slug(APP_NAME).'-session' in laravel/laravel 12.x and 13.x,
// Str::snake(APP_NAME).'_session' in laravel/framework 13.x), and
// SESSION_COOKIE may say anything. The name is part of every encrypted
// cookie's prefix (CookieValuePrefix: hmac_sha1(name."v2", key)), so each
// cookie is tried under its own name, and a cookie that verifies and holds a
// session id (laravel.IsSessionID) is a session. XSRF-TOKEN is never tried,
// nor a cookie that is not shaped as an encrypted value.
//
// One session alone is kind 's', the same credential as when its name is
// configured. Several (a browser still holding the cookie of an earlier
// APP_NAME, say), or a session beside encrypted cookies that do not
// verify (another app's on a parent domain; or the app's own session made
// under a key recordsync lacks), are taken all together, kind 'm': whichever
// of them the app reads, nobody else holds them all. Encrypted cookies
// that verify but hold no session id (a remember-me cookie) are left out.
// When none verifies, there is no session (counted, and the first time
// logged with the cookies' names). More than maxSessionCookies encrypted
// cookies read no session.
func (h *Handler) findSession(cookies []laravel.Cookie) (kind byte, raw string) {
	var sessions, unverified []laravel.Cookie
	tried, verifiedAny := 0, false
	for _, c := range cookies {
		if c.Name == XSRFCookie || !laravel.LooksEncrypted(c.Value) {
			continue
		}
		if tried++; tried > maxSessionCookies {
			h.obs.Refused(RefusedSessionUnread)
			h.debug("more encrypted cookies than are tried as the session: no session", zap.Int("max", maxSessionCookies))
			return 0, ""
		}
		id, verified := h.openCookie(c.Name, c.Value)
		switch {
		case id != "":
			sessions = append(sessions, laravel.Cookie{Name: c.Name, Value: id})
		case verified:
			verifiedAny = true
		default:
			unverified = append(unverified, c)
		}
	}
	if len(sessions) == 0 {
		if len(unverified) > 0 {
			h.obs.Refused(RefusedSessionUnverified)
			if !verifiedAny {
				names := make([]string, len(unverified))
				for i, c := range unverified {
					names[i] = c.Name
				}
				h.warnUnverified(names)
			}
		}
		return 0, ""
	}
	if len(sessions) == 1 && len(unverified) == 0 {
		return 's', sessions[0].Value
	}
	byName := func(a, b laravel.Cookie) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(sessions, byName)
	slices.SortFunc(unverified, byName)
	var b strings.Builder
	part := func(tag byte, name, value string) {
		b.WriteByte(tag)
		b.WriteString(strconv.Itoa(len(name)))
		b.WriteByte(':')
		b.WriteString(name)
		b.WriteString(strconv.Itoa(len(value)))
		b.WriteByte(':')
		b.WriteString(value)
	}
	for _, c := range sessions {
		part('s', c.Name, c.Value)
	}
	for _, c := range unverified {
		part('u', c.Name, c.Value)
	}
	return 'm', b.String()
}

// credentialCookie finds the cookie a configured credential placeholder
// names, by its value (as sent, or decoded), among those that may be the
// session: the one named SessionCookie when set, else any encrypted
// cookie but XSRF-TOKEN.
func (h *Handler) credentialCookie(r *http.Request, credential string) (laravel.Cookie, bool) {
	cookies, ok := laravel.PHPCookies(r.Header)
	if !ok {
		return laravel.Cookie{}, false
	}
	for _, c := range cookies {
		if c.Raw != credential && c.Value != credential {
			continue
		}
		if name := h.opts.SessionCookie; name != "" {
			if c.Name == name {
				return c, true
			}
			continue
		}
		if c.Name != XSRFCookie && laravel.LooksEncrypted(c.Value) {
			return c, true
		}
	}
	return laravel.Cookie{}, false
}

// openCookie verifies the cookie name=value under the Laravel keys and
// returns the session id it holds ("" for none); verified says whether it
// verified at all. What verified is remembered (sessionCache).
func (h *Handler) openCookie(name, value string) (id string, verified bool) {
	if id, ok := h.sessions.get(name, value); ok {
		return id, true
	}
	plain, err := laravel.OpenCookie(h.keys, name, value)
	if err != nil {
		return "", false
	}
	if laravel.IsSessionID(plain) {
		id = plain
	}
	h.sessions.put(name, value, id)
	return id, true
}

// warnUnverified says once, per Handler, that encrypted cookies came and
// none verified: on every request, that is keys that are not the app's.
// Only the cookies' names are logged (at most maxSessionCookies, cut at
// 64 bytes each), never their values.
func (h *Handler) warnUnverified(names []string) {
	if !h.warnedSession.CompareAndSwap(false, true) {
		return
	}
	for i, n := range names {
		if len(n) > 64 {
			names[i] = n[:64]
		}
	}
	h.log.Warn("a request's encrypted cookies do not verify under laravel_app_key and laravel_previous_keys: its caller has no session, and its polls and writes go to the app; if every request says so, the keys are not the app's APP_KEY and APP_PREVIOUS_KEYS (said once)",
		zap.Strings("cookies", names))
}

// cookieNamed returns the cookie PHP files under name.
func cookieNamed(cookies []laravel.Cookie, name string) (laravel.Cookie, bool) {
	for _, c := range cookies {
		if c.Name == name {
			return c, true
		}
	}
	return laravel.Cookie{}, false
}
