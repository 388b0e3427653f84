package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tidwall/gjson"
)

// TestPusherSDK drives the real `pusher` npm SDK against the real Caddy:
// trigger, triggerBatch, channel info, socket_id exclusion, a wrong secret
// (401) and oversize data.
func TestPusherSDK(t *testing.T) {
	app := startFakeApp(t, testAppKey, testAppSecret)
	c := startCaddy(t, realtimeSite(app.Addr()))
	runNodeTest(t, "pusher-sdk.test.mjs", map[string]string{
		"RS_PORT":       fmt.Sprint(c.HTTPPort),
		"RS_APP_ID":     testAppID,
		"RS_APP_KEY":    testAppKey,
		"RS_APP_SECRET": testAppSecret,
	})
}

// dialTenant opens a Pusher socket on the Caddy at port with host as the
// request's Host (the tenant), connecting to 127.0.0.1 whatever host says.
func dialTenant(t testing.TB, port int, host string) *wsClient {
	t.Helper()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := fmt.Sprintf("ws://%s:%d/ws/app/%s?protocol=7&client=js&version=8.6.0", host, port, testAppKey)
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	c := &wsClient{t: t, conn: conn}
	f := c.read(10 * time.Second)
	var est struct {
		SocketID string `json:"socket_id"`
	}
	if f.Event != "pusher:connection_established" || json.Unmarshal([]byte(f.dataString()), &est) != nil {
		t.Fatalf("first frame %+v", f)
	}
	c.SocketID = est.SocketID
	return c
}

// eventStream reads a socket's frames in the background (a read with a
// timed-out context would close a coder/websocket connection), answering
// server pings and keeping the others.
type eventStream struct {
	c      *wsClient
	frames chan frame
}

func streamEvents(c *wsClient) *eventStream {
	s := &eventStream{c: c, frames: make(chan frame, 100)}
	go func() {
		defer close(s.frames)
		for {
			_, b, err := c.conn.Read(context.Background())
			if err != nil {
				return
			}
			var f frame
			if json.Unmarshal(b, &f) != nil {
				continue
			}
			if f.Event == "pusher:ping" {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				c.conn.Write(ctx, websocket.MessageText, []byte(`{"event":"pusher:pong","data":{}}`))
				cancel()
				continue
			}
			if strings.HasPrefix(f.Event, "pusher") {
				continue
			}
			s.frames <- f
		}
	}()
	return s
}

// nextEvent returns the next event frame, or ok false after timeout.
func (s *eventStream) nextEvent(timeout time.Duration) (frame, bool) {
	select {
	case f, ok := <-s.frames:
		return f, ok
	case <-time.After(timeout):
		return frame{}, false
	}
}

// TestLaravelRedisIngress: the example Laravel app broadcasts through
// Laravel's redis broadcaster (observer and artisan) into recordsync's Redis
// ingress, behind the real Caddy: a save the proxy never sees reaches a
// subscriber and moves the version cache; a PUT the proxy also broadcast
// arrives once; a save sent with toOthers (X-Socket-ID) skips the writer's
// socket, and no subscriber sees the writer's socket id
// (RedisBroadcaster.php leaves "socket" in data); Redis stopped and started
// again → delivery resumes by itself.
func TestLaravelRedisIngress(t *testing.T) {
	addr, stopRedis, startRedisAgain := startRedis(t)
	_, port, _ := net.SplitHostPort(addr)
	app := startLaravel(t, map[string]string{
		"BROADCAST_DRIVER":        "redis",
		"BROADCAST_FROM_OBSERVER": "1",
		"REDIS_HOST":              "127.0.0.1",
		"REDIS_PORT":              port,
		"REDIS_TENANT_PREFIX":     "1",
	})
	site := fmt.Sprintf(`http://:{PORT} {
	recordsync {
		tenant {http.request.host.labels.1}
		updated_by_id data.updated_by
		updated_by_name data.updated_by_name
		record flow /api/v1/flows/{id}
		laravel_app_key %s
		app_id %s
		app_key %s
		app_secret %s
		redis redis://%s/0
		redis_tenant_pattern "tenant{tenant}_laravel_database_"
	}
%s}
`, app.AppKey, testAppID, testAppKey, testAppSecret, addr, laravelSite(app))
	c := startCaddy(t, site)

	ws := dialTenant(t, c.HTTPPort, "a.localhost")
	// Signed here with the app secret: the example app's /broadcasting/auth
	// answers the redis broadcaster's unsigned `true`.
	if f := ws.subscribePrivate("private-record.flow.1", testAppKey, testAppSecret); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("subscribe: %+v", f)
	}
	// Tenant b's socket on the same channel name must hear nothing of a.
	wsB := dialTenant(t, c.HTTPPort, "b.localhost")
	if f := wsB.subscribePrivate("private-record.flow.1", testAppKey, testAppSecret); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("subscribe b: %+v", f)
	}
	// A socket of tenant a on the project's list channel, and the writer's
	// socket: its id goes out as X-Socket-ID with the task save below.
	wsList := dialTenant(t, c.HTTPPort, "a.localhost")
	wsWriter := dialTenant(t, c.HTTPPort, "a.localhost")
	for _, s := range []*wsClient{wsList, wsWriter} {
		if f := s.subscribePrivate("private-project.1", testAppKey, testAppSecret); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("subscribe private-project.1: %+v", f)
		}
	}
	evA, evB := streamEvents(ws), streamEvents(wsB)
	evList, evWriter := streamEvents(wsList), streamEvents(wsWriter)
	// Laravel's own "socket" member (BroadcastEvent.php adds it to every
	// payload, null without toOthers) never reaches a subscriber.
	noSocket := func(what string, f frame) {
		t.Helper()
		if s := gjson.Get(f.dataString(), "socket"); s.Exists() {
			t.Fatalf("%s: data carries Laravel's socket member %s: %s", what, s.Raw, f.dataString())
		}
	}

	alice := newLaravelClient(t, c.URL(), "a.localhost")
	alice.Login("alice@example.com", "secret")
	poll := func() *laravelResponse { return alice.Do("GET", "/api/v1/records/flow/1/version", nil) }
	wantStatus(t, "first poll", poll(), 200) // authorises alice for flow 1 in recordsync's memory

	// An artisan save: only Redis carries it.
	expectArtisan := func(what string, ws *eventStream, timeout time.Duration) (string, bool) {
		t.Helper()
		out := app.Artisan("--tenant=a", "flows:touch", "1", "--name="+what)
		v := gjson.Get(out, "updated_at").String()
		f, ok := ws.nextEvent(timeout)
		if !ok {
			return v, false
		}
		if f.Event != "record.updated" || f.Channel != "private-record.flow.1" || gjson.Get(f.dataString(), "updated_at_iso").String() != v {
			t.Fatalf("%s: got %s on %s: %s; artisan printed %s", what, f.Event, f.Channel, f.dataString(), out)
		}
		noSocket(what, f)
		return v, true
	}
	v, ok := expectArtisan("from artisan", evA, 10*time.Second)
	if !ok {
		t.Fatalf("artisan save: nothing delivered\n%s", app.Logs())
	}
	r := poll()
	wantStatus(t, "poll after artisan", r, 200)
	wantField(t, "poll after artisan", r, "data.updated_at", v)
	if got := r.Header.Get("X-Recordsync-Cache"); got != "hit" {
		t.Fatalf("poll after artisan: X-Recordsync-Cache %q, want hit (the cache learned the artisan's save from Redis)", got)
	}

	// A PUT through the proxy, broadcast by the proxy and by the app's
	// observer: once.
	r = alice.Do("PUT", "/api/v1/flows/1", map[string]string{"name": "through the proxy"}, "X-Tab-ID", "tab_x")
	wantStatus(t, "PUT", r, 200)
	put := gjson.GetBytes(r.Body, "data.updated_at").String()
	f, ok := evA.nextEvent(5 * time.Second)
	if !ok || gjson.Get(f.dataString(), "updated_at_iso").String() != put {
		t.Fatalf("PUT: got %+v (ok %v), want record.updated at %s", f, ok, put)
	}
	if f, ok := evA.nextEvent(1500 * time.Millisecond); ok {
		t.Fatalf("PUT arrived twice: %+v", f)
	}
	noSocket("PUT", f)
	if f, ok := evB.nextEvent(200 * time.Millisecond); ok {
		t.Fatalf("tenant b got tenant a's event: %+v", f)
	}

	// A task save with toOthers: the proxy has no record route for tasks,
	// so only Redis carries task.updated, with the writer's socket id in
	// its data and as the message's socket. The other socket gets the event
	// without the id; the writer's socket gets no copy.
	r = alice.Do("PATCH", "/api/v1/projects/1/tasks/3", map[string]string{"status": "done"},
		"X-Socket-ID", wsWriter.SocketID, "X-Tab-ID", "tab_x")
	wantStatus(t, "PATCH task", r, 200)
	f, ok = evList.nextEvent(10 * time.Second)
	if !ok || f.Event != "task.updated" || gjson.Get(f.dataString(), "task_id").Int() != 3 {
		t.Fatalf("PATCH task: got %+v (ok %v), want task.updated of task 3\n%s", f, ok, app.Logs())
	}
	noSocket("PATCH task", f)
	if strings.Contains(f.dataString(), wsWriter.SocketID) {
		t.Fatalf("PATCH task: data carries the writer's socket id %s: %s", wsWriter.SocketID, f.dataString())
	}
	if f, ok := evWriter.nextEvent(1500 * time.Millisecond); ok {
		t.Fatalf("PATCH task: the writer's socket (X-Socket-ID) got a copy: %+v", f)
	}

	// Redis goes away and comes back: delivery resumes with no restart.
	stopRedis()
	time.Sleep(500 * time.Millisecond)
	startRedisAgain()
	resumed := false
	for i := range 20 {
		if _, ok := expectArtisan(fmt.Sprintf("after restart %d", i), evA, 1500*time.Millisecond); ok {
			resumed = true
			break
		}
	}
	if !resumed {
		t.Fatalf("no delivery after Redis came back\n%s", c.Log())
	}
	if strings.Count(c.Log(), "redis ingress lost its connection") != 1 {
		t.Errorf("want one warning for the outage, log:\n%s", c.Log())
	}
}
