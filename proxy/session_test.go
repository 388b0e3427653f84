package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// phpCookies are Laravel cookies made by PHP (Debian's Laravel 8.83) with
// fresh keys on every run: ../laravel/testdata/cookievectors.php says how
// each is made.
type phpCookies struct {
	Names       map[string]string `json:"names"`
	AppKey      string            `json:"app_key"`
	PreviousKey string            `json:"previous_key"`
	Key16       string            `json:"key16"`
	SessionID   string            `json:"session_id"`
	Vectors     []struct {
		What string `json:"what"`
		Name string `json:"name"`
		Sent string `json:"sent"`
	} `json:"vectors"`
}

var (
	phpCookiesOnce sync.Once
	phpCookiesMade phpCookies
	phpCookiesErr  error
)

// madeByPHP runs the vectors' script once per test binary; without the
// php command the test is skipped.
func madeByPHP(t *testing.T) phpCookies {
	t.Helper()
	php, err := exec.LookPath("php")
	if err != nil {
		t.Skip("php not found: the cookies are made by PHP's Laravel (apt-get install php-cli php-laravel-framework)")
	}
	phpCookiesOnce.Do(func() {
		cmd := exec.Command(php, "-d", "include_path=.:/usr/share/php", "cookievectors.php")
		cmd.Dir = "../laravel/testdata"
		out, err := cmd.CombinedOutput()
		if err != nil {
			phpCookiesErr = fmt.Errorf("%v: %s", err, out)
			return
		}
		phpCookiesErr = json.Unmarshal(out, &phpCookiesMade)
	})
	if phpCookiesErr != nil {
		t.Fatalf("cookievectors.php: %v", phpCookiesErr)
	}
	return phpCookiesMade
}

// cookie returns the vector what as a Cookie header pair, as the browser
// sends it back.
func (p phpCookies) cookie(t *testing.T, what string) string {
	t.Helper()
	for _, v := range p.Vectors {
		if v.What == what {
			return v.Name + "=" + v.Sent
		}
	}
	t.Fatalf("no vector %q", what)
	return ""
}

func cookieRequest(cookies ...string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	if len(cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(cookies, "; "))
	}
	return r
}

// The session is found without configuration under any name, key and
// cipher the app uses, and it is the same caller as with the name given.
func TestSessionFoundUnderAnyName(t *testing.T) {
	p := madeByPHP(t)
	h, obs := newTestHandler(t, func(o *Options) {
		o.LaravelAppKey = p.AppKey
		o.LaravelPreviousKeys = p.PreviousKey
	})
	pinned, _ := newTestHandler(t, func(o *Options) {
		o.LaravelAppKey = p.AppKey
		o.LaravelPreviousKeys = p.PreviousKey
		o.SessionCookie = p.Names["slug_hyphen"]
	})
	noPrevious, _ := newTestHandler(t, func(o *Options) { o.LaravelAppKey = p.AppKey })
	aes128, _ := newTestHandler(t, func(o *Options) { o.LaravelAppKey = p.Key16 })

	session := p.cookie(t, "session, AES-256-CBC, Laravel 12 skeleton name")
	caller := hashCredential("", 's', p.SessionID)
	if got := pinned.credentialID(cookieRequest(session), RequestInfo{}); got != caller {
		t.Fatal("the pinned name does not read the session")
	}
	xsrf := p.cookie(t, "XSRF-TOKEN")
	remember := p.cookie(t, "remember cookie")
	for _, tc := range []struct {
		what    string
		h       *Handler
		cookies []string
	}{
		{"Laravel 12 skeleton name", h, []string{session}},
		{"Laravel 8-11 name", h, []string{p.cookie(t, "session, AES-256-CBC, Laravel 8-11 name")}},
		{"beside XSRF-TOKEN and a remember-me cookie", h, []string{xsrf, session, remember, "_ga=GA1.1.2"}},
		{"under a previous key", h, []string{p.cookie(t, "session under a previous key")}},
		{"AES-256-GCM", h, []string{p.cookie(t, "session, AES-256-GCM")}},
		{"AES-256-GCM under a previous key", h, []string{p.cookie(t, "session, AES-256-GCM under a previous key")}},
		{"AES-256-CBC as Laravel 12 encrypts", h, []string{p.cookie(t, "session, AES-256-CBC as Laravel 12 encrypts")}},
		{"AES-128-CBC", aes128, []string{p.cookie(t, "session, AES-128-CBC")}},
		{"AES-128-GCM as Laravel 12 encrypts", aes128, []string{p.cookie(t, "session, AES-128-GCM as Laravel 12 encrypts")}},
	} {
		if got := tc.h.credentialID(cookieRequest(tc.cookies...), RequestInfo{}); got != caller {
			t.Errorf("%s: not the session's caller", tc.what)
		}
	}
	if got := noPrevious.credentialID(cookieRequest(p.cookie(t, "session under a previous key")), RequestInfo{}); got != "" {
		t.Error("a previous key's session read without laravel_previous_keys")
	}
	// The pinned name reads only that cookie.
	if got := pinned.credentialID(cookieRequest(p.cookie(t, "session, AES-256-CBC, Laravel 8-11 name")), RequestInfo{}); got != "" {
		t.Error("the pinned name read another cookie")
	}
	if n := obs.get("refused." + RefusedSessionUnverified); n != 0 {
		t.Errorf("%d sessions counted unverified", n)
	}
}

// XSRF-TOKEN verifies under the app key and holds a 40-character token,
// but is never the session: not under its own name, and not under the
// session's name either (its prefix is bound to XSRF-TOKEN).
func TestXSRFTokenIsNeverTheSession(t *testing.T) {
	p := madeByPHP(t)
	h, obs := newTestHandler(t, func(o *Options) { o.LaravelAppKey = p.AppKey })
	xsrf := p.cookie(t, "XSRF-TOKEN")
	if got := h.credentialID(cookieRequest(xsrf), RequestInfo{}); got != "" {
		t.Fatal("XSRF-TOKEN taken as the session")
	}
	if obs.get("refused."+RefusedSessionUnverified) != 0 {
		t.Fatal("XSRF-TOKEN was tried")
	}
	value := strings.TrimPrefix(xsrf, "XSRF-TOKEN=")
	if got := h.credentialID(cookieRequest(p.Names["slug_hyphen"]+"="+value), RequestInfo{}); got != "" {
		t.Fatal("XSRF-TOKEN's value under the session's name taken as the session")
	}
	// A remember-me cookie verifies and holds no session id: no session.
	if got := h.credentialID(cookieRequest(p.cookie(t, "remember cookie")), RequestInfo{}); got != "" {
		t.Fatal("a remember-me cookie taken as the session")
	}
}

// A session beside an encrypted cookie that does not verify (another app's,
// or the app's own under a key recordsync lacks) is taken with it; two
// sessions are taken together; neither is the caller of one alone.
func TestSessionWithOtherCookiesIsTakenWithThem(t *testing.T) {
	p := madeByPHP(t)
	h, obs := newTestHandler(t, func(o *Options) { o.LaravelAppKey = p.AppKey })
	session := p.cookie(t, "session, AES-256-CBC, Laravel 12 skeleton name")
	alone := h.credentialID(cookieRequest(session), RequestInfo{})
	other := p.cookie(t, "another app's session")
	withOther := h.credentialID(cookieRequest(session, other), RequestInfo{})
	if withOther == "" || withOther == alone {
		t.Fatal("a session beside an unverified cookie is the session alone")
	}
	if again := h.credentialID(cookieRequest(other, session), RequestInfo{}); again != withOther {
		t.Fatal("the order of the cookies changed the caller")
	}
	old := p.cookie(t, "session, AES-256-CBC, Laravel 8-11 name")
	both := h.credentialID(cookieRequest(session, old), RequestInfo{})
	if both == "" || both == alone {
		t.Fatal("two sessions are one of them")
	}
	if obs.get("refused."+RefusedSessionUnverified) != 0 {
		t.Fatal("counted unverified while a session was read")
	}
	// With a Bearer token, the token and everything above together.
	r := cookieRequest(session, other)
	r.Header.Set("Authorization", "Bearer tok")
	if got := h.credentialID(r, RequestInfo{}); got == "" || got == withOther {
		t.Fatal("the token is not part of the caller")
	}
}

// When encrypted cookies come and none verifies, the request has no
// session: counted each time, said once in the log with the cookies'
// names, never their values.
func TestUnverifiedCookiesAreLoggedOnce(t *testing.T) {
	p := madeByPHP(t)
	core, logs := observer.New(zap.WarnLevel)
	h, obs := newTestHandler(t, func(o *Options) {
		o.LaravelAppKey = p.Key16 // not the key the cookies were made with
		o.Logger = zap.New(core)
	})
	session := p.cookie(t, "session, AES-256-CBC, Laravel 12 skeleton name")
	for range 3 {
		if got := h.credentialID(cookieRequest(session, p.cookie(t, "XSRF-TOKEN"), "plain=1"), RequestInfo{}); got != "" {
			t.Fatal("a cookie that does not verify named a caller")
		}
	}
	if n := obs.get("refused." + RefusedSessionUnverified); n != 3 {
		t.Fatalf("counted %d times, want 3", n)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("logged %d times, want once: %v", len(entries), entries)
	}
	names := fmt.Sprint(entries[0].ContextMap()["cookies"])
	value := session[strings.IndexByte(session, '=')+1:]
	if !strings.Contains(names, p.Names["slug_hyphen"]) || strings.Contains(names, "XSRF-TOKEN") ||
		strings.Contains(names, "plain") || strings.Contains(fmt.Sprint(entries[0].ContextMap()), value[:20]) {
		t.Fatalf("the log names %s", names)
	}
	// No encrypted cookie at all: nothing to say.
	if got := h.credentialID(cookieRequest("plain=1"), RequestInfo{}); got != "" || obs.get("refused."+RefusedSessionUnverified) != 3 {
		t.Fatal("a plain cookie counted")
	}
}

// The work per request is bounded: past maxSessionCookies encrypted
// cookies no session is read (counted), and a header PHP's reading of
// which is uncertain reads none either.
func TestSessionCookiesBounded(t *testing.T) {
	p := madeByPHP(t)
	h, obs := newTestHandler(t, func(o *Options) { o.LaravelAppKey = p.AppKey })
	session := p.cookie(t, "session, AES-256-CBC, Laravel 12 skeleton name")
	value := session[strings.IndexByte(session, '=')+1:]
	cookies := []string{session}
	for i := range maxSessionCookies - 1 {
		cookies = append(cookies, fmt.Sprintf("x%d=%s", i, value))
	}
	if got := h.credentialID(cookieRequest(cookies...), RequestInfo{}); got == "" {
		t.Fatal("no session among the most cookies tried")
	}
	cookies = append(cookies, "y="+value)
	if got := h.credentialID(cookieRequest(cookies...), RequestInfo{}); got != "" {
		t.Fatal("a session read past the bound")
	}
	if obs.get("refused."+RefusedSessionUnread) != 1 {
		t.Fatal("not counted")
	}
	r := cookieRequest(session)
	r.Header["COOKIE"] = []string{"a=1"}
	if got := h.credentialID(r, RequestInfo{}); got != "" || obs.get("refused."+RefusedSessionUnread) != 2 {
		t.Fatal("a Cookie header under two spellings read")
	}
	// The cookie is read under the name PHP gives it: "a.b" is "a_b".
	mangled := strings.Replace(p.cookie(t, "session, AES-256-CBC, Laravel 8-11 name"), "my_app", "my.app", 1)
	if got := h.credentialID(cookieRequest(mangled), RequestInfo{}); got != hashCredential("", 's', p.SessionID) {
		t.Fatal("not read under PHP's name")
	}
}

// A configured credential that is a session cookie's value is its
// session, whatever the cookie's name; one that does not verify is nobody.
func TestCredentialPlaceholderSession(t *testing.T) {
	p := madeByPHP(t)
	h, _ := newTestHandler(t, func(o *Options) { o.LaravelAppKey = p.AppKey })
	session := p.cookie(t, "session, AES-256-GCM")
	raw := session[strings.IndexByte(session, '=')+1:]
	if got := h.credentialID(cookieRequest(session), RequestInfo{Credential: raw}); got != hashCredential("", 's', p.SessionID) {
		t.Fatal("the placeholder's session cookie not read")
	}
	other := p.cookie(t, "another app's session")
	raw = other[strings.IndexByte(other, '=')+1:]
	if got := h.credentialID(cookieRequest(other), RequestInfo{Credential: raw}); got != "" {
		t.Fatal("a placeholder naming a cookie that does not verify named a caller")
	}
}
