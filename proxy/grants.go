package proxy

import (
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/pusher"
)

// GrantMemory remembers the app's channel grants (Options.Grants): that
// the app granted Channel to Caller in Tenant, with the grant's content (a
// presence channel's exact channel_data; "" for a private channel), so
// that the caller's next auth request for the channel, from another socket
// of the tenant, is answered by recordsync without the app — what makes a
// reconnect storm cheap for PHP. The engine implements it, cluster-wide
// when the instance is in a cluster; it decides how long a grant lasts
// (grant_ttl) and counts what it answers.
//
// The proxy remembers only what it proved the app decided: a grant for a
// request it read exactly as PHP read it (laravel.ReadAuthRequest), for an
// open socket of the request's tenant, answered by the app and signed (or
// verified) by recordsync, for a caller it knows (grantCaller). It ends a
// grant early on the app's refusal and when the caller's session ends
// (WatchSession).
//
// Implementations must be safe for concurrent use.
type GrantMemory interface {
	// Recall returns the grant remembered for k. A key without Caller is
	// never remembered (it is counted as such).
	Recall(k GrantKey) (channelData string, ok bool)
	// Remember stores the app's grant for k, replacing one remembered (a
	// fresh answer's channel_data replaces the old one).
	Remember(k GrantKey, channelData string)
	// Forget ends k's grant, for why (GrantEnd*).
	Forget(k GrantKey, why string)
	// ForgetCaller ends every grant of caller, in every tenant, for why.
	ForgetCaller(caller, why string)
}

// GrantKey names one remembered grant. The site is the memory's own.
type GrantKey struct {
	// Tenant is the request's tenant ("" for a site without tenancy).
	Tenant string
	// Caller is the caller's hashed credential (grantCaller); "" for none.
	Caller string
	// Channel is the full channel name ("private-...", "presence-...").
	Channel string
}

// Why a grant ends early, passed to GrantMemory.Forget and ForgetCaller.
const (
	// GrantEndRefused: the app answered 403 to the caller's auth request
	// for the channel.
	GrantEndRefused = "refused"
	// GrantEndUnauthenticated: the app answered 401 to a request of the
	// caller at the auth endpoint or a record route: all its grants end.
	GrantEndUnauthenticated = "unauthenticated"
	// GrantEndLogout: an answer of the app to the caller set its session
	// cookie to another session, or cleared it (Laravel's logout and
	// login regenerate the session): all its grants end.
	GrantEndLogout = "logout"
)

// AuthRemembered is the result passed to Observer.AuthSignature for an
// auth request answered from the grant memory, without the app.
const AuthRemembered = "remembered"

// GrantHeader is set on an answer of the auth endpoint made from the grant
// memory, to the value "remembered".
const GrantHeader = "X-Recordsync-Grant"

// grantCaller names the caller of r for the grant memory, or "" when it
// has none that recordsync can vouch for across requests: credentialID,
// except that a raw session cookie (without laravel_app_key, or a
// configured credential that is the raw value of a cookie) is never a
// caller here — Laravel encrypts the session cookie afresh in every
// answer, and recordsync could not tell a logout from any other answer.
// A Bearer token, a verified session, both, or a configured credential
// that is no raw cookie are callers.
func (h *Handler) grantCaller(r *http.Request, info RequestInfo) string {
	if info.Credential != "" {
		if h.keys == nil && isRawCookie(r, info.Credential) {
			return ""
		}
		return h.credentialID(r, info)
	}
	token := h.bearerToken(r)
	kind, session := h.session(r)
	if kind == 'c' || (token == "" && session == "") {
		return ""
	}
	return hashCredential(token, kind, session)
}

// isRawCookie reports whether value is the value (as sent, or decoded) of
// one of r's cookies.
func isRawCookie(r *http.Request, value string) bool {
	cookies, ok := laravel.PHPCookies(r.Header)
	if !ok {
		return true // unknown: taken as one
	}
	for _, c := range cookies {
		if c.Raw == value || c.Value == value {
			return true
		}
	}
	return false
}

// UpgradeCaller names the caller of a websocket upgrade that carried
// cookie and authorization (auth_upstream asks the app with those), as
// grantCaller names the caller of an auth request carrying them; "" when
// a credential placeholder is configured (Options.CredentialConfigured),
// which recordsync cannot evaluate for the upgrade here.
func (h *Handler) UpgradeCaller(cookie, authorization string) string {
	if h.opts.CredentialConfigured {
		return ""
	}
	hdr := make(http.Header, 2)
	if cookie != "" {
		hdr["Cookie"] = []string{cookie}
	}
	if authorization != "" {
		hdr["Authorization"] = []string{authorization}
	}
	return h.grantCaller(&http.Request{Header: hdr}, RequestInfo{})
}

// fromAuthUpstream reports whether r is auth_upstream's own request: the
// engine's authoriser recalls and remembers its grants, so the proxy does
// neither for it (it still ends grants on a refusal). A client that sends
// the same User-Agent only keeps its own requests from the memory.
func fromAuthUpstream(r *http.Request) bool {
	return r.Header.Get("User-Agent") == laravel.AuthUpstreamUserAgent
}

// answerRemembered answers an auth request for k's channel from the grant
// memory: signed for socketID (an open socket of k's tenant: the Signer
// checks) with the remembered channel_data. It reports false, having
// written nothing, when nothing is remembered or the signer refuses.
func (h *Handler) answerRemembered(w http.ResponseWriter, k GrantKey, socketID string) bool {
	data, ok := h.opts.Grants.Recall(k)
	if !ok {
		return false
	}
	auth, ok := h.opts.Signer.Sign(k.Tenant, socketID, k.Channel, data)
	if !ok {
		return false
	}
	b := make([]byte, 0, 96+len(data)*11/10)
	b = append(b, `{"auth":`...)
	b = pusher.AppendJSONString(b, auth)
	if pusher.KindOf(k.Channel) == pusher.KindPresence {
		b = append(b, `,"channel_data":`...)
		b = pusher.AppendJSONString(b, data)
	}
	b = append(b, '}')
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	// As Laravel's own answer (Symfony's Response::prepare for a response
	// without caching headers): never kept by a cache.
	hdr.Set("Cache-Control", "no-cache, private")
	hdr.Set(GrantHeader, "remembered")
	hdr.Set("Content-Length", itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(b); err != nil {
		h.debug("writing the response failed", zap.Error(err))
	}
	h.obs.AuthSignature(AuthRemembered)
	h.debug("answered from the grant memory", zap.String("channel", k.Channel))
	return true
}

// rememberGrant remembers the app's grant of k when the request may be
// (memo: read as PHP read it, for a channel, not auth_upstream's own) and
// has a caller.
func (h *Handler) rememberGrant(memo bool, k GrantKey, channelData string) {
	if memo && k.Caller != "" {
		h.opts.Grants.Remember(k, channelData)
	}
}

// grantRefused ends grants on the app's refusal of a request of the
// caller at the auth endpoint: a 401 (the caller is not authenticated)
// ends all of them, whatever was read of the request; a 403 ends the grant
// of the channel read (memo: read as PHP read it).
func (h *Handler) grantRefused(r *http.Request, info RequestInfo, status int, memo bool, k GrantKey) {
	switch {
	case status == http.StatusUnauthorized:
		h.unauthenticated(r, info, k.Caller, memo)
	case status == http.StatusForbidden && memo && k.Caller != "":
		h.opts.Grants.Forget(k, GrantEndRefused)
	}
}

// unauthenticated ends every grant of the caller of r, which the app
// answered 401; caller is its name when known (known: it was computed).
func (h *Handler) unauthenticated(r *http.Request, info RequestInfo, caller string, known bool) {
	if h.opts.Grants == nil {
		return
	}
	if !known {
		caller = h.grantCaller(r, info)
	}
	if caller != "" {
		h.opts.Grants.ForgetCaller(caller, GrantEndUnauthenticated)
	}
}

// WatchSession returns w, or, with the grant memory and Laravel keys, for
// a request with cookies, a ResponseWriter that looks at the app's answer
// before it is sent: when it sets the request's session cookie to another
// session, or clears it, the caller's session is over (Laravel's logout
// calls Session::invalidate, which gives the session a new id and drops
// the old one; a login regenerates it too; Illuminate/Session/Store.php,
// migrate), and every grant of the caller ends (GrantEndLogout). info is
// evaluated only then. The caddy glue wraps every request it passes on
// with it; ServeHTTP wraps the requests it handles.
func (h *Handler) WatchSession(w http.ResponseWriter, r *http.Request, info func() RequestInfo) http.ResponseWriter {
	if !h.WatchesSession(r) {
		return w
	}
	if _, ok := w.(*sessionWatch); ok {
		return w
	}
	return &sessionWatch{ResponseWriter: w, h: h, r: r, info: info}
}

// WatchesSession reports whether WatchSession wraps a ResponseWriter for r.
func (h *Handler) WatchesSession(r *http.Request) bool {
	return h.opts.Grants != nil && h.keys != nil && len(r.Header["Cookie"]) > 0
}

// sessionWatch is WatchSession's ResponseWriter.
type sessionWatch struct {
	http.ResponseWriter
	h       *Handler
	r       *http.Request
	info    func() RequestInfo
	checked bool
}

func (s *sessionWatch) check(status int) {
	if s.checked || (status >= 100 && status < 200) {
		return
	}
	s.checked = true
	s.h.sessionAnswered(s.r, s.info, s.ResponseWriter.Header())
}

func (s *sessionWatch) WriteHeader(status int) {
	s.check(status)
	s.ResponseWriter.WriteHeader(status)
}

func (s *sessionWatch) Write(b []byte) (int, error) {
	s.check(http.StatusOK)
	return s.ResponseWriter.Write(b)
}

// ReadFrom keeps the underlying writer's io.ReaderFrom (a file server's
// sendfile) after the answer's headers were looked at.
func (s *sessionWatch) ReadFrom(src io.Reader) (int64, error) {
	s.check(http.StatusOK)
	if rf, ok := s.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(s.ResponseWriter, src)
}

// Flush sends what was written (a stream's first bytes write the headers).
func (s *sessionWatch) Flush() {
	s.check(http.StatusOK)
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *sessionWatch) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// sessionAnswered ends the grants of r's caller when hdr, the app's
// answer's headers, sets one of r's session cookies to another session or
// clears it: a Set-Cookie of the same name (as PHP files it) that deletes
// it (Max-Age 0 or less, an Expires in the past, an empty value), holds
// another session id, or holds none that verifies. Other cookies, and
// XSRF-TOKEN, are not looked at.
func (h *Handler) sessionAnswered(r *http.Request, info func() RequestInfo, hdr http.Header) {
	sets := hdr["Set-Cookie"]
	if len(sets) == 0 {
		return
	}
	var sessions map[string]string
	ended := false
	for _, line := range sets {
		c, err := http.ParseSetCookie(line)
		if err != nil || c.Name == XSRFCookie {
			continue
		}
		// The name and value as the browser sends them back and PHP reads
		// them.
		set, ok := laravel.PHPCookies(http.Header{"Cookie": {c.Name + "=" + c.Value}})
		if !ok || len(set) != 1 {
			continue
		}
		if sessions == nil {
			if sessions = h.requestSessions(r); len(sessions) == 0 {
				return
			}
		}
		id, had := sessions[set[0].Name]
		if !had {
			continue
		}
		if c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now())) || set[0].Value == "" {
			ended = true
			break
		}
		if now, _ := h.openCookie(set[0].Name, set[0].Value); now != id {
			ended = true
			break
		}
	}
	if !ended {
		return
	}
	if caller := h.grantCaller(r, info()); caller != "" {
		h.debug("the app ended the caller's session: its grants end")
		h.opts.Grants.ForgetCaller(caller, GrantEndLogout)
	}
}

// requestSessions returns the session ids in r's cookies that verify, by
// the name PHP files each cookie under: the cookie named SessionCookie
// when set, else every encrypted cookie but XSRF-TOKEN (at most
// maxSessionCookies of them; more read none).
func (h *Handler) requestSessions(r *http.Request) map[string]string {
	cookies, ok := laravel.PHPCookies(r.Header)
	if !ok {
		return nil
	}
	var out map[string]string
	tried := 0
	for _, c := range cookies {
		if c.Name == XSRFCookie || !laravel.LooksEncrypted(c.Value) {
			continue
		}
		if name := h.opts.SessionCookie; name != "" && c.Name != name {
			continue
		}
		if tried++; tried > maxSessionCookies {
			return nil
		}
		if id, _ := h.openCookie(c.Name, c.Value); id != "" {
			if out == nil {
				out = make(map[string]string, 1)
			}
			out[c.Name] = id
		}
	}
	return out
}
