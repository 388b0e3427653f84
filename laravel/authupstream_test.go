package laravel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/pusher"
	"github.com/recordsync/recordsync/realtime"
)

// fakeAuthApp is an app's /broadcasting/auth: the session cookie names the
// user; carol may not see "…flow.2"; presence channels get channel_data.
type fakeAuthApp struct {
	delay atomic.Int64 // a time.Duration
	// signed answers presence grants as the pusher broadcaster does
	// (channel_data as a string next to "auth").
	signed bool
	// override, when set, answers every request the app would grant with
	// 200, contentType and body instead of a grant.
	override          bool
	contentType, body string

	calls, inFlight, maxInFlight atomic.Int64
	mu                           sync.Mutex
	seen                         []*http.Request
	forms                        []map[string]string
}

func (a *fakeAuthApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.calls.Add(1)
	n := a.inFlight.Add(1)
	defer a.inFlight.Add(-1)
	for {
		m := a.maxInFlight.Load()
		if n <= m || a.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(time.Duration(a.delay.Load()))
	_ = r.ParseForm()
	a.mu.Lock()
	a.seen = append(a.seen, r)
	a.forms = append(a.forms, map[string]string{"socket_id": r.PostForm.Get("socket_id"), "channel_name": r.PostForm.Get("channel_name")})
	a.mu.Unlock()
	user := ""
	if ck, err := r.Cookie("laravel_session"); err == nil {
		user = ck.Value
	}
	if r.Header.Get("Authorization") == "Bearer token-of-bob" {
		user = "bob"
	}
	channel := r.PostForm.Get("channel_name")
	switch {
	case user == "":
		http.Error(w, `{"message":"Unauthenticated."}`, http.StatusUnauthorized)
	case user == "carol" && strings.HasSuffix(channel, "flow.2"):
		http.Error(w, `{"message":"This action is unauthorized."}`, http.StatusForbidden)
	case a.override:
		w.Header().Set("Content-Type", a.contentType)
		fmt.Fprint(w, a.body)
	case strings.HasPrefix(channel, "presence-") && a.signed:
		fmt.Fprintf(w, `{"auth":"whatever:sig","channel_data":"{\"user_id\":\"%s\",\"user_info\":{\"name\":\"%s\"}}"}`, user, user)
	case strings.HasPrefix(channel, "presence-"):
		fmt.Fprintf(w, `{"channel_data":{"user_id":%q,"user_info":{"name":%q}}}`, user, user)
	default:
		fmt.Fprint(w, "true")
	}
}

// authEnv is a site serving the hub at /ws and the app at
// /broadcasting/auth on one server, as Caddy does; the hub's authorizer
// asks the app back through the address the upgrade came in on.
type authEnv struct {
	hub  *realtime.Hub
	srv  *httptest.Server
	app  *fakeAuthApp
	auth *UpstreamAuthorizer
	obs  *refusals
}

func newAuthEnv(tb testing.TB, app *fakeAuthApp, mod func(*UpstreamAuthOptions)) *authEnv {
	tb.Helper()
	opts := UpstreamAuthOptions{Path: "/broadcasting/auth"}
	if mod != nil {
		mod(&opts)
	}
	auth, err := NewUpstreamAuthorizer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	obs := &refusals{}
	hub, err := realtime.NewHub(realtime.Options{AppKey: testKey, AppSecret: testSecret, Authorizer: auth, Observer: obs})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/broadcasting/auth", app)
	mux.HandleFunc("/ws/", func(w http.ResponseWriter, r *http.Request) {
		_ = hub.ServeWebSocket(wrappedWriter{w}, r, "t1")
	})
	srv := httptest.NewServer(mux)
	tb.Cleanup(func() { hub.Close(); auth.Close(); srv.Close() })
	return &authEnv{hub: hub, srv: srv, app: app, auth: auth, obs: obs}
}

// connectAs opens a socket carrying the header pairs (Cookie, ...).
func (e *authEnv) connectAs(tb testing.TB, headers ...string) *client {
	tb.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws/app/" + testKey + "?protocol=7"
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { _ = ws.CloseNow() })
	c := &client{tb: tb, ws: ws, frames: make(chan frame, 64)}
	go c.read()
	_, _, data := c.next()
	c.socketID, _ = data["socket_id"].(string)
	return c
}

func TestAuthUpstreamAllowedAndDenied(t *testing.T) {
	app := &fakeAuthApp{}
	e := newAuthEnv(t, app, nil)
	alice := e.connectAs(t, "Cookie", "laravel_session=alice; other=1", "Authorization", "Basic x")
	alice.subscribe("private-record.flow.2", "")
	alice.expect("pusher_internal:subscription_succeeded", "private-record.flow.2")

	app.mu.Lock()
	r, form := app.seen[0], app.forms[0]
	app.mu.Unlock()
	if form["socket_id"] != alice.socketID || form["channel_name"] != "private-record.flow.2" {
		t.Fatalf("the app got %v, want socket %s", form, alice.socketID)
	}
	if r.Header.Get("Cookie") != "laravel_session=alice; other=1" || r.Header.Get("Authorization") != "Basic x" ||
		r.Host != strings.TrimPrefix(e.srv.URL, "http://") || r.Header.Get("Accept") != "application/json" {
		t.Fatalf("the app's request: host %q, headers %v", r.Host, r.Header)
	}

	carol := e.connectAs(t, "Cookie", "laravel_session=carol")
	carol.subscribe("private-record.flow.2", "")
	data := carol.expect("pusher:subscription_error", "private-record.flow.2")
	if data["type"] != "AuthError" || data["status"] != float64(403) {
		t.Fatalf("carol: %v", data)
	}
	carol.subscribe("private-record.flow.1", "")
	carol.expect("pusher_internal:subscription_succeeded", "private-record.flow.1")

	anon := e.connectAs(t)
	anon.subscribe("private-record.flow.1", "")
	if data := anon.expect("pusher:subscription_error", "private-record.flow.1"); data["status"] != float64(401) {
		t.Fatalf("anonymous: %v", data)
	}

	// A subscription with auth is verified by the hub, the app is not asked.
	before := app.calls.Load()
	alice.subscribe("private-x", "bad:sig")
	alice.expect("pusher:subscription_error", "private-x")
	alice.subscribeOK("private-y")
	if app.calls.Load() != before {
		t.Fatal("the app was asked for a subscription that carried auth")
	}

	// Counted: carol's and the anonymous refusals by the app, the bad
	// signature by the hub.
	if got := e.obs.count(realtime.RefusedByApp); got != 2 {
		t.Errorf("refused by the app: %d, want 2", got)
	}
	if got := e.obs.count(realtime.RefusedSignature); got != 1 {
		t.Errorf("refused signatures: %d, want 1", got)
	}

	// Bearer tokens count as credentials too.
	bob := e.connectAs(t, "Authorization", "Bearer token-of-bob")
	bob.subscribe("private-record.flow.2", "")
	bob.expect("pusher_internal:subscription_succeeded", "private-record.flow.2")
}

func TestAuthUpstreamPresence(t *testing.T) {
	for _, signed := range []bool{false, true} {
		t.Run(fmt.Sprintf("signed=%v", signed), func(t *testing.T) {
			e := newAuthEnv(t, &fakeAuthApp{signed: signed}, nil)
			alice := e.connectAs(t, "Cookie", "laravel_session=alice")
			// channel_data the client sends is ignored: the app's counts.
			alice.send(`{"event":"pusher:subscribe","data":{"channel":"presence-room","channel_data":"{\"user_id\":\"mallory\"}"}}`)
			data := alice.expect("pusher_internal:subscription_succeeded", "presence-room")
			p := data["presence"].(map[string]any)
			if fmt.Sprint(p["ids"]) != "[alice]" || p["count"] != float64(1) {
				t.Fatalf("presence %v", p)
			}
			bob := e.connectAs(t, "Cookie", "laravel_session=bob")
			bob.subscribe("presence-room", "")
			bob.expect("pusher_internal:subscription_succeeded", "presence-room")
			added := alice.expect("pusher_internal:member_added", "presence-room")
			if added["user_id"] != "bob" {
				t.Fatalf("member_added %v", added)
			}
			if got := e.hub.PresenceUsers("t1", "presence-room"); len(got) != 2 {
				t.Fatalf("users %v", got)
			}
		})
	}
}

func TestAuthUpstreamCacheAndTTL(t *testing.T) {
	app := &fakeAuthApp{}
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	e := newAuthEnv(t, app, func(o *UpstreamAuthOptions) { o.TTL = time.Minute })
	e.auth.now = func() time.Time { return time.Unix(0, now.Load()) }

	for i := range 3 {
		c := e.connectAs(t, "Cookie", "laravel_session=alice")
		c.subscribe("private-record.flow.1", "")
		c.expect("pusher_internal:subscription_succeeded", "private-record.flow.1")
		carol := e.connectAs(t, "Cookie", "laravel_session=carol")
		carol.subscribe("private-record.flow.2", "")
		carol.expect("pusher:subscription_error", "private-record.flow.2")
		if got := app.calls.Load(); got != 2 {
			t.Fatalf("round %d: %d app calls, want 2 (one grant, one refusal, then cached)", i, got)
		}
	}
	now.Add(int64(2 * time.Minute))
	c := e.connectAs(t, "Cookie", "laravel_session=alice")
	c.subscribe("private-record.flow.1", "")
	c.expect("pusher_internal:subscription_succeeded", "private-record.flow.1")
	if got := app.calls.Load(); got != 3 {
		t.Fatalf("after the TTL: %d app calls, want 3", got)
	}
}

// TestAuthUpstreamNoGrantCache: with NoGrantCache (the engine's grant
// memory in front) a grant is asked for every time, a refusal is still
// cached, and the requests carry AuthUpstreamUserAgent.
func TestAuthUpstreamNoGrantCache(t *testing.T) {
	app := &fakeAuthApp{}
	e := newAuthEnv(t, app, func(o *UpstreamAuthOptions) { o.TTL = time.Minute; o.NoGrantCache = true })
	for i := range 3 {
		c := e.connectAs(t, "Cookie", "laravel_session=alice")
		c.subscribe("private-record.flow.1", "")
		c.expect("pusher_internal:subscription_succeeded", "private-record.flow.1")
		carol := e.connectAs(t, "Cookie", "laravel_session=carol")
		carol.subscribe("private-record.flow.2", "")
		carol.expect("pusher:subscription_error", "private-record.flow.2")
		if got := app.calls.Load(); got != int64(2+i) {
			t.Fatalf("round %d: %d app calls, want %d (every grant, one refusal)", i, got, 2+i)
		}
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	if ua := app.seen[0].Header.Get("User-Agent"); ua != AuthUpstreamUserAgent {
		t.Fatalf("User-Agent %q", ua)
	}
}

// TestAuthUpstreamStorm: 200 sockets subscribing at once (a reconnect
// storm) make at most Concurrency app calls at a time, and sockets sharing
// credentials share one call per channel.
func TestAuthUpstreamStorm(t *testing.T) {
	const sockets, limit = 200, 4
	t.Run("distinct credentials", func(t *testing.T) {
		app := &fakeAuthApp{}
		app.delay.Store(int64(5 * time.Millisecond))
		e := newAuthEnv(t, app, func(o *UpstreamAuthOptions) { o.Concurrency = limit })
		storm(t, e, sockets, func(i int) string { return fmt.Sprintf("laravel_session=user%d", i) })
		if got := app.calls.Load(); got != sockets {
			t.Fatalf("%d app calls, want %d", got, sockets)
		}
		if got := app.maxInFlight.Load(); got > limit {
			t.Fatalf("%d app calls at once, want at most %d", got, limit)
		}
	})
	t.Run("shared credentials", func(t *testing.T) {
		app := &fakeAuthApp{}
		app.delay.Store(int64(20 * time.Millisecond))
		e := newAuthEnv(t, app, func(o *UpstreamAuthOptions) { o.Concurrency = limit })
		storm(t, e, sockets, func(i int) string { return fmt.Sprintf("laravel_session=user%d", i%5) })
		if got := app.calls.Load(); got != 5 {
			t.Fatalf("%d app calls, want 5 (one per credential)", got)
		}
	})
}

func storm(t *testing.T, e *authEnv, n int, cookie func(int) string) {
	t.Helper()
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = e.connectAs(t, "Cookie", cookie(i))
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.ws.Write(context.Background(), websocket.MessageText,
				[]byte(`{"event":"pusher:subscribe","data":{"channel":"private-record.flow.1"}}`))
		}()
	}
	wg.Wait()
	for _, c := range clients {
		c.expect("pusher_internal:subscription_succeeded", "private-record.flow.1")
	}
}

func TestAuthUpstreamBusyAndDown(t *testing.T) {
	app := &fakeAuthApp{}
	app.delay.Store(int64(300 * time.Millisecond))
	e := newAuthEnv(t, app, func(o *UpstreamAuthOptions) { o.Concurrency = 1; o.Timeout = 100 * time.Millisecond })
	a := e.connectAs(t, "Cookie", "laravel_session=a")
	a.subscribe("private-x", "")
	if data := a.expect("pusher:subscription_error", "private-x"); data["status"] != float64(503) {
		t.Fatalf("timed out: %v", data)
	}
	// Not cached: the next try asks again.
	app.delay.Store(0)
	time.Sleep(400 * time.Millisecond) // the slow call ends
	a.subscribe("private-x", "")
	a.expect("pusher_internal:subscription_succeeded", "private-x")

	// A configured URL nobody listens on: 503, the socket stays up.
	down := newAuthEnv(t, &fakeAuthApp{}, func(o *UpstreamAuthOptions) { o.URL = "http://127.0.0.1:1" })
	c := down.connectAs(t, "Cookie", "laravel_session=a")
	c.subscribe("private-x", "")
	if data := c.expect("pusher:subscription_error", "private-x"); data["status"] != float64(503) {
		t.Fatalf("down: %v", data)
	}
	c.roundTrip()
}

func TestAuthUpstreamURL(t *testing.T) {
	app := &fakeAuthApp{}
	appSrv := httptest.NewServer(app)
	defer appSrv.Close()
	e := newAuthEnv(t, &fakeAuthApp{}, func(o *UpstreamAuthOptions) { o.URL = appSrv.URL })
	c := e.connectAs(t, "Cookie", "laravel_session=alice")
	c.subscribe("private-record.flow.1", "")
	c.expect("pusher_internal:subscription_succeeded", "private-record.flow.1")
	if app.calls.Load() != 1 || e.app.calls.Load() != 0 {
		t.Fatalf("calls: configured URL %d, site %d", app.calls.Load(), e.app.calls.Load())
	}
	app.mu.Lock()
	host := app.seen[0].Host
	app.mu.Unlock()
	if host != strings.TrimPrefix(e.srv.URL, "http://") {
		t.Fatalf("Host %q, want the upgrade's", host)
	}
}

func TestNewUpstreamAuthorizerErrors(t *testing.T) {
	for _, o := range []UpstreamAuthOptions{
		{},
		{Path: "broadcasting/auth"},
		{Path: "/a?b"},
		{Path: "/a", URL: "ftp://x"},
		{Path: "/a", URL: "http://x/path"},
	} {
		if a, err := NewUpstreamAuthorizer(o); err == nil {
			a.Close()
			t.Errorf("%+v: no error", o)
		}
	}
}

const (
	testKey    = "app-key"
	testSecret = "app-secret"
)

// wrappedWriter hides the Hijacker behind Unwrap, as Caddy's writers do.
type wrappedWriter struct{ http.ResponseWriter }

func (w wrappedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// refusals is the hub's Observer, counting refusals by reason.
type refusals struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *refusals) Refused(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[reason]++
}

func (o *refusals) count(reason string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[reason]
}

func (*refusals) Connections(int)   {}
func (*refusals) Subscriptions(int) {}
func (*refusals) Channels(int)      {}
func (*refusals) Published(int)     {}
func (*refusals) Delivered(int)     {}
func (*refusals) Encoded()          {}
func (*refusals) Dropped(string)    {}
func (*refusals) SlowConsumer()     {}
func (*refusals) Learned()          {}

// frame is one server frame, its data decoded (pusher-js double-encodes it).
type frame struct {
	event, channel string
	data           map[string]any
}

// client is a pusher-js-like test socket: it answers the hub's pings and
// hands every other frame to the test.
type client struct {
	tb       testing.TB
	ws       *websocket.Conn
	frames   chan frame
	socketID string
}

func (c *client) read() {
	defer close(c.frames)
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			return
		}
		var f struct{ Event, Channel, Data string }
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		if f.Event == "pusher:ping" {
			_ = c.ws.Write(context.Background(), websocket.MessageText, []byte(`{"event":"pusher:pong","data":{}}`))
			continue
		}
		var data map[string]any
		_ = json.Unmarshal([]byte(f.Data), &data)
		c.frames <- frame{f.Event, f.Channel, data}
	}
}

func (c *client) next() (event, channel string, data map[string]any) {
	c.tb.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.tb.Fatal("socket closed")
		}
		return f.event, f.channel, f.data
	case <-time.After(10 * time.Second):
		c.tb.Fatal("no frame within 10s")
	}
	return "", "", nil
}

// expect reads the next frame, which must be event on channel.
func (c *client) expect(event, channel string) map[string]any {
	c.tb.Helper()
	e, ch, data := c.next()
	if e != event || ch != channel {
		c.tb.Fatalf("got %s on %q (%v), want %s on %q", e, ch, data, event, channel)
	}
	return data
}

func (c *client) send(s string) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

func (c *client) subscribe(channel, auth string) {
	c.tb.Helper()
	b, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": channel, "auth": auth}})
	c.send(string(b))
}

// subscribeOK subscribes with a valid signature and expects success.
func (c *client) subscribeOK(channel string) {
	c.tb.Helper()
	c.subscribe(channel, pusher.ChannelAuth(testKey, testSecret, c.socketID, channel, ""))
	c.expect("pusher_internal:subscription_succeeded", channel)
}

// roundTrip proves the socket still answers: a ping gets a pong.
func (c *client) roundTrip() {
	c.tb.Helper()
	c.send(`{"event":"pusher:ping","data":{}}`)
	c.expect("pusher:pong", "")
}

// FuzzUpstreamChannelData feeds arbitrary app answers (auth_upstream) to
// the presence grant reader (grantOf): no panics; an object comes back compacted and
// valid; whatever comes back either is refused by pusher.ParseChannelData or
// is a member with a bounded user id (realtime's fuzz targets hold the
// presence frames made of any member).
func FuzzUpstreamChannelData(f *testing.F) {
	for _, s := range []string{
		`{"channel_data":{"user_id":1,"user_info":{"name":"Ann"}}}`,
		`{"channel_data":"{\"user_id\":\"1\"}"}`,
		`{"auth":"k:s","channel_data":"{\"user_id\":2}"}`,
		` { "channel_data" : { "user_id" : 1e3 } } `,
		`{"channel_data":null}`, `{"channel_data":5}`, `{"channel_data":"x"}`,
		`true`, `null`, `[]`, `{`, ``, "\xff", `{"channel_data":{"a":1},"channel_data":"y"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cd, err := grantOf("presence-room", body)
		if err != nil {
			if cd != "" {
				t.Fatalf("error %v with data %q", err, cd)
			}
			return
		}
		// An object comes back compacted and valid; a string comes back as
		// it is, for pusher.ParseChannelData to judge.
		var m0 map[string]json.RawMessage
		if json.Unmarshal(bytes.TrimSpace(body), &m0) == nil {
			if raw := bytes.TrimSpace(m0["channel_data"]); len(raw) > 0 && raw[0] == '{' && !json.Valid([]byte(cd)) {
				t.Fatalf("object channel_data came back as %q, not JSON", cd)
			}
		}
		m, err := pusher.ParseChannelData(cd)
		if err != nil {
			return
		}
		if m.UserID == "" || len(m.UserID) > pusher.MaxUserIDLength {
			t.Fatalf("user id %q accepted", m.UserID)
		}
		if !json.Valid(m.Info) {
			t.Fatalf("user_info %q is not JSON", m.Info)
		}
	})
}

// TestUpstreamChannelData: the app's presence grant (grantOf on a presence
// channel) is read as the proxy
// reads the answers it signs (pusher.ParseAuthAnswer): an object is
// compacted, a string holding one is taken as it is, a signed answer's
// channel_data must be a string; an unsigned answer with a key twice, or
// with channel_data that holds no object, grants nothing.
func TestUpstreamChannelData(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, body, want string
	}{
		{"object, compacted", `{"channel_data": {"user_id": 1, "user_info": {"name": "Ann"}}}`, `{"user_id":1,"user_info":{"name":"Ann"}}`},
		{"string, as it is", `{"channel_data":"{\"user_id\": \"1\"}"}`, `{"user_id": "1"}`},
		{"signed, string as it is", `{"auth":"k:s","channel_data":"{\"user_id\":2}"}`, `{"user_id":2}`},
		{"signed, an object pusher-js would send on: refused", `{"auth":"k:s","channel_data":{"user_id":2}}`, ""},
		{"signed without channel_data", `{"auth":"k:s"}`, ""},
		{"a key twice", `{"channel_data":{"user_id":1},"channel_data":{"user_id":2}}`, ""},
		{"string holding no object", `{"channel_data":"x"}`, ""},
		{"number", `{"channel_data":5}`, ""},
		{"true", `true`, ""},
		{"not JSON", `{`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := grantOf("presence-room", []byte(tt.body))
			if got != tt.want || (err == nil) != (tt.want != "") {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestGrantOf: auth_upstream takes only what Laravel's broadcasters answer
// for a grant (Illuminate/Broadcasting/Broadcasters: RedisBroadcaster's
// true or {"channel_data":...}, PusherBroadcaster's {"auth":...}); an empty
// body (NullBroadcaster and LogBroadcaster answer every channel so), HTML,
// false, {} and every other 2xx grant nothing.
func TestGrantOf(t *testing.T) {
	t.Parallel()
	const private, presence = "private-record.flow.1", "presence-record.flow.1"
	for _, tt := range []struct {
		name, channel, body string
		grant               bool
		channelData         string
	}{
		{"true (redis, private)", private, "true", true, ""},
		{"true with white space", private, " true\n", true, ""},
		{"signed (pusher, private)", private, `{"auth":"app-key:0123abcd"}`, true, ""},
		{"channel_data on a private channel (redis, a non-boolean result)", private, `{"channel_data":{"user_id":1,"user_info":{"id":1}}}`, true, ""},
		{"channel_data (redis, presence)", presence, `{"channel_data":{"user_id":1,"user_info":{"name":"Ann"}}}`, true, `{"user_id":1,"user_info":{"name":"Ann"}}`},
		{"signed with channel_data (pusher, presence)", presence, `{"auth":"k:s","channel_data":"{\"user_id\":\"2\"}"}`, true, `{"user_id":"2"}`},

		{"empty (null and log broadcasters)", private, "", false, ""},
		{"empty, presence", presence, "", false, ""},
		{"white space", private, " \r\n\t", false, ""},
		{"an SPA's HTML", private, "<!doctype html><html><body>app</body></html>", false, ""},
		{"HTML saying true", private, "<p>true</p>", false, ""},
		{"false", private, "false", false, ""},
		{"null", private, "null", false, ""},
		{"{}", private, "{}", false, ""},
		{"[]", private, "[]", false, ""},
		{"1", private, "1", false, ""},
		{`"true"`, private, `"true"`, false, ""},
		{"TRUE", private, "TRUE", false, ""},
		{"success false", private, `{"success":false}`, false, ""},
		{"success true", private, `{"success":true}`, false, ""},
		{"auth empty", private, `{"auth":""}`, false, ""},
		{"auth without a signature", private, `{"auth":"app-key:"}`, false, ""},
		{"auth without a colon", private, `{"auth":"sig"}`, false, ""},
		{"auth not a string", private, `{"auth":true}`, false, ""},
		{"true on a presence channel (no member)", presence, "true", false, ""},
		{"signed presence without channel_data", presence, `{"auth":"k:s"}`, false, ""},
		{"presence channel_data null", presence, `{"channel_data":null}`, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cd, err := grantOf(tt.channel, []byte(tt.body))
			if (err == nil) != tt.grant || cd != tt.channelData {
				t.Fatalf("grantOf(%s, %q) = %q, %v; want grant %v with %q", tt.channel, tt.body, cd, err, tt.grant, tt.channelData)
			}
		})
	}
}

// results counts UpstreamAuthOptions.OnResult's results.
type results struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *results) add(result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[result]++
}

func (r *results) count(result string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[result]
}

// TestAuthUpstreamNotAGrant: a 2xx that is no grant (the null and log
// broadcasters' empty 200, an SPA's HTML, false, {}) refuses the
// subscription with AuthError 502, is counted as not_a_grant (and as a
// refusal by the app), and is cached like the app's other decisions; the
// statuses of real refusals stay the app's.
func TestAuthUpstreamNotAGrant(t *testing.T) {
	for _, tt := range []struct{ name, channel, contentType, body string }{
		{"empty 200 (null and log broadcasters)", "private-record.flow.1", "text/html; charset=UTF-8", ""},
		{"empty 200 on a presence channel", "presence-record.flow.1", "text/html; charset=UTF-8", ""},
		{"an SPA's catch-all HTML", "private-record.flow.1", "text/html; charset=UTF-8", "<!doctype html><title>App</title><div id=app></div>"},
		{"false", "private-record.flow.1", "application/json", "false"},
		{"{}", "private-record.flow.1", "application/json", "{}"},
		{"true on a presence channel", "presence-record.flow.1", "text/html; charset=UTF-8", "true"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := &fakeAuthApp{override: true, contentType: tt.contentType, body: tt.body}
			var res results
			e := newAuthEnv(t, app, func(o *UpstreamAuthOptions) { o.OnResult = res.add })
			for i := range 2 {
				c := e.connectAs(t, "Cookie", "laravel_session=alice")
				c.subscribe(tt.channel, "")
				data := c.expect("pusher:subscription_error", tt.channel)
				if data["type"] != "AuthError" || data["status"] != float64(http.StatusBadGateway) ||
					!strings.Contains(fmt.Sprint(data["error"]), "not a grant") {
					t.Fatalf("socket %d: %v", i, data)
				}
				c.roundTrip()
			}
			if got := app.calls.Load(); got != 1 {
				t.Errorf("%d app calls, want 1 (the answer cached)", got)
			}
			if res.count(AuthUpstreamNotGrant) != 1 || res.count(AuthUpstreamAllowed) != 0 {
				t.Errorf("results %v, want one %s", res.n, AuthUpstreamNotGrant)
			}
			if got := e.obs.count(realtime.RefusedByApp); got != 2 {
				t.Errorf("refused by the app: %d, want 2", got)
			}
			if got := e.hub.PresenceUsers("t1", tt.channel); len(got) != 0 {
				t.Errorf("presence members %v", got)
			}

			// A refusal keeps the app's status, and no user gets a grant.
			carol := e.connectAs(t, "Cookie", "laravel_session=carol")
			carol.subscribe("private-record.flow.2", "")
			if data := carol.expect("pusher:subscription_error", "private-record.flow.2"); data["status"] != float64(403) {
				t.Fatalf("carol: %v", data)
			}
			anon := e.connectAs(t)
			anon.subscribe("private-record.flow.1", "")
			if data := anon.expect("pusher:subscription_error", "private-record.flow.1"); data["status"] != float64(401) {
				t.Fatalf("anonymous: %v", data)
			}
			if res.count(AuthUpstreamRefused) != 2 {
				t.Errorf("results %v, want two %s", res.n, AuthUpstreamRefused)
			}
		})
	}
}

// TestAuthUpstreamGrants: what Laravel's broadcasters answer for a grant
// grants: the redis broadcaster's true and {"channel_data":...} (also on a
// private channel, for a callback that returns a non-boolean), the
// pusher broadcaster's signed answers, with the content types Laravel
// sends them with (a string return is text/html).
func TestAuthUpstreamGrants(t *testing.T) {
	for _, tt := range []struct{ name, channel, contentType, body, user string }{
		{"true as text/html (redis)", "private-record.flow.1", "text/html; charset=UTF-8", "true", ""},
		{"channel_data on a private channel (redis)", "private-record.flow.1", "text/html; charset=UTF-8", `{"channel_data":{"user_id":1,"user_info":{"id":1}}}`, ""},
		{"signed private (pusher)", "private-record.flow.1", "application/json", `{"auth":"app-key:0f0f"}`, ""},
		{"channel_data (redis presence)", "presence-record.flow.1", "text/html; charset=UTF-8", `{"channel_data":{"user_id":7,"user_info":{"name":"Ann"}}}`, "7"},
		{"signed presence (pusher)", "presence-record.flow.1", "application/json", `{"auth":"app-key:0f0f","channel_data":"{\"user_id\":\"8\"}"}`, "8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := &fakeAuthApp{override: true, contentType: tt.contentType, body: tt.body}
			var res results
			e := newAuthEnv(t, app, func(o *UpstreamAuthOptions) { o.OnResult = res.add })
			c := e.connectAs(t, "Cookie", "laravel_session=alice")
			c.subscribe(tt.channel, "")
			c.expect("pusher_internal:subscription_succeeded", tt.channel)
			if res.count(AuthUpstreamAllowed) != 1 {
				t.Errorf("results %v", res.n)
			}
			if tt.user != "" {
				if got := e.hub.PresenceUsers("t1", tt.channel); len(got) != 1 || got[0].ID != tt.user {
					t.Errorf("presence members %+v, want %s", got, tt.user)
				}
			}
		})
	}
}
