package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
)

// Laravel cookies made by Debian's Laravel 8.83 (how: laravel/cookie_test.go),
// read from the one file that holds them.
var (
	laravelAppKey, laravelSessionID                       string
	laravelCookie, laravelCookie2, laravelCookieOtherName string
)

func init() {
	var v map[string]string
	b, err := os.ReadFile("../laravel/testdata/cookies.json")
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	if err != nil {
		panic(err)
	}
	laravelAppKey, laravelSessionID = v["app_key"], v["session_id"]
	laravelCookie, laravelCookie2, laravelCookieOtherName = v["cookie"], v["cookie2"], v["cookie_other_name"]
}

func TestCredentialID(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.LaravelAppKey = laravelAppKey })
	raw, _ := newTestHandler(t, nil)
	req := func(hdr ...string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		return r
	}
	cookie := func(v string) *http.Request { return req("Cookie", "laravel_session="+v) }
	c1 := h.credentialID(cookie(url.QueryEscape(laravelCookie)), RequestInfo{})
	c2 := h.credentialID(cookie(laravelCookie2), RequestInfo{})
	if c1 == "" || c1 != c2 {
		t.Fatalf("one session, two credentials: %q %q", c1, c2)
	}
	if len(c1) != 64 || strings.Contains(c1, laravelSessionID) {
		t.Fatalf("credential is not a hash: %q", c1)
	}
	if got := h.credentialID(cookie(laravelCookieOtherName), RequestInfo{}); got != "" {
		t.Fatal("forged cookie is a credential")
	}
	if got := h.credentialID(req(), RequestInfo{}); got != "" {
		t.Fatal("no credential gave one")
	}
	// The configured placeholder, when it is the session cookie, is decrypted too.
	if got := h.credentialID(cookie(laravelCookie2), RequestInfo{Credential: laravelCookie2}); got != c1 {
		t.Fatal("placeholder session cookie not decrypted")
	}
	// A token and a session together are one caller, neither of the two alone.
	a := h.credentialID(req("Authorization", "Bearer x", "Cookie", "laravel_session="+laravelCookie), RequestInfo{})
	tok := h.credentialID(req("Authorization", "Bearer x"), RequestInfo{})
	if a == "" || a == c1 || tok == "" || a == tok || a != h.credentialID(req("Authorization", "Bearer x", "Cookie", "laravel_session="+laravelCookie2), RequestInfo{}) {
		t.Fatal("a token with a session is not the pair")
	}
	// A cookie that does not verify adds nothing to a token.
	if got := h.credentialID(req("Authorization", "Bearer x", "Cookie", "laravel_session="+laravelCookieOtherName), RequestInfo{}); got != tok {
		t.Fatal("an unverified cookie changed the token's caller")
	}
	p := h.credentialID(req("Authorization", "Bearer x"), RequestInfo{Credential: "Bearer x"})
	if p == "" || p == a || p == tok {
		t.Fatal("placeholder and header values share a credential space")
	}
	// Without a key the raw cookie is the credential: it changes per response.
	r1 := raw.credentialID(cookie(laravelCookie), RequestInfo{})
	r2 := raw.credentialID(cookie(laravelCookie2), RequestInfo{})
	if r1 == "" || r1 == r2 {
		t.Fatal("raw cookies should be distinct credentials")
	}
}

// End to end through the handler: a session authorised by one cookie value
// is recognised with the next value Laravel sends.
func TestSessionCookieAuthorisesPolls(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.LaravelAppKey = laravelAppKey })
	app := newFakeApp()
	app.seed("flow", "1", 10)
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", "", "", "Cookie", "laravel_session="+url.QueryEscape(laravelCookie))
	rr := do(t, h, app, RequestInfo{}, "GET", pollPath, "", "", "Cookie", "laravel_session="+url.QueryEscape(laravelCookie2))
	if rr.Header().Get(HeaderCache) != "hit" {
		t.Fatal("re-encrypted session cookie not recognised")
	}
	rr = do(t, h, app, RequestInfo{}, "GET", pollPath, "", "", "Cookie", "laravel_session=forged")
	if rr.Header().Get(HeaderCache) != "miss" {
		t.Fatal("forged cookie answered from cache")
	}
}
