package cluster

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/internal/testredis"
	"github.com/recordsync/recordsync/pusher"
	"github.com/recordsync/recordsync/realtime"
)

// signedInSocket opens a socket on hub (key "k", secret "s", as
// linkedInstance makes them) in tenant and signs it in as user.
func signedInSocket(t *testing.T, hub *realtime.Hub, tenant, user string) *websocket.Conn {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = hub.ServeWebSocket(w, r, tenant)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/app/k?protocol=7", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	read := func() (event, data string) {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var f struct{ Event, Data string }
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return f.Event, f.Data
	}
	ev, data := read()
	var est struct {
		SocketID string `json:"socket_id"`
	}
	if ev != "pusher:connection_established" || json.Unmarshal([]byte(data), &est) != nil {
		t.Fatalf("handshake %s %s", ev, data)
	}
	userData := `{"id":"` + user + `"}`
	msg, _ := json.Marshal(map[string]any{"event": "pusher:signin", "data": map[string]string{
		"auth": pusher.UserAuth("k", "s", est.SocketID, userData), "user_data": userData}})
	if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
		t.Fatal(err)
	}
	if ev, data := read(); ev != "pusher:signin_success" {
		t.Fatalf("sign-in: %s %s", ev, data)
	}
	return ws
}

// closeCode waits for ws to close and returns its close code (-1: still
// open after d).
func closeCode(ws *websocket.Conn, d time.Duration) websocket.StatusCode {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			if ctx.Err() != nil {
				return -1
			}
			return websocket.CloseStatus(err)
		}
	}
}

// TestTerminateUserAcrossTheCluster: terminate_connections on one instance
// closes the user's sockets of that tenant on the other with 4009, and
// nobody else's.
func TestTerminateUserAcrossTheCluster(t *testing.T) {
	r := testredis.Start(t)
	_, a, _ := linkedInstance(t, r.URL(), false)
	_, b, obsB := linkedInstance(t, r.URL(), false)
	waitFor(t, 5*time.Second, "both up", func() bool { return a.Bus().Up() && b.Bus().Up() })

	bobOnB := signedInSocket(t, b.hub, "t1", "7")
	carolOnB := signedInSocket(t, b.hub, "t1", "8")
	bobOtherTenant := signedInSocket(t, b.hub, "t2", "7")

	if n := a.hub.TerminateUser("t1", "7"); n != 0 {
		t.Fatalf("terminated %d sockets on A, which has none", n)
	}
	if code := closeCode(bobOnB, 5*time.Second); code != realtime.CodeUnauthorized {
		t.Fatalf("Bob's socket on B: close code %d, want 4009", code)
	}
	if got := obsB.get("in " + kindTerminate); got != 1 {
		t.Fatalf("B received %d terminate messages, want 1", got)
	}
	// A message naming no valid user changes nothing.
	b.receive(message{Kind: kindTerminate, Tenant: "t1", UserID: ""})
	for name, ws := range map[string]*websocket.Conn{"Carol's": carolOnB, "Bob's in another tenant": bobOtherTenant} {
		if code := closeCode(ws, 300*time.Millisecond); code != -1 {
			t.Fatalf("%s socket closed with %d", name, code)
		}
	}
}
