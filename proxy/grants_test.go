package proxy

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/pusher"
)

// fakeGrants is a GrantMemory that remembers forever and records what it
// was asked.
type fakeGrants struct {
	mu      sync.Mutex
	grants  map[GrantKey]string
	recalls []GrantKey
	ended   []string // "why caller channel" ("" channel: all)
}

func newFakeGrants() *fakeGrants { return &fakeGrants{grants: map[GrantKey]string{}} }

func (f *fakeGrants) Recall(k GrantKey) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recalls = append(f.recalls, k)
	if k.Caller == "" {
		return "", false
	}
	d, ok := f.grants[k]
	return d, ok
}

func (f *fakeGrants) Remember(k GrantKey, data string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k.Caller == "" {
		panic("remembered without a caller")
	}
	f.grants[k] = data
}

func (f *fakeGrants) Forget(k GrantKey, why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.grants, k)
	f.ended = append(f.ended, why+" "+k.Caller+" "+k.Channel)
}

func (f *fakeGrants) ForgetCaller(caller, why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.grants {
		if k.Caller == caller {
			delete(f.grants, k)
		}
	}
	f.ended = append(f.ended, why+" "+caller+" ")
}

func (f *fakeGrants) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.grants)
}

func (f *fakeGrants) only() (GrantKey, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.grants) != 1 {
		panic("not one grant")
	}
	for k, d := range f.grants {
		return k, d
	}
	return GrantKey{}, ""
}

func (f *fakeGrants) endings() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ended...)
}

// grantApp is the app's auth endpoint: it answers status and body, counts
// its calls and sets the headers in set.
type grantApp struct {
	status int
	body   string
	set    []string // Set-Cookie lines
	calls  int
}

func (a *grantApp) next(w http.ResponseWriter, r *http.Request) error {
	a.calls++
	_, _ = io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	for _, c := range a.set {
		w.Header().Add("Set-Cookie", c)
	}
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
	return nil
}

// grantHandler is a Handler with the fake signer (sockets 1234.1234, 5.6
// and 7.8 of tenant a, 9.8 of tenant b), the fake memory, and laravel keys
// when keys.
func grantHandler(t *testing.T, keys bool, edit func(*Options)) (*Handler, *fakeGrants, *countingObserver) {
	t.Helper()
	mem := newFakeGrants()
	h, obs := newTestHandler(t, func(o *Options) {
		o.Signer = &fakeSigner{sockets: map[string]string{vecSocket: "a", "5.6": "a", "7.8": "a", "9.8": "b"}}
		o.Grants = mem
		if keys {
			o.LaravelAppKey = laravelAppKey
		}
		if edit != nil {
			edit(o)
		}
	})
	return h, mem, obs
}

// postGrant posts an auth request for socket and channel in tenant with
// headers (pairs) to h, answered by app.
func postGrant(t *testing.T, h *Handler, app *grantApp, tenant, socket, channel string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := authRequest(formType, "socket_id="+socket+"&channel_name="+channel)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, RequestInfo{Tenant: tenant, Tenanted: true}, app.next); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestGrantMemoryAnswersTheSameCaller: a grant the app gave is remembered
// for the caller, tenant and channel, and the caller's next auth request
// for it, from another open socket of the tenant, is answered signed for
// that socket without the app; anyone else, any other tenant or channel,
// and a socket not open in the tenant go to the app as before.
func TestGrantMemoryAnswersTheSameCaller(t *testing.T) {
	const presCD = `{"user_id":10,"user_info":{"name":"Mr. Channels"}}`
	h, mem, obs := grantHandler(t, false, nil)
	alice := []string{"Authorization", "Bearer alice-token"}
	bob := []string{"Authorization", "Bearer bob-token"}

	app := &grantApp{status: 200, body: "true"}
	w := postGrant(t, h, app, "a", vecSocket, "private-foobar", alice...)
	if w.Code != 200 || app.calls != 1 || obs.get("auth.signed") != 1 {
		t.Fatalf("first grant: %d %s, %d calls", w.Code, w.Body, app.calls)
	}
	k, data := mem.only()
	if k.Tenant != "a" || k.Channel != "private-foobar" || len(k.Caller) != 64 || data != "" {
		t.Fatalf("remembered %+v %q", k, data)
	}

	// Alice's new socket: from the memory, signed for it.
	w = postGrant(t, h, app, "a", "5.6", "private-foobar", alice...)
	want := `{"auth":"` + pusher.ChannelAuth(vecKey, vecSecret, "5.6", "private-foobar", "") + `"}`
	if w.Code != 200 || w.Body.String() != want || app.calls != 1 {
		t.Fatalf("remembered grant: %d %s, %d calls; want %s without the app", w.Code, w.Body, app.calls, want)
	}
	if w.Header().Get(GrantHeader) != "remembered" || w.Header().Get("Content-Type") != "application/json" ||
		w.Header().Get("Content-Length") != itoa(len(want)) || obs.get("auth.remembered") != 1 {
		t.Fatalf("headers %v, counts %v", w.Header(), obs.counts)
	}

	// Not alice, another channel, another tenant's socket, a socket not
	// open: the app decides.
	for _, tc := range []struct {
		what                    string
		tenant, socket, channel string
		hdr                     []string
		status                  int
	}{
		{"bob", "a", "5.6", "private-foobar", bob, 200},
		{"nobody", "a", "5.6", "private-foobar", nil, 200},
		{"a Basic caller", "a", "5.6", "private-foobar", []string{"Authorization", "Basic YTpi"}, 200},
		{"another channel", "a", "5.6", "private-other", alice, 200},
		{"tenant b", "b", "9.8", "private-foobar", alice, 200},
		{"a socket of tenant b asked in tenant a", "a", "9.8", "private-foobar", alice, 403},
		{"an unknown socket", "a", "1.1", "private-foobar", alice, 403},
	} {
		before := app.calls
		w := postGrant(t, h, app, tc.tenant, tc.socket, tc.channel, tc.hdr...)
		if app.calls != before+1 || w.Code != tc.status || w.Header().Get(GrantHeader) != "" {
			t.Fatalf("%s: %d %s, the app asked %d times, want %d from the app", tc.what, w.Code, w.Body, app.calls-before, tc.status)
		}
	}
	// Bob's and alice's other grants are remembered now, each for itself.
	if mem.count() != 4 {
		t.Fatalf("%d grants remembered, want 4 (alice's two, alice's in b, bob's)", mem.count())
	}

	// Presence: the exact channel_data the app answered, signed for the new socket.
	app = &grantApp{status: 200, body: `{"channel_data": {"user_id": 10, "user_info": {"name": "Mr. Channels"}}}`}
	postGrant(t, h, app, "a", vecSocket, "presence-foobar", alice...)
	w = postGrant(t, h, app, "a", "7.8", "presence-foobar", alice...)
	pres, _ := json.Marshal(map[string]string{"auth": pusher.ChannelAuth(vecKey, vecSecret, "7.8", "presence-foobar", presCD), "channel_data": presCD})
	if app.calls != 1 || w.Body.String() != string(pres) {
		t.Fatalf("remembered presence: %s (%d calls), want %s", w.Body, app.calls, pres)
	}
	// A fresh answer of the app replaces the remembered channel_data.
	const renamed = `{"user_id":10,"user_info":{"name":"Renamed"}}`
	k = GrantKey{Tenant: "a", Caller: mem.recalls[len(mem.recalls)-1].Caller, Channel: "presence-foobar"}
	h.opts.Grants.Forget(k, "test")
	app.body = `{"channel_data":` + renamed + `}`
	postGrant(t, h, app, "a", vecSocket, "presence-foobar", alice...)
	w = postGrant(t, h, app, "a", "7.8", "presence-foobar", alice...)
	if app.calls != 2 || !strings.Contains(w.Body.String(), `Renamed`) {
		t.Fatalf("after a fresh answer: %s (%d calls)", w.Body, app.calls)
	}

	// An app-signed grant, verified, is remembered as well.
	app = &grantApp{status: 200, body: `{"auth":"` + pusher.ChannelAuth(vecKey, vecSecret, vecSocket, "private-signed", "") + `"}`}
	postGrant(t, h, app, "a", vecSocket, "private-signed", alice...)
	if w := postGrant(t, h, app, "a", "5.6", "private-signed", alice...); app.calls != 1 || w.Header().Get(GrantHeader) == "" {
		t.Fatalf("app-signed grant not remembered: %s", w.Body)
	}
	// An app-signed grant for another socket is refused and not remembered.
	app = &grantApp{status: 200, body: `{"auth":"` + pusher.ChannelAuth(vecKey, vecSecret, "5.6", "private-wrong", "") + `"}`}
	postGrant(t, h, app, "a", vecSocket, "private-wrong", alice...)
	if w := postGrant(t, h, app, "a", "5.6", "private-wrong", alice...); app.calls != 2 {
		t.Fatalf("a refused app signature was remembered: %s", w.Body)
	}
}

// TestGrantMemoryOnlyWhatWasRead: a request not read as PHP reads it,
// auth_upstream's own request, a user authentication and a request whose
// only caller is a raw session cookie are neither answered from the
// memory nor remembered.
func TestGrantMemoryOnlyWhatWasRead(t *testing.T) {
	h, mem, _ := grantHandler(t, false, nil)
	alice := []string{"Authorization", "Bearer alice-token"}
	app := &grantApp{status: 200, body: "true"}
	postGrant(t, h, app, "a", vecSocket, "private-foobar", alice...)
	if mem.count() != 1 {
		t.Fatal("not remembered")
	}
	recalls := len(mem.recalls)

	// The query string: PHP may read fields from it.
	r := authRequest(formType, "socket_id=5.6&channel_name=private-foobar")
	r.URL.RawQuery = "x=1"
	r.Header.Set("Authorization", "Bearer alice-token")
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, RequestInfo{Tenant: "a", Tenanted: true}, app.next); err != nil {
		t.Fatal(err)
	}
	if app.calls != 2 || len(mem.recalls) != recalls {
		t.Fatal("a request not read as PHP reads it was answered from the memory")
	}
	// auth_upstream's own request.
	postGrant(t, h, app, "a", "5.6", "private-foobar", "Authorization", "Bearer alice-token", "User-Agent", laravel.AuthUpstreamUserAgent)
	if app.calls != 3 || len(mem.recalls) != recalls {
		t.Fatal("auth_upstream's request was answered from the memory")
	}
	postGrant(t, h, app, "a", "5.6", "private-new", "Authorization", "Bearer alice-token", "User-Agent", laravel.AuthUpstreamUserAgent)
	if mem.count() != 1 {
		t.Fatal("auth_upstream's request was remembered by the proxy")
	}
	// A raw session cookie (no laravel_app_key) is no caller.
	postGrant(t, h, app, "a", vecSocket, "private-raw", "Cookie", "laravel_session=abc")
	if mem.count() != 1 || mem.recalls[len(mem.recalls)-1].Caller != "" {
		t.Fatal("a raw session cookie was taken as a caller")
	}
	// Nor is a configured credential that is a raw cookie's value, unlike
	// one that is not.
	raw := httptest.NewRequest("POST", "/", nil)
	raw.Header.Set("Cookie", "sid=abc")
	if h.grantCaller(raw, RequestInfo{Credential: "abc"}) != "" {
		t.Fatal("a configured raw cookie is a caller")
	}
	if h.grantCaller(raw, RequestInfo{Credential: "user-7"}) == "" {
		t.Fatal("a configured credential is no caller")
	}
}

// TestGrantMemoryRefusals: the app's 403 to the caller's auth request ends
// the channel's grant, a 401 ends all of the caller's, whatever was read
// of the request; another caller's refusal ends nothing of alice's.
func TestGrantMemoryRefusals(t *testing.T) {
	h, mem, _ := grantHandler(t, false, nil)
	alice := []string{"Authorization", "Bearer alice-token"}
	ok := &grantApp{status: 200, body: "true"}
	for _, ch := range []string{"private-a", "private-b", "private-c"} {
		postGrant(t, h, ok, "a", vecSocket, ch, alice...)
	}
	postGrant(t, h, &grantApp{status: 403, body: `{"message":"no"}`}, "a", vecSocket, "private-a", "Authorization", "Bearer bob-token")
	if mem.count() != 3 {
		t.Fatal("bob's refusal ended alice's grant")
	}
	no := &grantApp{status: 403, body: `{"message":"This action is unauthorized."}`}
	if w := postGrant(t, h, no, "a", "5.6", "private-a", alice...); w.Code != 200 || no.calls != 0 {
		t.Fatal("not remembered")
	}
	// Once the grant expired, the app is asked and refuses: the end is
	// passed on (other instances may still hold the grant).
	k := GrantKey{Tenant: "a", Caller: mem.recalls[0].Caller, Channel: "private-a"}
	mem.mu.Lock()
	delete(mem.grants, k)
	mem.mu.Unlock()
	if w := postGrant(t, h, no, "a", "5.6", "private-a", alice...); w.Code != 403 || no.calls != 1 {
		t.Fatalf("refusal: %d", w.Code)
	}
	ends := mem.endings()
	if len(ends) != 2 || ends[1] != GrantEndRefused+" "+k.Caller+" private-a" {
		t.Fatalf("ends %q", ends)
	}
	// A 401, even for a request not read as PHP read it, ends them all.
	r := authRequest(formType, "socket_id=5.6&channel_name=private-b&channel.name=private-x")
	r.Header.Set("Authorization", "Bearer alice-token")
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, RequestInfo{Tenant: "a", Tenanted: true}, (&grantApp{status: 401, body: `{"message":"Unauthenticated."}`}).next); err != nil {
		t.Fatal(err)
	}
	if mem.count() != 0 {
		t.Fatalf("%d grants left after a 401", mem.count())
	}
	if ends := mem.endings(); ends[len(ends)-1] != GrantEndUnauthenticated+" "+k.Caller+" " {
		t.Fatalf("ends %q", ends)
	}
	// A 401 of a record route ends them too.
	postGrant(t, h, ok, "a", vecSocket, "private-a", "Authorization", tokenOK)
	app := newFakeApp()
	app.seed("flow", "1", 1)
	if w = do(t, h, app, RequestInfo{Tenant: "a", Tenanted: true}, "GET", "/api/v1/flows/1", tokenOK, ""); w.Code != 200 || mem.count() != 1 {
		t.Fatal("a record's answer ended a grant")
	}
	unauth := func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusUnauthorized)
		return nil
	}
	r = httptest.NewRequest("GET", "/api/v1/flows/1", nil)
	r.Header.Set("Authorization", tokenOK)
	if err := h.ServeHTTP(httptest.NewRecorder(), r, RequestInfo{Tenant: "a", Tenanted: true}, unauth); err != nil {
		t.Fatal(err)
	}
	if mem.count() != 0 {
		t.Fatal("a record route's 401 did not end the caller's grants")
	}
}

// sealCookie encrypts value for the cookie name under the app key as
// Laravel's EncryptCookies does (AES-256-CBC; a second implementation of
// Illuminate/Encryption/Encrypter.php's encrypt, with CookieValuePrefix).
func sealCookie(t testing.TB, appKey, name, value string) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(appKey, "base64:"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha1.New, key)
	m.Write([]byte(name + "v2"))
	plain := []byte(hex.EncodeToString(m.Sum(nil)) + "|" + value)
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	for i := 0; i < pad; i++ {
		plain = append(plain, byte(pad))
	}
	iv := make([]byte, aes.BlockSize)
	rand.Read(iv)
	block, _ := aes.NewCipher(key)
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
	ivB64, ctB64 := base64.StdEncoding.EncodeToString(iv), base64.StdEncoding.EncodeToString(ct)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ivB64 + ctB64))
	payload, _ := json.Marshal(map[string]string{"iv": ivB64, "value": ctB64, "mac": hex.EncodeToString(mac.Sum(nil)), "tag": ""})
	return base64.StdEncoding.EncodeToString(payload)
}

// TestGrantMemoryLogout: an answer of the app that sets the caller's
// session cookie to another session, or clears it, ends all its grants,
// through the auth endpoint, a record route or any other request the glue
// passes on with WatchSession; the same session in a fresh encryption,
// XSRF-TOKEN or another cookie end nothing.
func TestGrantMemoryLogout(t *testing.T) {
	h, mem, _ := grantHandler(t, true, nil)
	session := "laravel_session=" + url.QueryEscape(laravelCookie)
	newSession := url.QueryEscape(sealCookie(t, laravelAppKey, "laravel_session", strings.Repeat("N", 40)))
	if id, _ := h.openCookie("laravel_session", sealCookie(t, laravelAppKey, "laravel_session", laravelSessionID)); id != laravelSessionID {
		t.Fatal("sealCookie does not make Laravel's cookies")
	}
	grant := func() {
		t.Helper()
		postGrant(t, h, &grantApp{status: 200, body: "true"}, "a", vecSocket, "private-a", "Cookie", session)
		if mem.count() != 1 {
			t.Fatal("the session's grant was not remembered")
		}
	}
	grant()
	caller := mem.recalls[0].Caller

	// Through the auth endpoint itself: the same session again (Laravel
	// sets its cookie on every answer), XSRF-TOKEN, another cookie.
	same := []string{
		"laravel_session=" + url.QueryEscape(laravelCookie2) + "; path=/; httponly; samesite=lax",
		"XSRF-TOKEN=" + url.QueryEscape(sealCookie(t, laravelAppKey, "XSRF-TOKEN", strings.Repeat("x", 40))) + "; path=/",
		"other=1; path=/",
		"laravel_session_old=deleted; Max-Age=0",
	}
	postGrant(t, h, &grantApp{status: 200, body: "true", set: same}, "a", "5.6", "private-b", "Cookie", session)
	if mem.count() != 2 {
		t.Fatalf("the same session ended its grants: %q", mem.endings())
	}

	// A pass-through request (POST /logout) answered with a new session.
	pass := func(set ...string) {
		t.Helper()
		r := httptest.NewRequest("POST", "/logout", nil)
		r.Header.Set("Cookie", session)
		infos := 0
		w := h.WatchSession(httptest.NewRecorder(), r, func() RequestInfo { infos++; return RequestInfo{Tenant: "a", Tenanted: true} })
		for _, c := range set {
			w.Header().Add("Set-Cookie", c)
		}
		w.WriteHeader(http.StatusFound)
		io.WriteString(w, "bye")
		if infos > 1 {
			t.Fatalf("info evaluated %d times", infos)
		}
	}
	pass(same...)
	if mem.count() != 2 {
		t.Fatal("a pass-through answer with the same session ended grants")
	}
	pass("laravel_session=" + newSession + "; path=/; httponly")
	if mem.count() != 0 {
		t.Fatal("a new session did not end the caller's grants")
	}
	if ends := mem.endings(); len(ends) != 1 || ends[0] != GrantEndLogout+" "+caller+" " {
		t.Fatalf("ends %q", ends)
	}
	// Cleared, or deleted, or a value that does not verify.
	for _, set := range []string{
		"laravel_session=deleted; expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0; path=/",
		"laravel_session=deleted; expires=Thu, 01 Jan 1970 00:00:01 GMT; path=/",
		"laravel_session=; path=/",
		"laravel_session=" + url.QueryEscape(laravelCookieOtherName) + "; path=/",
	} {
		grant()
		pass(set)
		if mem.count() != 0 {
			t.Fatalf("%q did not end the grants", set)
		}
	}
	// Through a record route's answer (ServeHTTP watches its requests).
	grant()
	app := newFakeApp()
	app.seed("flow", "1", 1)
	app.extra = http.Header{"Set-Cookie": {"laravel_session=" + newSession + "; path=/"}}
	do(t, h, app, RequestInfo{Tenant: "a", Tenanted: true}, "GET", "/api/v1/flows/1", "", "", "Cookie", session)
	if mem.count() != 0 {
		t.Fatal("a record route's answer with a new session did not end the grants")
	}
	// Without the grant memory nothing is wrapped.
	plain, _ := newTestHandler(t, func(o *Options) { o.LaravelAppKey = laravelAppKey })
	r := httptest.NewRequest("POST", "/logout", nil)
	r.Header.Set("Cookie", session)
	w := httptest.NewRecorder()
	if plain.WatchSession(w, r, nil) != http.ResponseWriter(w) {
		t.Fatal("WatchSession wraps without a grant memory")
	}
}

// TestUpgradeCaller: the caller of a websocket upgrade's Cookie and
// Authorization is the caller of an auth request carrying them, so that
// auth_upstream and the auth endpoint share grants; with a credential
// placeholder there is none.
func TestUpgradeCaller(t *testing.T) {
	h, mem, _ := grantHandler(t, true, nil)
	session := "laravel_session=" + url.QueryEscape(laravelCookie)
	postGrant(t, h, &grantApp{status: 200, body: "true"}, "a", vecSocket, "private-a", "Cookie", session, "Authorization", "Bearer tok")
	k, _ := mem.only()
	if got := h.UpgradeCaller(session, "Bearer tok"); got != k.Caller {
		t.Fatalf("UpgradeCaller %q, want the auth request's caller %q", got, k.Caller)
	}
	if h.UpgradeCaller(session, "") == k.Caller || h.UpgradeCaller("", "Bearer tok") == k.Caller {
		t.Fatal("a part of the credentials names the same caller")
	}
	if h.UpgradeCaller("", "") != "" {
		t.Fatal("no credentials name a caller")
	}
	configured, _, _ := grantHandler(t, true, func(o *Options) { o.CredentialConfigured = true })
	if configured.UpgradeCaller(session, "Bearer tok") != "" {
		t.Fatal("an upgrade's caller with a credential placeholder configured")
	}
}
