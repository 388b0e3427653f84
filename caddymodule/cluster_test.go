package caddymodule

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/recordsync/recordsync/cluster"
	"github.com/recordsync/recordsync/engine"
	"github.com/recordsync/recordsync/internal/testredis"
	"github.com/recordsync/recordsync/pusher"
	"github.com/recordsync/recordsync/realtime"
	"github.com/recordsync/recordsync/versioncache"
)

const (
	clusterTestKey    = "cluster-key"
	clusterTestSecret = "cluster-secret"
)

func clusterWait(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// clusterInstance is one instance's shared state (what a Caddy process
// holds) with its hub behind an httptest server; the socket's tenant is "t".
type clusterInstance struct {
	state *engineView
	srv   *httptest.Server
}

// engineView names an Engine's parts as the tests use them.
type engineView struct {
	*engine.Engine
	hub   *realtime.Hub
	store *versioncache.Store
}

func newClusterInstance(t *testing.T, name, redisURL string, timeout time.Duration) *clusterInstance {
	t.Helper()
	eng, err := loadEngine(name, engine.Options{Hub: &realtime.Options{
		AppKey: clusterTestKey, AppSecret: clusterTestSecret, ClientEvents: realtime.ClientEventsMembers,
	}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = pool.Delete(name) })
	key := engine.ClusterKey{URL: redisURL, Name: "c-" + t.Name(), Secret: clusterTestSecret, InstanceTimeout: timeout}
	if err := eng.SetCluster(key, cluster.LinkOptions{Observer: clusterObserver{}}, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	state := &engineView{Engine: eng, hub: eng.Hub(), store: eng.Store()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = state.hub.ServeWebSocket(w, r, "t")
	}))
	t.Cleanup(srv.Close)
	return &clusterInstance{state: state, srv: srv}
}

func (in *clusterInstance) up() bool {
	l := in.state.Link()
	return l != nil && l.Bus().Up()
}

// tsock is a test websocket client.
type tsock struct {
	t      *testing.T
	ws     *websocket.Conn
	id     string
	frames chan tframe
}

type tframe struct {
	Event   string `json:"event"`
	Channel string `json:"channel"`
	Data    string `json:"-"`
	UserID  string `json:"user_id"`
}

func (in *clusterInstance) dial(t *testing.T) *tsock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.srv.URL, "http")+"/ws/app/"+clusterTestKey+"?protocol=7", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	s := &tsock{t: t, ws: ws, frames: make(chan tframe, 100)}
	go func() {
		defer close(s.frames)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var f tframe
			var raw struct {
				Data json.RawMessage `json:"data"`
			}
			_ = json.Unmarshal(b, &f)
			_ = json.Unmarshal(b, &raw)
			if json.Unmarshal(raw.Data, &f.Data) != nil {
				f.Data = string(raw.Data)
			}
			s.frames <- f
		}
	}()
	f := s.next()
	var est struct {
		SocketID string `json:"socket_id"`
	}
	if f.Event != "pusher:connection_established" || json.Unmarshal([]byte(f.Data), &est) != nil {
		t.Fatalf("handshake %+v", f)
	}
	s.id = est.SocketID
	return s
}

func (s *tsock) next() tframe {
	s.t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			s.t.Fatal("socket closed")
		}
		return f
	case <-time.After(5 * time.Second):
		s.t.Fatal("no frame within 5s")
	}
	return tframe{}
}

func (s *tsock) expect(event string) tframe {
	s.t.Helper()
	f := s.next()
	if f.Event != event {
		s.t.Fatalf("got %s (%q), want %s", f.Event, f.Data, event)
	}
	return f
}

func (s *tsock) expectNothing(d time.Duration) {
	s.t.Helper()
	select {
	case f, ok := <-s.frames:
		if ok {
			s.t.Fatalf("unexpected frame %+v", f)
		}
	case <-time.After(d):
	}
}

func (s *tsock) send(v any) {
	s.t.Helper()
	b, _ := json.Marshal(v)
	if err := s.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		s.t.Fatal(err)
	}
}

func clusterSign(socketID, channel, channelData string) string {
	return pusher.ChannelAuth(clusterTestKey, clusterTestSecret, socketID, channel, channelData)
}

func (s *tsock) subscribePrivate(channel string) {
	s.t.Helper()
	s.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": channel, "auth": clusterSign(s.id, channel, "")}})
	s.expect("pusher_internal:subscription_succeeded")
}

// joinPresence subscribes as user and returns the member ids of the answer.
func (s *tsock) joinPresence(channel, user string) []string {
	s.t.Helper()
	cd := fmt.Sprintf(`{"user_id":%q,"user_info":{"name":%q}}`, user, user)
	s.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": channel, "auth": clusterSign(s.id, channel, cd), "channel_data": cd}})
	f := s.expect("pusher_internal:subscription_succeeded")
	var d struct {
		Presence struct {
			IDs   []string `json:"ids"`
			Count int      `json:"count"`
		} `json:"presence"`
	}
	if err := json.Unmarshal([]byte(f.Data), &d); err != nil || d.Presence.Count != len(d.Presence.IDs) {
		s.t.Fatalf("presence answer %q", f.Data)
	}
	return d.Presence.IDs
}

func twoInstances(t *testing.T, timeout time.Duration) (*testredis.Server, *clusterInstance, *clusterInstance) {
	t.Helper()
	r := testredis.Start(t)
	a := newClusterInstance(t, t.Name()+"-a", r.URL(), timeout)
	b := newClusterInstance(t, t.Name()+"-b", r.URL(), timeout)
	clusterWait(t, 5*time.Second, "both instances in the cluster", func() bool { return a.up() && b.up() })
	time.Sleep(50 * time.Millisecond) // the hellos are answered
	return r, a, b
}

func TestClusterEventsAndVersions(t *testing.T) {
	_, a, b := twoInstances(t, 0)
	sa, sb := a.dial(t), b.dial(t)
	for _, s := range []*tsock{sa, sb} {
		s.subscribePrivate("private-record.flow.1")
		s.subscribePrivate("private-chat")
	}

	// The proxy's save on A: once on each instance, and B learns the version.
	a.state.hub.Saved(versioncache.Saved{Key: versioncache.Key{Tenant: "t", Type: "flow", ID: "1"}, Entry: versioncache.Entry{Version: "2026-01-01T00:00:01.000000Z"}})
	sa.expect("record.updated")
	f := sb.expect("record.updated")
	if !strings.Contains(f.Data, `"updated_at_iso":"2026-01-01T00:00:01.000000Z"`) {
		t.Fatalf("B got %q", f.Data)
	}
	key := versioncache.Key{Tenant: "t", Type: "flow", ID: "1"}
	if e, ok := b.state.store.Get(key); !ok || e.Version != "2026-01-01T00:00:01.000000Z" {
		t.Fatalf("B's cache holds %+v, %v", e, ok)
	}

	// The HTTP API's (or any) publish with socket_id: excluded on B too.
	a.state.hub.Publish(realtime.Event{Tenant: "t", Channel: "private-chat", Name: "said", Data: []byte(`{"n":1}`), ExceptSocket: sb.id})
	a.state.hub.Publish(realtime.Event{Tenant: "other", Channel: "private-chat", Name: "said", Data: []byte(`{"n":2}`)})
	if f := sa.expect("said"); f.Data != `{"n":1}` {
		t.Fatalf("A got %q", f.Data)
	}
	// A whisper from B's socket: A's socket gets it once, the sender never.
	sb.send(map[string]any{"event": "client-typing", "channel": "private-chat", "data": map[string]int{"x": 1}})
	if f := sa.expect("client-typing"); f.Data != `{"x":1}` {
		t.Fatalf("A got whisper %q", f.Data)
	}
	sa.expectNothing(300 * time.Millisecond)
	sb.expectNothing(10 * time.Millisecond)

	// A version learned on A (a proxy response or poll) reaches B within
	// milliseconds, and never moves B's cache back. learn does what the
	// proxy does with a version it read: advance its cache and, when that
	// was news, hand it to its Publisher as VersionOnly.
	learn := func(inst *clusterInstance, k versioncache.Key, e versioncache.Entry) {
		if _, advanced := inst.state.store.Advance(k, e); advanced {
			inst.state.hub.Saved(versioncache.Saved{Key: k, Entry: e, VersionOnly: true})
		}
	}
	key2 := versioncache.Key{Tenant: "t", Type: "flow", ID: "2"}
	start := time.Now()
	learn(a, key2, versioncache.Entry{Version: "2026-01-01T00:00:05Z", UpdatedByName: "Alice"})
	clusterWait(t, time.Second, "version on B", func() bool {
		e, ok := b.state.store.Get(key2)
		return ok && e.Version == "2026-01-01T00:00:05Z" && e.UpdatedByName == "Alice"
	})
	t.Logf("version shared in %v", time.Since(start))
	learn(b, key2, versioncache.Entry{Version: "2026-01-01T00:00:09Z"})
	learn(a, key2, versioncache.Entry{Version: "2026-01-01T00:00:07Z"})
	clusterWait(t, time.Second, "B's newer version on A", func() bool {
		e, _ := a.state.store.Get(key2)
		return e.Version == "2026-01-01T00:00:09Z"
	})
	time.Sleep(50 * time.Millisecond)
	if e, _ := b.state.store.Get(key2); e.Version != "2026-01-01T00:00:09Z" {
		t.Fatalf("B went back to %q", e.Version)
	}
}

func TestClusterPresence(t *testing.T) {
	r, a, b := twoInstances(t, 600*time.Millisecond)
	const room = "presence-room"
	watcher := a.dial(t)
	if ids := watcher.joinPresence(room, "w"); len(ids) != 1 {
		t.Fatalf("ids %v", ids)
	}
	aliceA := a.dial(t)
	aliceA.joinPresence(room, "alice")
	if f := watcher.expect("pusher_internal:member_added"); !strings.Contains(f.Data, `"alice"`) {
		t.Fatalf("member_added %q", f.Data)
	}
	// Alice's second socket, on B: one member, no second member_added.
	aliceB := b.dial(t)
	clusterWait(t, 2*time.Second, "A's members known on B", func() bool { return len(b.state.hub.PresenceUsers("t", room)) == 2 })
	if ids := aliceB.joinPresence(room, "alice"); strings.Join(ids, ",") != "w,alice" {
		t.Fatalf("B's answer lists %v", ids)
	}
	bob := b.dial(t)
	bob.joinPresence(room, "bob")
	if f := watcher.expect("pusher_internal:member_added"); !strings.Contains(f.Data, `"bob"`) {
		t.Fatalf("member_added %q", f.Data)
	}
	aliceB.expect("pusher_internal:member_added") // bob, on B
	for _, h := range []*realtime.Hub{a.state.hub, b.state.hub} {
		var ids []string
		for _, u := range h.PresenceUsers("t", room) {
			ids = append(ids, u.ID)
		}
		if strings.Join(ids, ",") != "w,alice,bob" {
			t.Fatalf("PresenceUsers %v", ids)
		}
	}

	// Alice leaves A: still on B, nobody is told; then leaves B too.
	aliceA.ws.Close(websocket.StatusNormalClosure, "")
	watcher.expectNothing(300 * time.Millisecond)
	aliceB.ws.Close(websocket.StatusNormalClosure, "")
	if f := watcher.expect("pusher_internal:member_removed"); !strings.Contains(f.Data, `"alice"`) {
		t.Fatalf("member_removed %q", f.Data)
	}

	// A member of an instance that dies without a word leaves after the timeout.
	cl := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer cl.Close()
	cl.Publish(context.Background(), "recordsync:c-"+t.Name()+":events", ghostMessage(t, clusterTestSecret, "c-"+t.Name(), 0,
		`{"v":3,"kind":"presence","instance":"ghost","seq":1,"op":"join","tenant":"t","channel":"presence-room","user_id":"carol","info":"{\"name\":\"Carol\"}"}`))
	if f := watcher.expect("pusher_internal:member_added"); !strings.Contains(f.Data, `"carol"`) {
		t.Fatalf("member_added %q", f.Data)
	}
	start := time.Now()
	if f := watcher.expect("pusher_internal:member_removed"); !strings.Contains(f.Data, `"carol"`) {
		t.Fatalf("member_removed %q", f.Data)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("ghost's member removed after %v, before the timeout", d)
	}

	// B shuts down: its members (bob) leave at once (bye).
	_, _ = pool.Delete(t.Name() + "-b")
	if f := watcher.expect("pusher_internal:member_removed"); !strings.Contains(f.Data, `"bob"`) {
		t.Fatalf("member_removed %q", f.Data)
	}
}

func TestClusterRedisOutage(t *testing.T) {
	r, a, b := twoInstances(t, 0)
	sa, sb := a.dial(t), b.dial(t)
	sa.subscribePrivate("private-chat")
	sb.subscribePrivate("private-chat")

	r.Stop()
	clusterWait(t, 5*time.Second, "A sees the outage", func() bool { return !a.up() })
	before := testutil.ToFloat64(clusterMetrics.notShared)
	a.state.hub.Publish(realtime.Event{Tenant: "t", Channel: "private-chat", Name: "during", Data: []byte(`{}`)})
	sa.expect("during") // local subscribers are still served
	clusterWait(t, 5*time.Second, "not shared counted", func() bool { return testutil.ToFloat64(clusterMetrics.notShared) > before })
	sb.expectNothing(100 * time.Millisecond)

	r.Start()
	clusterWait(t, 10*time.Second, "both back", func() bool { return a.up() && b.up() })
	clusterWait(t, 10*time.Second, "delivery across instances again", func() bool {
		a.state.hub.Publish(realtime.Event{Tenant: "t", Channel: "private-chat", Name: "after", Data: []byte(`{}`)})
		sa.expect("after")
		select {
		case f := <-sb.frames:
			return f.Event == "after"
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
}

func TestUnmarshalCaddyfileCluster(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`recordsync {
		cluster redis://127.0.0.1:6379/0
		cluster_name shop
		cluster_timeout 5s
	}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h)
	want := `{"cluster":{"url":"redis://127.0.0.1:6379/0","name":"shop","timeout":5000000000}}`
	if string(got) != want {
		t.Fatalf("parsed\n%s\nwant\n%s", got, want)
	}
	for _, tc := range []struct{ input, want string }{
		{"recordsync {\n\tcluster a\n\tcluster b\n}", `duplicate subdirective "cluster"`},
		{"recordsync {\n\tcluster\n}", "wrong argument count"},
		{"recordsync {\n\tcluster_timeout soon\n}", "not a positive duration"},
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.input, err, tc.want)
		}
	}
}

// ghostMessage signs body (a bus message's JSON) as an instance of the
// cluster name on database db with secret does: the wire of the bus's
// protocol 3, written here a second time from its description (cluster's
// seal and deriveKeys) so that a change of it is noticed.
func ghostMessage(t *testing.T, secret, name string, db int, body string) string {
	t.Helper()
	key, err := hkdf.Key(sha256.New, []byte(secret), []byte("recordsync cluster v1"), "bus\x00"+name+"\x00"+strconv.Itoa(db), sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	signed := body[1:]
	h := hmac.New(sha256.New, key)
	fmt.Fprintf(h, "%d:%s", len(signed), signed)
	return `{"mac":"` + base64.RawURLEncoding.EncodeToString(h.Sum(nil)) + `",` + signed
}

// The cluster's name defaults to the handler's name and the database
// number (Redis pub/sub ignores the number: with the handler's name alone,
// a staging on /1 and a production on /0 shared one channel); an explicit
// name is kept. Its secret is the cluster's own, else app_secret; with
// neither, the cluster refuses to start.
func TestClusterKeyNameAndSecret(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	t.Setenv("RECORDSYNC_TEST_CLUSTER_SECRET", "from-env")
	for _, tc := range []struct {
		name       string
		h          Handler
		wantName   string
		wantSecret string
		wantErr    string
	}{
		{"default name on /1", Handler{Name: "default", Cluster: ClusterConfig{URL: "redis://127.0.0.1:6379/1"}, WebSocket: WebSocketConfig{AppSecret: "app"}},
			"default-db1", "app", ""},
		{"default name on /0", Handler{Name: "default", Cluster: ClusterConfig{URL: "redis://127.0.0.1:6379/0"}, WebSocket: WebSocketConfig{AppSecret: "app"}},
			"default-db0", "app", ""},
		{"handler name", Handler{Name: "shop", Cluster: ClusterConfig{URL: "redis://127.0.0.1:6379/2", Secret: "own"}},
			"shop-db2", "own", ""},
		{"explicit name kept", Handler{Name: "shop", Cluster: ClusterConfig{URL: "redis://127.0.0.1:6379/1", Name: "shop", Secret: "{env.RECORDSYNC_TEST_CLUSTER_SECRET}"}, WebSocket: WebSocketConfig{AppSecret: "app"}},
			"shop", "from-env", ""},
		{"no secret", Handler{Name: "default", Cluster: ClusterConfig{URL: "redis://127.0.0.1:6379/0"}},
			"", "", "needs a secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := tc.h.clusterKey(ctx)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || key.Name != tc.wantName || key.Secret != tc.wantSecret {
				t.Fatalf("key %+v, %v; want name %q, secret %q", key, err, tc.wantName, tc.wantSecret)
			}
		})
	}

	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`recordsync {
		cluster redis://127.0.0.1:6379/1 {
			secret {env.CLUSTER_SECRET}
		}
	}`))
	if err != nil || h.Cluster.Secret != "{env.CLUSTER_SECRET}" {
		t.Fatalf("secret in the cluster block: %q, %v", h.Cluster.Secret, err)
	}
}
