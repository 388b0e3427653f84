package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/recordsync/recordsync/engine"
	"github.com/recordsync/recordsync/proxy"
	"github.com/recordsync/recordsync/pusher"
)

func TestGrantTTLCaddyfile(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"recordsync {\n\tgrant_ttl 10m\n}":                    10 * time.Minute,
		"recordsync {\n\tgrant_ttl off\n}":                    -1,
		"recordsync {\n\tcallers {\n\t\tgrant_ttl 1h\n\t}\n}": time.Hour,
		"recordsync {\n\ttenant {host}\n}":                    0,
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := time.Duration(h.Callers.GrantTTL); got != want {
			t.Fatalf("%q: grant_ttl %v, want %v", in, got, want)
		}
		if got := h.grantTTL(); got != want {
			t.Fatalf("%q: the engine gets %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{
		"recordsync {\n\tgrant_ttl 0\n}",
		"recordsync {\n\tgrant_ttl -5m\n}",
		"recordsync {\n\tgrant_ttl soon\n}",
		"recordsync {\n\tgrant_ttl\n}",
		"recordsync {\n\tgrant_ttl 5m 6m\n}",
		"recordsync {\n\tgrant_ttl 5m\n\tcallers {\n\t\tgrant_ttl 6m\n\t}\n}",
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%q: error %v, want one naming the line", in, err)
		}
	}
	// JSON: a negative duration is off.
	h := unmarshalAsCaddy(t, `{"callers":{"grant_ttl":-1}}`)
	if h.grantTTL() >= 0 {
		t.Fatal("a negative grant_ttl in JSON is not off")
	}
}

// The credential placeholder reaches the proxy, which then names no
// upgrade's caller.
func TestCredentialConfiguredReachesTheProxy(t *testing.T) {
	eng, err := engine.Open(engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if o := (&Handler{Callers: CallersConfig{Credential: "{http.request.header.X-User}"}}).proxyOptions(eng); !o.CredentialConfigured {
		t.Fatal("credential not passed on")
	}
	if o := (&Handler{}).proxyOptions(eng); o.CredentialConfigured {
		t.Fatal("no credential, passed on as one")
	}
}

// grantsApp answers /broadcasting/auth as Laravel's redis broadcaster
// does: true for a Bearer token, 401 without; it counts the requests.
type grantsApp struct{ asked atomic.Int64 }

func (a *grantsApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/broadcasting/auth" {
		io.WriteString(w, "upstream")
		return
	}
	a.asked.Add(1)
	w.Header().Set("Content-Type", "application/json")
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"message":"Unauthenticated."}`)
		return
	}
	io.WriteString(w, "true")
}

// TestGrantMemoryThroughCaddy runs the real Caddy: a caller's second
// socket gets its grant without the app, counted in
// recordsync_grants_total; with grant_ttl off every request reaches the
// app.
func TestGrantMemoryThroughCaddy(t *testing.T) {
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("off=%v", off), func(t *testing.T) {
			app := &grantsApp{}
			up := httptest.NewServer(app)
			defer up.Close()
			extra := ""
			if off {
				extra = "grant_ttl off"
			}
			base := startTestCaddy(t, fmt.Sprintf(`
		recordsync {
			name grants%v
			app_id 42
			app_key gkey
			app_secret gsecret
			%s
		}
		reverse_proxy %s`, off, extra, up.Listener.Addr()))
			client := &http.Client{Timeout: 10 * time.Second}
			socket := func() string {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/app/gkey", nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ws.CloseNow() })
				_, b, err := ws.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var f struct{ Data string }
				json.Unmarshal(b, &f)
				var d struct {
					SocketID string `json:"socket_id"`
				}
				json.Unmarshal([]byte(f.Data), &d)
				return d.SocketID
			}
			auth := func(socketID string) (int, string, string) {
				t.Helper()
				form := url.Values{"socket_id": {socketID}, "channel_name": {"private-record.flow.1"}}
				req, _ := http.NewRequest(http.MethodPost, base+"/broadcasting/auth", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Bearer alice")
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b), resp.Header.Get(proxy.GrantHeader)
			}
			s1, s2 := socket(), socket()
			if code, body, _ := auth(s1); code != 200 || app.asked.Load() != 1 {
				t.Fatalf("first: %d %s", code, body)
			}
			code, body, hdr := auth(s2)
			want := `{"auth":"` + pusher.ChannelAuth("gkey", "gsecret", s2, "private-record.flow.1", "") + `"}`
			if off {
				if app.asked.Load() != 2 || hdr != "" {
					t.Fatalf("grant_ttl off: answered from memory (%s)", hdr)
				}
				return
			}
			if code != 200 || body != want || hdr != "remembered" || app.asked.Load() != 1 {
				t.Fatalf("second socket: %d %s %q, app asked %d times; want %s from memory", code, body, hdr, app.asked.Load(), want)
			}
			if got := testutil.ToFloat64(grantMetrics.grants.WithLabelValues(engine.GrantSourceEndpoint, engine.GrantRemembered)); got < 1 {
				t.Fatalf("recordsync_grants_total{remembered} = %v", got)
			}
		})
	}
}
