package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/recordsync/recordsync/pusher"
)

// The user authentication endpoint (pusher:signin): an unsigned answer,
// the user's info as Laravel's base Broadcaster answers it for the redis
// broadcaster, is signed for the socket_id read as PHP reads it; an
// app-signed one passes only when it is what recordsync would sign; every
// 2xx is refused for a socket that is not the tenant's.
func TestUserAuthSigning(t *testing.T) {
	t.Parallel()
	const refused = `{"success":false,"message":"Forbidden."}`
	userData := `{"id":"7","name":"Ann"}`
	signed := func(socket, data string) string {
		return `{"auth":"` + pusher.UserAuth(vecKey, vecSecret, socket, data) + `","user_data":` + jsonString(data) + `}`
	}
	for _, tt := range []struct {
		name, path, method, ctype, req, tenant string
		status                                 int
		answer, want                           string // want "" = the answer untouched
		result                                 string
	}{
		{name: "user info signed", req: "socket_id=" + vecSocket, status: 200, answer: "{\n  \"id\": \"7\", \"name\": \"Ann\"\n}", want: signed(vecSocket, userData), result: AuthSigned},
		{name: "numeric id signed, number kept", req: "socket_id=" + vecSocket, status: 200, answer: `{"id":7}`, want: signed(vecSocket, `{"id":7}`), result: AuthSigned},
		{name: "under /api, JSON request", path: "/api/broadcasting/user-auth", ctype: "application/json", req: `{"socket_id":"` + vecSocket + `"}`, status: 200, answer: userData, want: signed(vecSocket, userData), result: AuthSigned},
		{name: "app-signed for the socket passes", req: "socket_id=" + vecSocket, status: 200, answer: signed(vecSocket, userData), result: AuthPassed},
		{name: "app-signed for another socket refused", req: "socket_id=" + vecSocket, status: 200, answer: signed("9.8", userData), want: refused, result: AuthRefused},
		{name: "socket of another tenant refused", req: "socket_id=9.8", status: 200, answer: userData, want: refused, result: AuthRefused},
		{name: "unknown socket refused", req: "socket_id=5.5", status: 200, answer: userData, want: refused, result: AuthRefused},
		{name: "no id: passes unsigned", req: "socket_id=" + vecSocket, status: 200, answer: `{"name":"Ann"}`, result: AuthPassed},
		{name: "id twice: passes unsigned", req: "socket_id=" + vecSocket, status: 200, answer: `{"id":"7","id":"8"}`, result: AuthPassed},
		{name: "refusal passes", req: "socket_id=" + vecSocket, status: 403, answer: `{"message":"Forbidden"}`, result: AuthPassed},
		{name: "socket_id twice (PHP alias) not signed", req: "socket_id=" + vecSocket + "&socket[id=9.8", status: 200, answer: userData, result: AuthUnsigned},
		{name: "GET not read: user info passes unsigned", method: http.MethodGet, req: "", status: 200, answer: userData, result: AuthUnsigned},
	} {
		t.Run(tt.name, func(t *testing.T) {
			signer := &fakeSigner{sockets: map[string]string{vecSocket: "a", "9.8": "b"}}
			h, obs := newTestHandler(t, func(o *Options) { o.Signer = signer })
			path, method, ctype := tt.path, tt.method, tt.ctype
			if path == "" {
				path = "/broadcasting/user-auth"
			}
			if method == "" {
				method = http.MethodPost
			}
			if ctype == "" {
				ctype = formType
			}
			r := httptest.NewRequest(method, path, strings.NewReader(tt.req))
			r.Header.Set("Content-Type", ctype)
			if !h.Inspects(r) {
				t.Fatal("the user auth endpoint is not inspected")
			}
			app := &authApp{status: tt.status, ctype: "application/json", body: tt.answer}
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r, RequestInfo{Tenant: "a", Tenanted: true}, app.next); err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "" {
				want = tt.answer
			}
			if got := w.Body.String(); got != want {
				t.Fatalf("answer %s, want %s", got, want)
			}
			if want == refused && w.Code != http.StatusForbidden {
				t.Fatalf("status %d, want 403", w.Code)
			}
			if obs.get("auth."+tt.result) != 1 {
				t.Fatalf("want AuthSignature(%q), got %v", tt.result, obs.counts)
			}
			if tt.result == AuthSigned {
				// What pusher-js then sends with pusher:signin verifies.
				a, ok := pusher.ParseUserAuthAnswer([]byte(w.Body.String()))
				if !ok || !a.Signed || pusher.VerifyUserAuth(vecKey, vecSecret, vecSocket, a.UserData, a.Auth) != nil {
					t.Fatalf("the signed answer does not verify: %+v", a)
				}
			}
		})
	}
}

// user_auth_endpoint must not share a path with auth_endpoint, and "off"
// leaves the path to the app untouched.
func TestUserAuthEndpointOptions(t *testing.T) {
	t.Parallel()
	signer := &fakeSigner{sockets: map[string]string{}}
	if _, err := New(Options{Store: newStore(t), Signer: signer, UserAuthEndpoint: "/broadcasting/auth"}); err == nil || !strings.Contains(err.Error(), "user_auth_endpoint") {
		t.Fatalf("a path shared with auth_endpoint: %v", err)
	}
	if _, err := New(Options{Store: newStore(t), Signer: signer, UserAuthEndpoint: "user-auth"}); err == nil {
		t.Fatal("a path without / accepted")
	}
	h, _ := newTestHandler(t, func(o *Options) { o.Signer = signer; o.UserAuthEndpoint = AuthEndpointOff })
	if h.Inspects(authRequestAt("/broadcasting/user-auth")) {
		t.Fatal("user_auth_endpoint off still inspects")
	}
}

func authRequestAt(path string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader("socket_id=1.1"))
	r.Header.Set("Content-Type", formType)
	return r
}
