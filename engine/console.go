package engine

// The live console: a page served by recordsync on a path the operator
// chooses, like Pusher's debug console, showing per tenant the sockets,
// the channels with their subscribers and presence members, a live stream
// of events (name, channel, size, source) and of the answers the proxy gave
// at the edge (stale writes, version polls), and a form to send a test
// event.
//
// It lives here, not in realtime, because it shows both the hub and the
// proxy: the Engine is what wires the two (monitor.go taps both).
//
// Who may open it: a viewer of the configuration, recognised either by the
// user name an authentication in front of it established (the Caddy glue
// passes Caddy's {http.auth.user.id}), or by the viewer's own token, given
// once in the sign-in form (a session cookie then) or, for scripts, in an
// Authorization: Bearer header — never in a URL. A viewer sees the tenants
// their patterns match, and nothing of the others.
//
// Cross-site requests: every action (sign-in, sign-out, the test event) is
// a POST that must come with an Origin of the console's own host and, but
// for the sign-in, with the session's token (X-CSRF-Token header or
// csrf_token form field), which only a page of the console can read.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/recordsync/recordsync/kit"
	"github.com/recordsync/recordsync/realtime"
)

// ConsoleViewer is one who may open the console.
type ConsoleViewer struct {
	// Name is the viewer's name: an authentication in front of the console
	// that established this user name (ConsoleRequest.User) opens it as
	// this viewer.
	Name string
	// Tenants are the patterns of the tenants the viewer sees: "*" stands
	// for any run of characters ("*.example.com", "*" for every tenant);
	// matched case-insensitively. The tenant of a site without tenancy is
	// the empty string, which only "*" matches.
	Tenants []string
	// Token, when set, lets the viewer sign in with it (the console's form,
	// or an Authorization: Bearer header). At least MinConsoleToken
	// characters.
	Token string
}

// ConsoleOptions configure a console.
type ConsoleOptions struct {
	// Path is where the console is served, e.g. "/_recordsync": the page
	// at Path and Path/, its files and API under Path/.
	Path string
	// Viewers may open it; at least one.
	Viewers []ConsoleViewer
	// Payloads shows events' data (and presence members' user_info).
	// Default: off, only names, channels and sizes.
	Payloads bool
	// Logger receives sign-ins and refusals. Nil: none.
	Logger *zap.Logger
}

// MinConsoleToken is the shortest console token accepted.
const MinConsoleToken = 16

// Console bounds.
const (
	// consoleSessionTTL is how long a session lasts from its sign-in.
	consoleSessionTTL = 12 * time.Hour
	// maxConsoleSessions bounds the sessions kept; the oldest go first.
	maxConsoleSessions = 1000
	// maxStreamsPerViewer and maxStreams bound the open live streams.
	maxStreamsPerViewer = 8
	maxStreams          = 64
	// maxSignInFailures bounds failed sign-ins per remote address and minute.
	maxSignInFailures = 10
	// maxConsoleBody bounds an action's body.
	maxConsoleBody = 64 << 10
	// maxShownPayload bounds the data shown of one event.
	maxShownPayload = 4096
	// consoleCookie names the session cookie.
	consoleCookie = "recordsync_console"
	// streamKeepAlive is how often an idle stream sends a comment.
	streamKeepAlive = 15 * time.Second
	// streamWriteTimeout bounds one write to a stream's viewer.
	streamWriteTimeout = 10 * time.Second
	// streamWriteBytes: events gathered up to this size are written at
	// once, without waiting for the next streamRefill.
	streamWriteBytes = 64 << 10
)

// ValidateConsolePath checks a console path: it starts with /, does not end
// with / and holds only letters, digits and -._~/ (it is written into the
// page).
func ValidateConsolePath(p string) error {
	if len(p) < 2 || p[0] != '/' || strings.HasSuffix(p, "/") || strings.Contains(p, "//") {
		return fmt.Errorf("console path %q must start with /, not end with / and name something (e.g. /_recordsync)", p)
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~/", r)) {
			return fmt.Errorf("console path %q: only letters, digits and -._~/ are allowed", p)
		}
	}
	return nil
}

// viewer is a ConsoleViewer, ready.
type viewer struct {
	name     string
	patterns []string
	hasToken bool
	tokenSum [sha256.Size]byte
}

// allow reports whether v sees tenant.
func (v *viewer) allow(tenant string) bool {
	for _, p := range v.patterns {
		if matchTenant(p, tenant) {
			return true
		}
	}
	return false
}

// matchTenant matches tenant against pattern, "*" standing for any run of
// characters, case-insensitively; "" (the tenant of a site without
// tenancy) only against "*".
func matchTenant(pattern, tenant string) bool {
	if pattern == "*" {
		return true
	}
	if tenant == "" {
		return false
	}
	return glob(strings.ToLower(pattern), strings.ToLower(tenant))
}

// glob matches s against p, where * is any run of bytes.
func glob(p, s string) bool {
	star, next := -1, 0
	i, j := 0, 0
	for j < len(s) {
		switch {
		case i < len(p) && p[i] == '*':
			star, next = i, j
			i++
		case i < len(p) && p[i] == s[j]:
			i++
			j++
		case star >= 0:
			next++
			i, j = star+1, next
		default:
			return false
		}
	}
	for i < len(p) && p[i] == '*' {
		i++
	}
	return i == len(p)
}

// session is a signed-in viewer of the console.
type session struct {
	viewer string
	// byToken: signed in with the viewer's token, whose sum it keeps (a
	// new token ends the session); else opened as the user an
	// authentication in front established (the session lasts while that
	// user is the request's).
	byToken  bool
	tokenSum [sha256.Size]byte
	// csrf is the token actions must carry.
	csrf    string
	expires time.Time
}

// Console serves the live console of one configuration. It is safe for
// concurrent use.
type Console struct {
	m        *monitor
	hub      *realtime.Hub // nil without a hub
	path     string
	viewers  map[string]*viewer
	tokens   bool // some viewer has a token
	payloads bool
	log      *zap.Logger
	page     []byte
}

// NewConsole builds the console of a configuration on the Engine. Errors
// name the viewer at fault.
func (e *Engine) NewConsole(o ConsoleOptions) (*Console, error) {
	if err := ValidateConsolePath(o.Path); err != nil {
		return nil, err
	}
	if len(o.Viewers) == 0 {
		return nil, errors.New("the console needs at least one viewer (viewer <name> <tenant pattern>...)")
	}
	c := &Console{m: e.monitor, hub: e.hub, path: o.Path, viewers: map[string]*viewer{}, payloads: o.Payloads, log: o.Logger}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	for _, cv := range o.Viewers {
		if cv.Name == "" {
			return nil, errors.New("a console viewer needs a name")
		}
		if c.viewers[cv.Name] != nil {
			return nil, fmt.Errorf("console viewer %q is declared twice", cv.Name)
		}
		if len(cv.Tenants) == 0 {
			return nil, fmt.Errorf("console viewer %q needs at least one tenant pattern (* for all)", cv.Name)
		}
		v := &viewer{name: cv.Name}
		for _, p := range cv.Tenants {
			if p == "" {
				return nil, fmt.Errorf("console viewer %q: an empty tenant pattern", cv.Name)
			}
			v.patterns = append(v.patterns, p)
		}
		if cv.Token != "" {
			if len(cv.Token) < MinConsoleToken {
				return nil, fmt.Errorf("console viewer %q: the token must be at least %d characters", cv.Name, MinConsoleToken)
			}
			for _, other := range c.viewers {
				if other.hasToken && other.tokenSum == sha256.Sum256([]byte(cv.Token)) {
					return nil, fmt.Errorf("console viewers %q and %q have the same token", other.name, cv.Name)
				}
			}
			v.hasToken, v.tokenSum = true, sha256.Sum256([]byte(cv.Token))
			c.tokens = true
		}
		c.viewers[cv.Name] = v
	}
	c.page = bytes.ReplaceAll(kit.ConsoleHTML, []byte("{{base}}"), []byte(html.EscapeString(o.Path)))
	return c, nil
}

// Path is where the console is served.
func (c *Console) Path() string { return c.path }

// Serves reports whether path is the console's.
func (c *Console) Serves(path string) bool {
	return c != nil && (path == c.path || strings.HasPrefix(path, c.path+"/"))
}

// ConsoleRequest is what the Caddy glue resolved of a console request.
type ConsoleRequest struct {
	// User is the user name an authentication in front of the console
	// established (Caddy's {http.auth.user.id}); "" when none.
	User string
}

// ServeHTTP serves a request under the console's path.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request, cr ConsoleRequest) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	rest := strings.TrimPrefix(r.URL.Path, c.path)
	switch rest {
	case "", "/":
		c.servePage(w, r, cr)
	case "/" + kit.ConsoleJSFile, "/" + kit.ConsoleCSSFile:
		kit.ServeConsoleAsset(w, r)
	case "/login":
		c.signIn(w, r)
	case "/logout":
		c.signOut(w, r, cr)
	case "/api/state":
		c.serveState(w, r, cr)
	case "/api/stream":
		c.serveStream(w, r, cr)
	case "/api/publish":
		c.servePublish(w, r, cr)
	default:
		http.NotFound(w, r)
	}
}

// who finds the request's viewer: its session (when still valid), the
// user an authentication in front established, or a Bearer token. sess is
// nil unless the session cookie named the viewer.
func (c *Console) who(r *http.Request, cr ConsoleRequest) (v *viewer, sess *session, sessID string) {
	if ck, err := r.Cookie(consoleCookie); err == nil && ck.Value != "" {
		c.m.mu.Lock()
		s := c.m.sessions[ck.Value]
		if s != nil && time.Now().After(s.expires) {
			delete(c.m.sessions, ck.Value)
			s = nil
		}
		var copied session
		if s != nil {
			copied = *s
		}
		c.m.mu.Unlock()
		if s != nil {
			if v := c.viewers[copied.viewer]; v != nil && c.sessionHolds(v, &copied, cr) {
				return v, &copied, ck.Value
			}
		}
	}
	if cr.User != "" {
		if v := c.viewers[cr.User]; v != nil {
			return v, nil, ""
		}
	}
	if tok, ok := bearer(r); ok {
		return c.byToken(tok), nil, ""
	}
	return nil, nil, ""
}

// sessionHolds reports whether s still opens the console as v: signed in
// with v's current token, or opened as the user still authenticated.
func (c *Console) sessionHolds(v *viewer, s *session, cr ConsoleRequest) bool {
	if s.byToken {
		return v.hasToken && subtle.ConstantTimeCompare(v.tokenSum[:], s.tokenSum[:]) == 1
	}
	return cr.User == v.name
}

// byToken returns the viewer whose token is tok, or nil.
func (c *Console) byToken(tok string) *viewer {
	sum := sha256.Sum256([]byte(tok))
	var found *viewer
	for _, v := range c.viewers {
		if v.hasToken && subtle.ConstantTimeCompare(v.tokenSum[:], sum[:]) == 1 {
			found = v
		}
	}
	return found
}

// bearer returns the request's Authorization: Bearer token.
func bearer(r *http.Request) (string, bool) {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:]), true
	}
	return "", false
}

// newSession starts a session for v and sets its cookie.
func (c *Console) newSession(w http.ResponseWriter, r *http.Request, v *viewer, byToken bool) *session {
	s := &session{viewer: v.name, byToken: byToken, tokenSum: v.tokenSum, csrf: randomToken(), expires: time.Now().Add(consoleSessionTTL)}
	if !byToken {
		s.tokenSum = [sha256.Size]byte{}
	}
	id := randomToken()
	c.m.mu.Lock()
	now := time.Now()
	if len(c.m.sessions) >= maxConsoleSessions {
		var oldest string
		for k, o := range c.m.sessions {
			if now.After(o.expires) {
				delete(c.m.sessions, k)
				continue
			}
			if oldest == "" || o.expires.Before(c.m.sessions[oldest].expires) {
				oldest = k
			}
		}
		if len(c.m.sessions) >= maxConsoleSessions {
			delete(c.m.sessions, oldest)
		}
	}
	c.m.sessions[id] = s
	c.m.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: consoleCookie, Value: id, Path: c.path, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, Expires: s.expires,
	})
	copied := *s
	return &copied
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// servePage serves the console's page: to a viewer (opening a session for
// one an authentication in front established), else with 401 when viewers
// may sign in with a token (the page shows the form), else 403.
func (c *Console) servePage(w http.ResponseWriter, r *http.Request, cr ConsoleRequest) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	if r.URL.Path == c.path {
		// Under Path/, so that the page's relative URLs and the cookie's
		// path hold.
		http.Redirect(w, r, c.path+"/", http.StatusSeeOther)
		return
	}
	v, sess, _ := c.who(r, cr)
	status := http.StatusOK
	switch {
	case v != nil && sess == nil && cr.User == v.name:
		c.newSession(w, r, v, false)
	case v == nil && c.tokens:
		status = http.StatusUnauthorized
	case v == nil:
		status = http.StatusForbidden
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	if r.Method == http.MethodGet {
		_, _ = w.Write(c.page)
	}
}

// signIn takes the sign-in form's token: a session for its viewer, then
// back to the page.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return
	}
	if err := sameOrigin(r); err != nil {
		c.refuse(w, r, http.StatusForbidden, err.Error())
		return
	}
	addr := remoteHost(r)
	if c.failedTooOften(addr, false) {
		c.refuse(w, r, http.StatusTooManyRequests, "too many failed sign-ins: wait a minute")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxConsoleBody)
	if err := r.ParseForm(); err != nil {
		c.refuse(w, r, http.StatusBadRequest, "unreadable form")
		return
	}
	v := c.byToken(r.PostForm.Get("token"))
	if v == nil {
		c.failedTooOften(addr, true)
		c.log.Info("recordsync console: sign-in refused", zap.String("remote", addr))
		http.Redirect(w, r, c.path+"/?signin=failed", http.StatusSeeOther)
		return
	}
	c.newSession(w, r, v, true)
	c.log.Info("recordsync console: signed in", zap.String("viewer", v.name), zap.String("remote", addr))
	http.Redirect(w, r, c.path+"/", http.StatusSeeOther)
}

// failedTooOften counts a failed sign-in of addr (add) and reports whether
// addr is over maxSignInFailures this minute.
func (c *Console) failedTooOften(addr string, add bool) bool {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if now := time.Now(); now.Sub(m.failuresSince) > time.Minute {
		clear(m.failures)
		m.failuresSince = now
	}
	if add && (m.failures[addr] > 0 || len(m.failures) < maxConsoleSessions) {
		m.failures[addr]++
	}
	return m.failures[addr] >= maxSignInFailures
}

// signOut ends the request's session.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, cr ConsoleRequest) {
	_, sessID, ok := c.action(w, r, cr)
	if !ok {
		return
	}
	c.m.mu.Lock()
	delete(c.m.sessions, sessID)
	c.m.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: "", Path: c.path, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, c.path+"/", http.StatusSeeOther)
}

// action checks an action: a POST from the console's own origin, of a
// session whose token it carries (X-CSRF-Token, or the csrf_token form
// field). It answers the refusal itself.
func (c *Console) action(w http.ResponseWriter, r *http.Request, cr ConsoleRequest) (*viewer, string, bool) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return nil, "", false
	}
	if err := sameOrigin(r); err != nil {
		c.refuse(w, r, http.StatusForbidden, err.Error())
		return nil, "", false
	}
	v, sess, sessID := c.who(r, cr)
	if v == nil {
		c.refuse(w, r, http.StatusUnauthorized, "not signed in")
		return nil, "", false
	}
	if sess == nil {
		c.refuse(w, r, http.StatusForbidden, "actions need the console's session (open the console's page first)")
		return nil, "", false
	}
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, maxConsoleBody)
		if err := r.ParseForm(); err == nil {
			tok = r.PostForm.Get("csrf_token")
		}
	}
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(sess.csrf)) != 1 {
		c.refuse(w, r, http.StatusForbidden, "missing or wrong CSRF token")
		return nil, "", false
	}
	return v, sessID, true
}

// sameOrigin checks that a browser's request comes from a page of the
// console's own host: its Origin (which browsers send with every POST) must
// name the request's Host (and https when the request came over TLS), and
// Sec-Fetch-Site, when sent, must be same-origin.
func sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("cross-site request refused (Sec-Fetch-Site: %s)", site)
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return errors.New("request without Origin refused")
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("cross-origin request refused")
	}
	if !strings.EqualFold(u.Host, r.Host) || (r.TLS != nil && u.Scheme != "https") {
		return errors.New("cross-origin request refused")
	}
	return nil
}

func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// refuse answers a refusal as JSON {"error": msg}.
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if ce := c.log.Check(zap.DebugLevel, "recordsync console: refused"); ce != nil {
		ce.Write(zap.Int("status", status), zap.String("path", r.URL.Path), zap.String("reason", msg))
	}
	writeConsoleJSON(w, status, map[string]any{"error": msg, "sign_in": c.tokens})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeConsoleJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
}

func writeConsoleJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// reader checks a read (GET) and returns its viewer and session (nil
// for a Bearer token or a user without one yet).
func (c *Console) reader(w http.ResponseWriter, r *http.Request, cr ConsoleRequest) (*viewer, *session, bool) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return nil, nil, false
	}
	v, sess, _ := c.who(r, cr)
	if v == nil {
		status := http.StatusUnauthorized
		if cr.User != "" {
			status = http.StatusForbidden
		}
		c.refuse(w, r, status, "not signed in")
		return nil, nil, false
	}
	return v, sess, true
}

// consoleState is the answer of GET api/state.
type consoleState struct {
	Viewer   string                `json:"viewer"`
	Patterns []string              `json:"patterns"`
	Payloads bool                  `json:"payloads"`
	Hub      bool                  `json:"hub"`
	CSRF     string                `json:"csrf,omitempty"`
	SignOut  bool                  `json:"sign_out"`
	Tenants  []realtime.TenantView `json:"tenants"`
}

// serveState answers the viewer's tenants as they are now.
func (c *Console) serveState(w http.ResponseWriter, r *http.Request, cr ConsoleRequest) {
	v, sess, ok := c.reader(w, r, cr)
	if !ok {
		return
	}
	if sess == nil && cr.User == v.name {
		sess = c.newSession(w, r, v, false)
	}
	st := consoleState{Viewer: v.name, Patterns: v.patterns, Payloads: c.payloads, Hub: c.hub != nil, Tenants: []realtime.TenantView{}}
	if sess != nil {
		st.CSRF, st.SignOut = sess.csrf, sess.byToken
	}
	if c.hub != nil {
		st.Tenants = c.hub.Snapshot(realtime.SnapshotOptions{Allow: v.allow, MemberInfo: c.payloads})
	}
	writeConsoleJSON(w, http.StatusOK, st)
}

// streamEvent is one event of the live stream, as the page reads it.
type streamEvent struct {
	Time    int64  `json:"t"`
	Kind    string `json:"kind"`
	Tenant  string `json:"tenant"`
	Channel string `json:"channel,omitempty"`
	Event   string `json:"event,omitempty"`
	Size    int    `json:"size,omitempty"`
	Source  string `json:"source,omitempty"`
	Socket  string `json:"socket,omitempty"`
	User    string `json:"user,omitempty"`
	// Data is the payload (with Payloads), cut at maxShownPayload bytes
	// (Truncated).
	Data      *string `json:"data,omitempty"`
	Truncated bool    `json:"truncated,omitempty"`
	// Record, Loaded, Current, By, FromCache: conflicts and polls.
	Record    string `json:"record,omitempty"`
	Loaded    string `json:"loaded,omitempty"`
	Current   string `json:"current,omitempty"`
	By        string `json:"by,omitempty"`
	FromCache bool   `json:"from_cache,omitempty"`
	// Dropped counts events this stream lost before this one.
	Dropped int64 `json:"dropped,omitempty"`
}

func (c *Console) render(ev *consoleEvent) streamEvent {
	out := streamEvent{Time: ev.Time.UnixMilli(), Kind: ev.Kind, Tenant: ev.tenant()}
	switch ev.Kind {
	case kindConflict, kindPoll:
		out.Record = ev.Record.Type + "/" + ev.Record.ID
		out.Loaded, out.Current, out.By, out.FromCache = ev.Loaded, ev.Current, ev.By, ev.FromCache
		return out
	}
	n := &ev.Note
	out.Channel, out.Event, out.Socket, out.User = n.Channel, n.Event, n.SocketID, n.UserID
	if n.Kind == realtime.ActPublished || n.Kind == realtime.ActClientEvent {
		out.Size, out.Source = n.Size, n.Source.String()
	}
	var data []byte
	switch n.Kind {
	case realtime.ActPublished, realtime.ActClientEvent:
		data = n.Data
		if len(data) == 0 {
			data = []byte("{}")
		}
	case realtime.ActMemberAdded:
		data = n.Info
	}
	if c.payloads && data != nil {
		if len(data) > maxShownPayload {
			data, out.Truncated = data[:maxShownPayload], true
		}
		s := strings.ToValidUTF8(string(data), "\uFFFD")
		out.Data = &s
	}
	return out
}

// serveStream streams the viewer's tenants' events as Server-Sent Events
// (text/event-stream, one JSON object per message) until the viewer goes.
// Events are gathered and written together every streamRefill (at most
// ten writes a second, whatever the publish rate): a write per event
// would cost the instance a system call and its viewer a wake-up each.
func (c *Console) serveStream(w http.ResponseWriter, r *http.Request, cr ConsoleRequest) {
	v, _, ok := c.reader(w, r, cr)
	if !ok {
		return
	}
	s := newStream(v.allow)
	if !c.openStream(v, s) {
		c.refuse(w, r, http.StatusTooManyRequests, "too many open console streams")
		return
	}
	defer c.closeStream(v, s)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The first message: the stream is open (the page shows it).
	_, _ = io.WriteString(w, "retry: 2000\n: open\n\n")
	if rc.Flush() != nil {
		return
	}
	refill := time.NewTicker(streamRefill)
	defer refill.Stop()
	idle := time.NewTimer(streamKeepAlive)
	defer idle.Stop()
	var buf []byte
	for {
		select {
		case <-r.Context().Done():
			return
		case ev := <-s.ch:
			buf = c.appendEvent(buf, s, &ev)
			if len(buf) < streamWriteBytes {
				continue
			}
		case <-refill.C:
			s.budget.Store(streamBurst)
			if len(buf) == 0 {
				continue
			}
		case <-idle.C:
			buf = append(buf, ": keep-alive\n\n"...)
		}
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := w.Write(buf); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		buf = buf[:0]
		idle.Reset(streamKeepAlive)
	}
}

// appendEvent appends ev to buf as one SSE message.
func (c *Console) appendEvent(buf []byte, s *stream, ev *consoleEvent) []byte {
	out := c.render(ev)
	out.Dropped = s.dropped.Swap(0)
	b, err := json.Marshal(out)
	if err != nil {
		return buf
	}
	buf = append(buf, "data: "...)
	buf = append(buf, b...) // JSON holds no raw newline
	return append(buf, "\n\n"...)
}

// openStream admits s for v under the stream bounds.
func (c *Console) openStream(v *viewer, s *stream) bool {
	m := c.m
	m.mu.Lock()
	n := m.perViewer[v.name]
	total := 0
	if cur := m.streams.Load(); cur != nil {
		total = len(*cur)
	}
	if n >= maxStreamsPerViewer || total >= maxStreams {
		m.mu.Unlock()
		return false
	}
	m.perViewer[v.name]++
	m.mu.Unlock()
	m.open(s)
	return true
}

func (c *Console) closeStream(v *viewer, s *stream) {
	c.m.close(s)
	c.m.mu.Lock()
	if c.m.perViewer[v.name] > 1 {
		c.m.perViewer[v.name]--
	} else {
		delete(c.m.perViewer, v.name)
	}
	c.m.mu.Unlock()
}

// publishForm is the body of POST api/publish.
type publishForm struct {
	Tenant  string `json:"tenant"`
	Channel string `json:"channel"`
	Event   string `json:"event"`
	// Data is the event's data: JSON text ("" for {}).
	Data string `json:"data"`
}

// servePublish sends a test event to a channel of one of the viewer's
// tenants, as the HTTP API would (to every instance of a cluster).
func (c *Console) servePublish(w http.ResponseWriter, r *http.Request, cr ConsoleRequest) {
	v, _, ok := c.action(w, r, cr)
	if !ok {
		return
	}
	if c.hub == nil {
		c.refuse(w, r, http.StatusConflict, "no websocket hub here (app_key is not set)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConsoleBody))
	if err != nil {
		c.refuse(w, r, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	var f publishForm
	if err := json.Unmarshal(body, &f); err != nil {
		c.refuse(w, r, http.StatusBadRequest, "the body must be JSON: {tenant, channel, event, data}")
		return
	}
	if !v.allow(f.Tenant) {
		c.refuse(w, r, http.StatusForbidden, "tenant "+strconv.Quote(f.Tenant)+" is not one of yours")
		return
	}
	data := []byte(strings.TrimSpace(f.Data))
	if len(data) == 0 {
		data = []byte("{}")
	}
	if err := c.hub.PublishTest(realtime.Event{Tenant: f.Tenant, Channel: f.Channel, Name: f.Event, Data: data, Source: realtime.SourceConsole}); err != nil {
		c.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	c.log.Info("recordsync console: test event sent", zap.String("viewer", v.name),
		zap.String("tenant", f.Tenant), zap.String("channel", f.Channel), zap.String("event", f.Event))
	writeConsoleJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// Viewers lists the names of the console's viewers, sorted.
func (c *Console) Viewers() []string {
	names := make([]string, 0, len(c.viewers))
	for n := range c.viewers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
