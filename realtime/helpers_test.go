package realtime

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/pusher"
)

const (
	testKey    = "app-key"
	testSecret = "app-secret"
)

// TestMain fails the package when goroutines of the hub or of the websocket
// library outlive the tests (other runtime goroutines, such as the fuzzing
// engine's signal handler, are not ours to judge).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(10 * time.Second)
		leaked := leakedGoroutines()
		for leaked != "" && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			leaked = leakedGoroutines()
		}
		if leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutine leak:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func leakedGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "realtime.TestMain") {
			continue
		}
		if strings.Contains(g, "recordsync/realtime.") || strings.Contains(g, "coder/websocket") {
			leaked = append(leaked, g)
		}
	}
	return strings.Join(leaked, "\n\n")
}

// wrappedWriter hides the Hijacker behind Unwrap, as Caddy's writers do.
type wrappedWriter struct{ http.ResponseWriter }

func (w wrappedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingObserver counts the hub's metrics.
type countingObserver struct {
	conns, subs, chans, published, delivered, slow, learned, encoded atomic.Int64
	mu                                                               sync.Mutex
	dropped                                                          map[string]int
	refused                                                          map[string]int
}

func (o *countingObserver) Connections(d int)   { o.conns.Add(int64(d)) }
func (o *countingObserver) Subscriptions(d int) { o.subs.Add(int64(d)) }
func (o *countingObserver) Channels(d int)      { o.chans.Add(int64(d)) }
func (o *countingObserver) Published(n int)     { o.published.Add(int64(n)) }
func (o *countingObserver) Delivered(n int)     { o.delivered.Add(int64(n)) }
func (o *countingObserver) SlowConsumer()       { o.slow.Add(1) }
func (o *countingObserver) Encoded()            { o.encoded.Add(1) }
func (o *countingObserver) Learned()            { o.learned.Add(1) }
func (o *countingObserver) Refused(r string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.refused == nil {
		o.refused = map[string]int{}
	}
	o.refused[r]++
}

func (o *countingObserver) refusedCount(r string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refused[r]
}

func (o *countingObserver) Dropped(r string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dropped == nil {
		o.dropped = map[string]int{}
	}
	o.dropped[r]++
}

type testEnv struct {
	hub *Hub
	srv *httptest.Server
	obs *countingObserver
}

// newEnv starts a hub behind an httptest server; the socket's tenant is the
// ?tenant= query parameter. mod adjusts the options.
func newEnv(tb testing.TB, mod func(*Options)) *testEnv {
	tb.Helper()
	obs := &countingObserver{}
	opts := Options{AppKey: testKey, AppSecret: testSecret, Observer: obs}
	if mod != nil {
		mod(&opts)
	}
	hub, err := NewHub(opts)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hub.IsWebSocketPath(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		if err := hub.ServeWebSocket(wrappedWriter{w}, r, r.URL.Query().Get("tenant")); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	}))
	tb.Cleanup(srv.Close)
	tb.Cleanup(hub.Close)
	return &testEnv{hub: hub, srv: srv, obs: obs}
}

func (e *testEnv) url(path string) string {
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + path
}

// client is a test websocket client. With a reader it pushes every frame to
// frames and the final read error to closed. Like pusher-js, the reader
// answers the server's keep-alive pusher:ping with pusher:pong and keeps it
// out of frames, so no read that expects a frame (expect, roundTrip, ...)
// meets a ping the hub sent because the socket was quiet for
// ActivityTimeout. A silent client (connectSilent) answers nothing and
// gets the pings in frames.
type client struct {
	tb       testing.TB
	ws       *websocket.Conn
	frames   chan []byte
	closed   chan error
	socketID string
	silent   bool         // set before the reader starts
	pings    atomic.Int64 // server pings answered
}

func (e *testEnv) dialRaw(tb testing.TB, path string, h http.Header) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, e.url(path), &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		ws.SetReadLimit(-1)
		tb.Cleanup(func() { _ = ws.CloseNow() })
	}
	return ws, resp, err
}

// dial connects to path and starts the reader; it does not consume the
// handshake.
func (e *testEnv) dial(tb testing.TB, path string) *client {
	tb.Helper()
	return e.dialClient(tb, path, false)
}

func (e *testEnv) dialClient(tb testing.TB, path string, silent bool) *client {
	tb.Helper()
	ws, _, err := e.dialRaw(tb, path, nil)
	if err != nil {
		tb.Fatalf("dial %s: %v", path, err)
	}
	c := &client{tb: tb, ws: ws, frames: make(chan []byte, 4096), closed: make(chan error, 1), silent: silent}
	c.startReader()
	return c
}

var clientPong = []byte(`{"event":"pusher:pong","data":{}}`)

func (c *client) startReader() {
	go func() {
		for {
			_, b, err := c.ws.Read(context.Background())
			if err != nil {
				c.closed <- err
				close(c.frames)
				return
			}
			if !c.silent && bytes.Equal(b, framePing) {
				// A failed write is the socket closing: the next Read
				// reports it.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if c.ws.Write(ctx, websocket.MessageText, clientPong) == nil {
					c.pings.Add(1)
				}
				cancel()
				continue
			}
			c.frames <- b
		}
	}()
}

// connect dials the standard pusher-js path and reads the handshake.
func (e *testEnv) connect(tb testing.TB, tenant string) *client {
	tb.Helper()
	return e.connectClient(tb, tenant, false)
}

// connectSilent is connect for a client that never answers the server's
// pusher:ping: the pings reach frames like any other frame.
func (e *testEnv) connectSilent(tb testing.TB, tenant string) *client {
	tb.Helper()
	return e.connectClient(tb, tenant, true)
}

func (e *testEnv) connectClient(tb testing.TB, tenant string, silent bool) *client {
	tb.Helper()
	c := e.dialClient(tb, "/ws/app/"+testKey+"?protocol=7&client=js&version=8.6.0&flash=false&tenant="+tenant, silent)
	ev, _, data := c.next()
	if ev != "pusher:connection_established" {
		tb.Fatalf("first frame %s", ev)
	}
	c.socketID, _ = data["socket_id"].(string)
	return c
}

// nextRaw returns the next frame or fails after 5 s.
func (c *client) nextRaw() []byte {
	c.tb.Helper()
	select {
	case b, ok := <-c.frames:
		if !ok {
			c.tb.Fatalf("socket closed: %v", <-c.closed)
		}
		return b
	case <-time.After(5 * time.Second):
		c.tb.Fatalf("no frame within 5s")
	}
	return nil
}

func (c *client) next() (event, channel string, data map[string]any) {
	c.tb.Helper()
	return decodeServerFrame(c.tb, c.nextRaw())
}

// expect reads the next frame and checks its event (and channel when set).
func (c *client) expect(event, channel string) map[string]any {
	c.tb.Helper()
	ev, ch, data := c.next()
	if ev != event || (channel != "" && ch != channel) {
		c.tb.Fatalf("got %s on %q (%v), want %s on %q", ev, ch, data, event, channel)
	}
	return data
}

// expectNothing checks that no frame arrives within d.
func (c *client) expectNothing(d time.Duration) {
	c.tb.Helper()
	select {
	case b, ok := <-c.frames:
		if ok {
			c.tb.Fatalf("unexpected frame %s", b)
		}
	case <-time.After(d):
	}
}

func (c *client) send(s string) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.tb.Fatalf("send: %v", err)
	}
}

func (c *client) subscribe(channel, auth string) {
	c.tb.Helper()
	c.send(fmt.Sprintf(`{"event":"pusher:subscribe","data":{"channel":%q,"auth":%q}}`, channel, auth))
}

// subscribeOK subscribes (signing private channels) and reads the ack.
func (c *client) subscribeOK(channel string) {
	c.tb.Helper()
	auth := ""
	if pusher.KindOf(channel) == pusher.KindPrivate {
		auth = pusher.ChannelAuth(testKey, testSecret, c.socketID, channel, "")
	}
	c.subscribe(channel, auth)
	c.expect("pusher_internal:subscription_succeeded", channel)
}

// roundTrip sends pusher:ping and waits for the pong: every frame the server
// queued before it has been read by then (frames are in order). The hub's own
// pings never come between (the reader answers them), except on a silent
// client.
func (c *client) roundTrip() {
	c.tb.Helper()
	c.send(`{"event":"pusher:ping","data":{}}`)
	c.expect("pusher:pong", "")
}

// waitClosed drains frames until the socket closes and returns the close code.
func (c *client) waitClosed(timeout time.Duration) websocket.StatusCode {
	c.tb.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-c.frames:
			if !ok {
				return websocket.CloseStatus(<-c.closed)
			}
		case <-deadline:
			c.tb.Fatalf("socket not closed within %v", timeout)
		}
	}
}

// eventually polls cond every 5 ms for up to d.
func eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
