package engine

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/internal/testredis"
	"github.com/recordsync/recordsync/pusher"
	"github.com/recordsync/recordsync/realtime"
)

// hookLog records the events of valid webhooks as "name channel".
type hookLog struct {
	mu     sync.Mutex
	events []string
	bad    int
}

func newHookLog(t *testing.T) (*hookLog, string) {
	l := &hookLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var doc struct {
			Events []struct{ Name, Channel string } `json:"events"`
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if !pusher.VerifyWebhook("k", "s", r.Header.Get("X-Pusher-Key"), r.Header.Get("X-Pusher-Signature"), body) || json.Unmarshal(body, &doc) != nil {
			l.bad++
			return
		}
		for _, e := range doc.Events {
			l.events = append(l.events, e.Name+" "+e.Channel)
		}
	}))
	t.Cleanup(srv.Close)
	return l, srv.URL
}

func (l *hookLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// engineSite is an Engine's hub behind an httptest server.
type engineSite struct {
	e   *Engine
	srv *httptest.Server
}

func newEngineSite(t *testing.T) *engineSite {
	e, err := Open(Options{Hub: &realtime.Options{AppKey: "k", AppSecret: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = e.Hub().ServeWebSocket(w, r, "")
	}))
	t.Cleanup(func() { srv.Close(); e.Close() })
	return &engineSite{e: e, srv: srv}
}

// subscribe opens a socket subscribed to the public channel ch.
func (s *engineSite) subscribe(t *testing.T, ch string) *websocket.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.srv.URL, "http")+"/ws/app/k?protocol=7", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	if _, _, err := ws.Read(ctx); err != nil { // connection_established
		t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"event":"pusher:subscribe","data":{"channel":"`+ch+`"}}`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.Read(ctx); err != nil || !strings.Contains(string(b), "subscription_succeeded") {
		t.Fatalf("subscribe: %s %v", b, err)
	}
	return ws
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEngineWebhooksCluster: two Engines of one cluster report a channel
// occupied once and vacated once while its sockets come and go on both; a
// reload with the same webhooks keeps them (nothing reported again), one
// without them closes them.
func TestEngineWebhooksCluster(t *testing.T) {
	r := testredis.Start(t)
	log, url := newHookLog(t)
	hooks := realtime.WebhookOptions{AppKey: "k", AppSecret: "s", Batch: 10 * time.Millisecond,
		Targets: []realtime.WebhookTarget{{URL: url, Events: []string{"channel_occupied", "channel_vacated"}}}}
	cfg := Config{Hub: realtime.Options{AppKey: "k", AppSecret: "s"}, Webhooks: hooks,
		Cluster: ClusterKey{URL: r.URL(), Name: "hooks-" + t.Name(), Secret: "s"}}
	one, two := newEngineSite(t), newEngineSite(t)
	for _, s := range []*engineSite{one, two} {
		if err := s.e.Apply(cfg); err != nil {
			t.Fatal(err)
		}
	}
	held := func(n int) func() bool {
		return func() bool {
			m, _ := one.e.Cluster().Client().SCard(context.Background(), one.e.Cluster().Key("occ", "s", "c::x")).Result()
			return int(m) == n
		}
	}
	a := one.subscribe(t, "x")
	waitFor(t, "x held by one", held(1))
	b := two.subscribe(t, "x")
	waitFor(t, "x held by two", held(2))
	a.CloseNow()
	waitFor(t, "one let go", held(1))
	a2 := one.subscribe(t, "x")
	waitFor(t, "x held by both again", held(2))

	// A reload with the same settings keeps the webhooks.
	if err := one.e.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	b.CloseNow()
	waitFor(t, "two let go", held(1))
	a2.CloseNow()
	waitFor(t, "x vacated", func() bool { return len(log.get()) == 2 })
	time.Sleep(100 * time.Millisecond) // anything more would have come by now
	if got := log.get(); !slices.Equal(got, []string{"channel_occupied x", "channel_vacated x"}) || log.bad != 0 {
		t.Fatalf("webhooks %v (%d invalid), want one occupied and one vacated", got, log.bad)
	}

	// Without webhooks, nothing is reported.
	cfg.Webhooks = realtime.WebhookOptions{}
	if err := one.e.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	c := one.subscribe(t, "y")
	c.CloseNow()
	waitFor(t, "one's hub empty", func() bool { return one.e.Hub().Channels() == 0 })
	time.Sleep(100 * time.Millisecond)
	if got := log.get(); len(got) != 2 {
		t.Fatalf("webhooks after they were removed: %v", got)
	}
	if err := (&Engine{}).Apply(Config{Webhooks: hooks}); err == nil {
		t.Fatal("webhooks without a hub")
	}
}
