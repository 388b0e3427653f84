package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/recordsync/recordsync/pusher"
)

// The test vectors of the Pusher docs (privSig and presSig below pin
// the signatures themselves).
const (
	vecKey    = "278d425bdf160c739803"
	vecSecret = "7ad3773142a6692b25b8"
	vecSocket = "1234.1234"
)

// fakeSigner signs as the hub does, for the sockets it knows (socket id →
// tenant).
type fakeSigner struct {
	sockets map[string]string
	calls   int
}

func (s *fakeSigner) SocketOpen(tenant, socketID string) bool {
	t, ok := s.sockets[socketID]
	return ok && t == tenant
}

func (s *fakeSigner) Sign(tenant, socketID, channel, channelData string) (string, bool) {
	s.calls++
	if !s.SocketOpen(tenant, socketID) {
		return "", false
	}
	return pusher.ChannelAuth(vecKey, vecSecret, socketID, channel, channelData), true
}

func (s *fakeSigner) SignUser(tenant, socketID, userData string) (string, bool) {
	s.calls++
	if _, err := pusher.ParseUserData(userData); err != nil || !s.SocketOpen(tenant, socketID) {
		return "", false
	}
	return pusher.UserAuth(vecKey, vecSecret, socketID, userData), true
}

// authApp answers the auth endpoint with status, content type and body,
// and records the request body it got.
type authApp struct {
	status int
	ctype  string
	body   string
	got    []byte
	calls  int
}

func (a *authApp) next(w http.ResponseWriter, r *http.Request) error {
	a.calls++
	a.got, _ = io.ReadAll(r.Body)
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("Set-Cookie", "laravel_session=new; path=/; httponly")
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
	return nil
}

func authRequest(ctype, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/broadcasting/auth", strings.NewReader(body))
	r.Header.Set("Content-Type", ctype)
	return r
}

const formType = "application/x-www-form-urlencoded"

func TestAuthSigning(t *testing.T) {
	t.Parallel()
	const (
		privSig = vecKey + ":58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
		presSig = vecKey + ":31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"
		presCD  = `{"user_id":10,"user_info":{"name":"Mr. Channels"}}`
	)
	privReq := "socket_id=" + vecSocket + "&channel_name=private-foobar"
	presReq := "socket_id=" + vecSocket + "&channel_name=presence-foobar"
	signedPres, _ := json.Marshal(map[string]string{"auth": presSig, "channel_data": presCD})
	const refused = `{"success":false,"message":"Forbidden."}`
	for _, tt := range []struct {
		name         string
		tenant       string
		ctype, req   string
		query        string
		status       int
		answer, want string // want "" = the answer untouched; refused = recordsync's 403
		answerCtype  string
		result       string // "" = AuthPassed, or AuthSigned when want is set
	}{
		{name: "true → signed", req: privReq, status: 200, answer: "true", want: `{"auth":"` + privSig + `"}`},
		{name: "true with a newline", req: privReq, status: 200, answer: "true\n", want: `{"auth":"` + privSig + `"}`},
		{name: "JSON request", ctype: "application/json", req: `{"socket_id":"1234.1234","channel_name":"private-foobar"}`, status: 200, answer: "true", want: `{"auth":"` + privSig + `"}`},
		{name: "JSON request with another field", ctype: "application/json; charset=utf-8", req: `{"socket_id":"1234.1234","channel_name":"private-foobar","x":[{"y":"\u00e9\ud83d\ude00"}]}`, status: 200, answer: "true", want: `{"auth":"` + privSig + `"}`},
		{name: "channel_data object → serialised once and signed", req: presReq, status: 200,
			answer: `{"channel_data": {"user_id": 10, "user_info": {"name": "Mr. Channels"}}}`, want: string(signedPres)},
		{name: "channel_data string → signed as it is", req: presReq, status: 200,
			answer: `{"channel_data":` + jsonString(presCD) + `}`, want: string(signedPres)},
		{name: "app-signed for the socket and channel read passes", req: privReq, status: 200, answer: `{"auth":"` + privSig + `"}`, answerCtype: "application/json"},
		{name: "app-signed presence for the socket and channel read passes", req: presReq, status: 200, answer: string(signedPres)},
		{name: "app-signed for another socket: 403", req: privReq, status: 200, answer: `{"auth":"` + pusher.ChannelAuth(vecKey, vecSecret, "9.8", "private-foobar", "") + `"}`, want: refused, result: AuthRefused},
		{name: "app-signed for another channel: 403", req: privReq, status: 200, answer: `{"auth":"` + pusher.ChannelAuth(vecKey, vecSecret, vecSocket, "private-other", "") + `"}`, want: refused, result: AuthRefused},
		{name: "app-signed with another secret: 403", req: privReq, status: 200, answer: `{"auth":"other:sig"}`, want: refused, result: AuthRefused},
		{name: "app-signed presence with channel_data an object: 403", req: presReq, status: 200, answer: `{"auth":"` + presSig + `","channel_data":` + presCD + `}`, want: refused, result: AuthRefused},
		{name: "app-signed, the last auth counts (as in JSON.parse)", req: privReq, status: 200, answer: `{"auth":"x:y","auth":"` + privSig + `"}`},
		{name: "app-signed, a wrong last auth: 403", req: privReq, status: 200, answer: `{"auth":"` + privSig + `","auth":"x:y"}`, want: refused, result: AuthRefused},
		{name: "403 passes", req: privReq, status: 403, answer: `{"message":"This action is unauthorized."}`},
		{name: "403 true passes", req: privReq, status: 403, answer: `true`},
		{name: "500 passes", req: privReq, status: 500, answer: `true`},
		{name: "empty 200 (null/log broadcaster) passes", req: privReq, status: 200, answer: ``},
		{name: "false passes", req: privReq, status: 200, answer: `false`},
		{name: "null passes", req: privReq, status: 200, answer: `null`},
		{name: "html passes", req: privReq, status: 200, answer: `<html>login</html>`},
		{name: "true for a presence channel stays unsigned", req: presReq, status: 200, answer: "true", result: AuthUnsigned},
		{name: "channel_data for a private channel stays unsigned", req: privReq, status: 200, answer: `{"channel_data":{"user_id":1}}`, result: AuthUnsigned},
		{name: "true for an encrypted channel stays unsigned", req: "socket_id=1234.1234&channel_name=private-encrypted-x", status: 200, answer: "true", result: AuthUnsigned},
		{name: "true for a public channel stays unsigned", req: "socket_id=1234.1234&channel_name=foobar", status: 200, answer: "true", result: AuthUnsigned},
		{name: "channel_data not an object passes", req: presReq, status: 200, answer: `{"channel_data":[1]}`},
		{name: "channel_data string not an object passes", req: presReq, status: 200, answer: `{"channel_data":"x"}`},
		{name: "duplicate keys pass", req: presReq, status: 200, answer: `{"channel_data":{"user_id":1},"channel_data":{"user_id":2}}`},

		// The socket must be an open one of the request's tenant, whoever signs.
		{name: "socket of another tenant: 403", tenant: "b", req: privReq, status: 200, answer: "true", want: refused, result: AuthRefused},
		{name: "unknown socket: 403", req: "socket_id=9.9&channel_name=private-foobar", status: 200, answer: "true", want: refused, result: AuthRefused},
		{name: "app-signed for a socket of another tenant: 403", tenant: "b", req: privReq, status: 200, answer: `{"auth":"` + privSig + `"}`, want: refused, result: AuthRefused},
		{name: "app-signed in the socket's own tenant passes", tenant: "b", req: "socket_id=9.8&channel_name=private-foobar", status: 200, answer: `{"auth":"` + pusher.ChannelAuth(vecKey, vecSecret, "9.8", "private-foobar", "") + `"}`},
		{name: "app-signed presence for a socket of another tenant: 403", tenant: "b", req: presReq, status: 200, answer: string(signedPres), want: refused, result: AuthRefused},
		{name: "app-signed for an unknown socket: 403", req: "socket_id=9.9&channel_name=private-foobar", status: 200, answer: `{"auth":"x:y"}`, want: refused, result: AuthRefused},
		{name: "any 2xx for a socket of another tenant: 403", tenant: "b", req: privReq, status: 200, answer: `<html>ok</html>`, want: refused, result: AuthRefused},
		{name: "app-signed, request not readable (query): 403", req: privReq, query: "x=1", status: 200, answer: `{"auth":"x:y"}`, want: refused, result: AuthRefused},
		{name: "app-signed, request not readable (alias): 403", req: privReq + "&channel[name=private-other", status: 200, answer: `{"auth":"x:y"}`, want: refused, result: AuthRefused},
		{name: "app-signed answer too large to inspect, other tenant: 403", tenant: "b", req: privReq, status: 200, answer: `{"auth":"x:y","channel_data":"` + strings.Repeat("x", maxAuthAnswerBytes) + `"}`, want: refused, result: AuthRefused},
		{name: "a refusal for a socket of another tenant passes", tenant: "b", req: privReq, status: 403, answer: `{"message":"no"}`},

		// Requests not read as PHP reads them: a grant stays unsigned.
		{name: "bad socket id not signed", req: "socket_id=abc&channel_name=private-foobar", status: 200, answer: "true", result: AuthUnsigned},
		{name: "socket id over 41 characters not read", req: "socket_id=" + strings.Repeat("1", 21) + "." + strings.Repeat("2", 20) + "&channel_name=private-foobar", status: 200, answer: "true", result: AuthUnsigned},
		{name: "socket id of 41 characters read, not open: 403", req: "socket_id=" + strings.Repeat("1", 20) + "." + strings.Repeat("2", 20) + "&channel_name=private-foobar", status: 200, answer: "true", want: refused, result: AuthRefused},
		{name: "channel_name twice not signed", req: privReq + "&channel_name=private-other", status: 200, answer: "true", result: AuthUnsigned},
		{name: "PHP alias channel.name not signed", req: privReq + "&channel.name=private-other", status: 200, answer: "true", result: AuthUnsigned},
		{name: "PHP alias channel name not signed", req: privReq + "&channel+name=private-other", status: 200, answer: "true", result: AuthUnsigned},
		{name: "PHP alias channel[name (unclosed bracket) not signed", req: "socket_id=1234.1234&channel_name=private-foobar&channel[name=private-mine", status: 200, answer: "true", result: AuthUnsigned},
		{name: "PHP alias channel%5Bname not signed", req: "socket_id=1234.1234&channel_name=private-foobar&channel%5Bname=private-mine", status: 200, answer: "true", result: AuthUnsigned},
		{name: "PHP alias alone (channel[name) not signed", req: "socket_id=1234.1234&channel[name=private-foobar", status: 200, answer: "true", result: AuthUnsigned},
		{name: "PHP alias socket[id not signed", req: "socket[id=1234.1234&socket_id=1234.1234&channel_name=private-foobar", status: 200, answer: "true", result: AuthUnsigned},
		{name: "PHP alias with a leading space not signed", req: privReq + "&+channel_name=private-other", status: 200, answer: "true", result: AuthUnsigned},
		{name: "PHP alias cut at NUL not signed", req: privReq + "&channel_name%00x=private-other", status: 200, answer: "true", result: AuthUnsigned},
		{name: "PHP array not signed", req: privReq + "&channel_name[]=private-other", status: 200, answer: "true", result: AuthUnsigned},
		{name: "socket_id missing not signed", req: "channel_name=private-foobar", status: 200, answer: "true", result: AuthUnsigned},
		{name: "query string not signed", req: privReq, query: "socket[id=1234.1234&channel[name=private-mine", status: 200, answer: "true", result: AuthUnsigned},
		{name: "JSON PHP cannot decode (invalid UTF-8), fields in the query: not signed", ctype: "application/json", query: "socket[id=1234.1234&channel[name=private-mine",
			req: "{\"socket_id\":\"1234.1234\",\"channel_name\":\"private-foobar\",\"x\":\"\xff\"}", status: 200, answer: "true", result: AuthUnsigned},
		{name: "JSON PHP cannot decode (invalid UTF-8) not signed", ctype: "application/json",
			req: "{\"socket_id\":\"1234.1234\",\"channel_name\":\"private-foobar\",\"x\":\"\xff\"}", status: 200, answer: "true", result: AuthUnsigned},
		{name: "JSON PHP cannot decode (lone surrogate) not signed", ctype: "application/json",
			req: `{"socket_id":"1234.1234","channel_name":"private-foobar","x":"\ud800"}`, status: 200, answer: "true", result: AuthUnsigned},
		{name: "JSON PHP cannot decode (nesting 512) not signed", ctype: "application/json",
			req: `{"socket_id":"1234.1234","channel_name":"private-foobar","x":` + strings.Repeat("[", 511) + strings.Repeat("]", 511) + `}`, status: 200, answer: "true", result: AuthUnsigned},
		{name: "JSON duplicate not signed", ctype: "application/json", req: `{"socket_id":"1234.1234","channel_name":"private-foobar","channel_name":"private-x"}`, status: 200, answer: "true", result: AuthUnsigned},
		{name: "JSON number socket not signed", ctype: "application/json", req: `{"socket_id":1234.1234,"channel_name":"private-foobar"}`, status: 200, answer: "true", result: AuthUnsigned},
		{name: "JSON trailing data not signed", ctype: "application/json", req: `{"socket_id":"1234.1234","channel_name":"private-foobar"} {}`, status: 200, answer: "true", result: AuthUnsigned},
		{name: "multipart not signed", ctype: "multipart/form-data; boundary=x", req: privReq, status: 200, answer: "true", result: AuthUnsigned},
		{name: "Content-Type PHP does not parse as a form not signed", ctype: formType + "\t", req: privReq, status: 200, answer: "true", result: AuthUnsigned},
		{name: "oversize body not signed", req: privReq + "&pad=" + strings.Repeat("x", maxAuthRequestBytes), status: 200, answer: "true", result: AuthUnsigned},
	} {
		t.Run(tt.name, func(t *testing.T) {
			signer := &fakeSigner{sockets: map[string]string{vecSocket: "a", "9.8": "b"}}
			h, obs := newTestHandler(t, func(o *Options) { o.Signer = signer })
			tenant := tt.tenant
			if tenant == "" {
				tenant = "a"
			}
			ctype := tt.ctype
			if ctype == "" {
				ctype = formType
			}
			actype := tt.answerCtype
			if actype == "" {
				actype = "text/html; charset=UTF-8"
			}
			app := &authApp{status: tt.status, ctype: actype, body: tt.answer}
			r := authRequest(ctype, tt.req)
			if tt.query != "" {
				r.URL.RawQuery = tt.query
			}
			if !h.Inspects(r) {
				t.Fatal("the auth endpoint is not inspected")
			}
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r, RequestInfo{Tenant: tenant, Tenanted: true}, app.next); err != nil {
				t.Fatal(err)
			}
			if string(app.got) != tt.req {
				t.Fatalf("the app got the body %q, want %q", app.got, tt.req)
			}
			wantStatus := tt.status
			if tt.want == refused {
				wantStatus = http.StatusForbidden
			}
			if w.Code != wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, wantStatus, w.Body)
			}
			if w.Header().Get("Set-Cookie") == "" {
				t.Fatal("the app's Set-Cookie was lost")
			}
			want, ctypeWant := tt.want, "application/json"
			if want == "" {
				want, ctypeWant = tt.answer, actype
			}
			if got := w.Body.String(); got != want {
				t.Fatalf("answer %.200s, want %.200s", got, want)
			}
			if got := w.Header().Get("Content-Type"); got != ctypeWant {
				t.Fatalf("Content-Type %q, want %q", got, ctypeWant)
			}
			if cl := w.Header().Get("Content-Length"); tt.want != "" && cl != itoa(len(tt.want)) {
				t.Fatalf("Content-Length %q for %d bytes", cl, len(tt.want))
			}
			result := tt.result
			if result == "" {
				result = AuthPassed
				if tt.want != "" {
					result = AuthSigned
				}
			}
			total := obs.get("auth.signed") + obs.get("auth.refused") + obs.get("auth.passed") + obs.get("auth.unsigned")
			if obs.get("auth."+result) != 1 || total != 1 {
				t.Fatalf("want one AuthSignature(%q), got %v", result, obs.counts)
			}
		})
	}
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestAuthEndpointOptions(t *testing.T) {
	t.Parallel()
	signer := &fakeSigner{sockets: map[string]string{vecSocket: ""}}
	req := "socket_id=" + vecSocket + "&channel_name=private-foobar"
	for _, tt := range []struct {
		name     string
		edit     func(*Options)
		method   string
		path     string
		info     RequestInfo
		inspects bool
		signed   bool
	}{
		{"default path", func(o *Options) { o.Signer = signer }, "POST", "/broadcasting/auth", RequestInfo{}, true, true},
		{"no signer", nil, "POST", "/broadcasting/auth", RequestInfo{}, false, false},
		{"off", func(o *Options) { o.Signer = signer; o.AuthEndpoint = "off" }, "POST", "/broadcasting/auth", RequestInfo{}, false, false},
		{"custom path", func(o *Options) { o.Signer = signer; o.AuthEndpoint = "/api/broadcasting/auth" }, "POST", "/api/broadcasting/auth", RequestInfo{}, true, true},
		{"other path", func(o *Options) { o.Signer = signer }, "POST", "/broadcasting/auth/x", RequestInfo{}, false, false},
		{"trailing slash (Laravel routes it the same)", func(o *Options) { o.Signer = signer }, "POST", "/broadcasting/auth/", RequestInfo{}, true, true},
		{"front controller named (Laravel routes it the same)", func(o *Options) { o.Signer = signer }, "POST", "/index.php/broadcasting/auth", RequestInfo{}, true, true},
		{"front controller prefix of another name", func(o *Options) { o.Signer = signer }, "POST", "/index.phpx/broadcasting/auth", RequestInfo{}, false, false},
		{"GET is watched, never signed (fields from the query)", func(o *Options) { o.Signer = signer }, "GET", "/broadcasting/auth", RequestInfo{}, true, false},
		{"PUT is not Laravel's auth route", func(o *Options) { o.Signer = signer }, "PUT", "/broadcasting/auth", RequestInfo{}, false, false},
		{"tenanted without a tenant", func(o *Options) { o.Signer = signer }, "POST", "/broadcasting/auth", RequestInfo{Tenanted: true}, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newTestHandler(t, tt.edit)
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(req))
			r.Header.Set("Content-Type", formType)
			if got := h.Inspects(r); got != tt.inspects {
				t.Fatalf("Inspects = %v", got)
			}
			app := &authApp{status: 200, ctype: "text/html", body: "true"}
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r, tt.info, app.next); err != nil {
				t.Fatal(err)
			}
			if signed := strings.Contains(w.Body.String(), `"auth"`); signed != tt.signed {
				t.Fatalf("answer %s, signed %v want %v", w.Body.String(), signed, tt.signed)
			}
		})
	}
	if _, err := New(Options{Store: newStore(t), AuthEndpoint: "broadcasting/auth"}); err == nil || !strings.Contains(err.Error(), "auth_endpoint") {
		t.Fatalf("relative auth_endpoint: %v", err)
	}
}

// The query string is refused: Laravel falls back to it for a field the
// body lacks.
func TestAuthQueryRefused(t *testing.T) {
	t.Parallel()
	signer := &fakeSigner{sockets: map[string]string{vecSocket: ""}}
	h, _ := newTestHandler(t, func(o *Options) { o.Signer = signer })
	r := httptest.NewRequest("POST", "/broadcasting/auth?channel_name=private-other", strings.NewReader("socket_id="+vecSocket+"&channel_name=private-foobar"))
	r.Header.Set("Content-Type", formType)
	app := &authApp{status: 200, ctype: "text/html", body: "true"}
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, RequestInfo{}, app.next); err != nil {
		t.Fatal(err)
	}
	if w.Body.String() != "true" || signer.calls != 0 {
		t.Fatalf("signed with a query string: %s", w.Body.String())
	}
}

// FuzzParseAuthAnswer: never panics; a presence grant's channel_data is a
// JSON object; an answer with "auth" is never re-signed.
func FuzzParseAuthAnswer(f *testing.F) {
	for _, s := range []string{"true", "true\n", "false", "", "null", `{"auth":"k:s"}`,
		`{"channel_data":{"user_id":10,"user_info":{"name":"Mr. Channels"}}}`,
		`{"channel_data":"{\"user_id\":\"1\"}"}`, `{"channel_data":"x"}`, `{"channel_data":{}, "channel_data":{}}`,
		`{"auth":"a","channel_data":{"user_id":1}}`, `{"channel_data":{"a":1e999}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cd, _, kind := parseAuthAnswer(body)
		switch kind {
		case answerPrivate:
			if cd != "" {
				t.Fatalf("private with channel_data %q", cd)
			}
		case answerPresence:
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(cd), &m); err != nil || m == nil {
				t.Fatalf("channel_data %q is not an object", cd)
			}
			var top map[string]json.RawMessage
			if json.Unmarshal(body, &top) != nil {
				t.Fatalf("presence from a body that is not an object: %q", body)
			}
			if _, ok := top["auth"]; ok {
				t.Fatalf("a signed answer was classified for signing: %q", body)
			}
		case answerSigned:
			var top map[string]json.RawMessage
			if json.Unmarshal(body, &top) != nil || top["auth"] == nil {
				t.Fatalf("signed without an auth member: %q", body)
			}
		case answerOther:
			if cd != "" {
				t.Fatalf("other with channel_data %q", cd)
			}
		}
	})
}

// The auth endpoint is watched at Laravel's default path and under the
// api prefix Laravel 11+ apps use with Sanctum tokens, or where told.
func TestAuthEndpointPaths(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		paths    map[string]bool
	}{
		{"", map[string]bool{"/broadcasting/auth": true, "/api/broadcasting/auth": true, "/v1/broadcasting/auth": false}},
		{"/v1/broadcasting/auth /broadcasting/auth", map[string]bool{"/v1/broadcasting/auth": true, "/broadcasting/auth": true, "/api/broadcasting/auth": false}},
		{"off", map[string]bool{"/broadcasting/auth": false}},
	} {
		h, _ := newTestHandler(t, func(o *Options) {
			o.AuthEndpoint = tc.endpoint
			o.Signer = &fakeSigner{sockets: map[string]string{}}
		})
		for path, want := range tc.paths {
			r := httptest.NewRequest(http.MethodPost, path, nil)
			if got := h.classify(r).auth; got != want {
				t.Errorf("auth_endpoint %q: %s watched %v, want %v", tc.endpoint, path, got, want)
			}
		}
	}
	if _, err := New(Options{Store: newStore(t), AuthEndpoint: "/a relative"}); err == nil {
		t.Error("a relative auth endpoint path was accepted")
	}
}
