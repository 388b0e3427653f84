package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/realtime"
	"github.com/recordsync/recordsync/versioncache"
)

const (
	aliceToken = "alice-token-0123456789"
	opsToken   = "ops-token-0123456789abc"
)

// consoleSite is an Engine with a hub and a console at /_rs behind an
// httptest server: the websocket at /ws/app/k (tenant from ?tenant=), the
// console with the user an authentication in front would establish taken
// from the X-Test-User header (what the Caddy glue resolves from
// {http.auth.user.id}).
type consoleSite struct {
	e   *Engine
	c   *Console
	srv *httptest.Server
}

func newConsoleSite(t *testing.T, viewers ...ConsoleViewer) *consoleSite {
	t.Helper()
	e, err := Open(Options{Hub: &realtime.Options{AppKey: "k", AppSecret: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(viewers) == 0 {
		viewers = []ConsoleViewer{
			{Name: "alice", Tenants: []string{"a.example"}, Token: aliceToken},
			{Name: "ops", Tenants: []string{"*"}, Token: opsToken},
		}
	}
	c, err := e.NewConsole(ConsoleOptions{Path: "/_rs", Viewers: viewers, Payloads: true})
	if err != nil {
		t.Fatal(err)
	}
	s := &consoleSite{e: e, c: c}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.c.Serves(r.URL.Path) {
			s.c.ServeHTTP(w, r, ConsoleRequest{User: r.Header.Get("X-Test-User")})
			return
		}
		if e.Hub().IsWebSocketPath(r.URL.Path) {
			_ = e.Hub().ServeWebSocket(w, r, r.URL.Query().Get("tenant"))
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(func() {
		s.srv.CloseClientConnections()
		s.srv.Close()
		e.Close()
	})
	return s
}

func (s *consoleSite) url(p string) string { return s.srv.URL + "/_rs" + p }

// client is a browser of the site: a cookie jar, and the site's Origin on
// every request unless told otherwise.
type client struct {
	t      *testing.T
	s      *consoleSite
	hc     *http.Client
	user   string // X-Test-User
	origin string
	csrf   string
}

func (s *consoleSite) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, s: s, origin: s.srv.URL, hc: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(method, p string, body string, hdr map[string]string) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.s.url(p), strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.user != "" {
		req.Header.Set("X-Test-User", c.user)
	}
	if c.origin != "" && method == http.MethodPost {
		req.Header.Set("Origin", c.origin)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// signIn signs in with tok through the form and reads the session's CSRF
// token from the state.
func (c *client) signIn(tok string) {
	c.t.Helper()
	resp, _ := c.do(http.MethodPost, "/login", url.Values{"token": {tok}}.Encode(),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_rs/" {
		c.t.Fatalf("sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	c.csrf = c.state().CSRF
	if c.csrf == "" {
		c.t.Fatal("no CSRF token after signing in")
	}
}

func (c *client) state() consoleState {
	c.t.Helper()
	resp, body := c.do(http.MethodGet, "/api/state", "", nil)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("state: %d %s", resp.StatusCode, body)
	}
	var st consoleState
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

func (c *client) publish(tenant, channel, event, data string, hdr map[string]string) (int, string) {
	c.t.Helper()
	b, _ := json.Marshal(publishForm{Tenant: tenant, Channel: channel, Event: event, Data: data})
	h := map[string]string{"Content-Type": "application/json", "X-CSRF-Token": c.csrf}
	for k, v := range hdr {
		h[k] = v
	}
	resp, body := c.do(http.MethodPost, "/api/publish", string(b), h)
	return resp.StatusCode, body
}

// socket is a pusher-protocol socket of a tenant, subscribed to channel
// (none for "").
type socket struct {
	id   string
	ws   *websocket.Conn
	msgs chan map[string]any
}

func (s *consoleSite) socket(t *testing.T, tenant, channel string) *socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/ws/app/k?protocol=7&tenant=" + url.QueryEscape(tenant)
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	sk := &socket{ws: ws, msgs: make(chan map[string]any, 64)}
	go func() {
		defer close(sk.msgs)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				sk.msgs <- m
			}
		}
	}()
	t.Cleanup(func() { ws.Close(websocket.StatusNormalClosure, "") })
	est := sk.next(t, "pusher:connection_established")
	var d struct {
		SocketID string `json:"socket_id"`
	}
	_ = json.Unmarshal([]byte(est["data"].(string)), &d)
	sk.id = d.SocketID
	if channel == "" {
		return sk
	}
	sub, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": channel}})
	if err := ws.Write(ctx, websocket.MessageText, sub); err != nil {
		t.Fatal(err)
	}
	sk.next(t, "pusher_internal:subscription_succeeded")
	return sk
}

// next returns the socket's next message named event, skipping others.
func (sk *socket) next(t *testing.T, event string) map[string]any {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-sk.msgs:
			if !ok {
				t.Fatalf("socket closed waiting for %s", event)
			}
			if m["event"] == event {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s", event)
		}
	}
}

// sse is an open live stream.
type sse struct {
	events chan streamEvent
	cancel func()
}

func (c *client) stream() (*sse, *http.Response) {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.s.url("/api/stream"), nil)
	if c.user != "" {
		req.Header.Set("X-Test-User", c.user)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		cancel()
		c.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp
	}
	s := &sse{events: make(chan streamEvent, 10000), cancel: cancel}
	opened := make(chan struct{})
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		first := true
		for sc.Scan() {
			line := sc.Text()
			if first && line == ": open" {
				close(opened)
				first = false
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var ev streamEvent
				if json.Unmarshal([]byte(data), &ev) == nil {
					s.events <- ev
				}
			}
		}
	}()
	select {
	case <-opened:
	case <-time.After(5 * time.Second):
		c.t.Fatal("the stream did not open")
	}
	c.t.Cleanup(cancel)
	return s, resp
}

// until reads the stream until an event satisfies stop, returning every
// event read (stop's included).
func (s *sse) until(t *testing.T, stop func(streamEvent) bool) []streamEvent {
	t.Helper()
	var seen []streamEvent
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatalf("stream ended; read %+v", seen)
			}
			seen = append(seen, ev)
			if stop(ev) {
				return seen
			}
		case <-deadline:
			t.Fatalf("stream: the awaited event never came; read %+v", seen)
		}
	}
}

// Without credentials nothing is shown: the page answers 401 (the sign-in
// form) or 403 (no viewer may sign in with a token), the state, the
// stream and the actions are refused; a user an authentication in front
// established who is not a viewer is refused too.
func TestConsoleRefusesWithoutCredentials(t *testing.T) {
	s := newConsoleSite(t)
	c := s.client(t)
	resp, body := c.do(http.MethodGet, "/", "", nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `action="/_rs/login"`) {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	if len(resp.Cookies()) != 0 {
		t.Fatalf("a session for nobody: %v", resp.Cookies())
	}
	if resp, body := c.do(http.MethodGet, "/api/state", "", nil); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "tenants") {
		t.Fatalf("state: %d %s", resp.StatusCode, body)
	}
	if _, resp := c.stream(); resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("stream opened without credentials")
	}
	if code, _ := c.publish("a.example", "news", "hello", "{}", nil); code != http.StatusUnauthorized {
		t.Fatalf("publish: %d", code)
	}
	if resp, _ := c.do(http.MethodGet, "/api/state", "", map[string]string{"Authorization": "Bearer not-a-token-of-anyone"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong Bearer token: %d", resp.StatusCode)
	}
	c.user = "mallory"
	if resp, _ := c.do(http.MethodGet, "/api/state", "", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a user who is no viewer: %d", resp.StatusCode)
	}
	// A wrong token in the form: back to the form, no session.
	c.user = ""
	resp, _ = c.do(http.MethodPost, "/login", "token=wrong-token-0123456789", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "signin=failed") || len(resp.Cookies()) != 0 {
		t.Fatalf("wrong token: %d %q %v", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
	}

	// Viewers without tokens (only an authentication in front): 403.
	only := newConsoleSite(t, ConsoleViewer{Name: "alice", Tenants: []string{"*"}})
	if resp, _ := only.client(t).do(http.MethodGet, "/", "", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("page without tokens: %d", resp.StatusCode)
	}
	// The console's assets are no secret; anything else under its path is
	// not found.
	if resp, _ := c.do(http.MethodGet, "/console.js", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("console.js: %d", resp.StatusCode)
	}
	if resp, _ := c.do(http.MethodGet, "/etc", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
}

// A failed sign-in is counted per address: past maxSignInFailures a minute
// even the right token is refused.
func TestConsoleSignInFailuresAreBounded(t *testing.T) {
	s := newConsoleSite(t)
	c := s.client(t)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for i := 0; i < maxSignInFailures; i++ {
		c.do(http.MethodPost, "/login", "token=wrong-token-0123456789", form)
	}
	if resp, _ := c.do(http.MethodPost, "/login", "token="+aliceToken, form); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %d", maxSignInFailures, resp.StatusCode)
	}
}

// A viewer sees their tenants' sockets, channels and events, and never
// another tenant's; a viewer of * sees both.
func TestConsoleViewerSeesOnlyTheirTenants(t *testing.T) {
	s := newConsoleSite(t)
	a := s.socket(t, "a.example", "news")
	b := s.socket(t, "b.example", "news")
	s.socket(t, "b.example", "") // no channel
	alice := s.client(t)
	alice.signIn(aliceToken)
	st := alice.state()
	if len(st.Tenants) != 1 || st.Tenants[0].Tenant != "a.example" || st.Tenants[0].Connections != 1 ||
		st.Tenants[0].Sockets[0].ID != a.id || len(st.Tenants[0].Channels) != 1 || st.Tenants[0].Channels[0].SubscriberIDs[0] != a.id {
		t.Fatalf("alice's state: %+v", st.Tenants)
	}
	ops := s.client(t)
	ops.user = "ops" // as an authentication in front established
	if st := ops.state(); len(st.Tenants) != 2 || st.Tenants[1].Tenant != "b.example" || st.Tenants[1].Connections != 2 || st.CSRF == "" {
		t.Fatalf("ops's state: %+v", st)
	}

	as, _ := alice.stream()
	os, _ := ops.stream()
	hub := s.e.Hub()
	hub.Publish(realtime.Event{Tenant: "b.example", Channel: "news", Name: "b-secret", Data: []byte(`{"b":1}`), Source: realtime.SourceAPI})
	s.e.monitor.EdgeConflict(versioncache.Key{Tenant: "b.example", Type: "flow", ID: "1"}, "v1", versioncache.Entry{Version: "v2"})
	s.e.monitor.EdgePoll(versioncache.Key{Tenant: "b.example", Type: "flow", ID: "1"}, true)
	s.socket(t, "b.example", "news-2")
	s.e.monitor.EdgeConflict(versioncache.Key{Tenant: "a.example", Type: "flow", ID: "7"}, "v1", versioncache.Entry{Version: "v2", UpdatedByName: "Bob"})
	hub.Publish(realtime.Event{Tenant: "a.example", Channel: "news", Name: "a-last", Data: []byte(`{"a":1}`), Source: realtime.SourceAPI})

	seen := as.until(t, func(ev streamEvent) bool { return ev.Event == "a-last" })
	kinds := map[string]bool{}
	for _, ev := range seen {
		if ev.Tenant != "a.example" {
			t.Fatalf("alice saw %+v", ev)
		}
		kinds[ev.Kind] = true
	}
	last := seen[len(seen)-1]
	if !kinds[kindConflict] || last.Source != "api" || last.Channel != "news" || last.Size != 7 || last.Data == nil || *last.Data != `{"a":1}` {
		t.Fatalf("alice's stream: %+v", seen)
	}
	seen = os.until(t, func(ev streamEvent) bool { return ev.Event == "a-last" })
	got := map[string]bool{}
	for _, ev := range seen {
		got[ev.Tenant+" "+ev.Kind+" "+ev.Event] = true
	}
	for _, want := range []string{"b.example published b-secret", "b.example conflict ", "b.example poll ", "b.example connected ", "b.example occupied ", "a.example published a-last"} {
		if !got[want] {
			t.Errorf("ops did not see %q: %v", want, got)
		}
	}
	_ = b
}

// Every action needs the console's own Origin and the session's CSRF
// token: without either (or with a foreign one) it is refused and nothing
// is published; with both the test event reaches the channel's
// subscribers. A Bearer token reads but cannot act (no session), a
// tenant not the viewer's is refused, and so is an event the hub would
// read as a record's version.
func TestConsoleActionsNeedOriginAndToken(t *testing.T) {
	s := newConsoleSite(t)
	sub := s.socket(t, "a.example", "news")
	alice := s.client(t)
	alice.signIn(aliceToken)

	refused := []struct {
		name string
		hdr  map[string]string
	}{
		{"no CSRF token", map[string]string{"X-CSRF-Token": ""}},
		{"a wrong CSRF token", map[string]string{"X-CSRF-Token": "x" + alice.csrf[1:]}},
		{"a foreign Origin", map[string]string{"Origin": "https://evil.example"}},
		{"the same host on another port", map[string]string{"Origin": "http://127.0.0.1:1"}},
		{"no Origin", map[string]string{"Origin": ""}},
		{"Sec-Fetch-Site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}},
	}
	for _, r := range refused {
		if code, body := alice.publish("a.example", "news", "refused-"+r.name, "{}", r.hdr); code != http.StatusForbidden {
			t.Errorf("%s: %d %s", r.name, code, body)
		}
	}
	// The CSRF token of another session does not do.
	ops := s.client(t)
	ops.signIn(opsToken)
	if code, _ := alice.publish("a.example", "news", "refused-other-csrf", "{}", map[string]string{"X-CSRF-Token": ops.csrf}); code != http.StatusForbidden {
		t.Errorf("another session's CSRF token: %d", code)
	}
	// A Bearer token reads, but has no session to act with.
	bearer := s.client(t)
	if resp, _ := bearer.do(http.MethodGet, "/api/state", "", map[string]string{"Authorization": "Bearer " + aliceToken}); resp.StatusCode != http.StatusOK {
		t.Fatalf("Bearer read: %d", resp.StatusCode)
	}
	if code, _ := bearer.publish("a.example", "news", "refused-bearer", "{}", map[string]string{"Authorization": "Bearer " + aliceToken}); code != http.StatusForbidden {
		t.Errorf("Bearer action: %d", code)
	}
	// Sign-in itself is refused from another origin (login CSRF).
	if resp, _ := s.client(t).do(http.MethodPost, "/login", "token="+aliceToken, map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"}); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("cross-site sign-in: %d %v", resp.StatusCode, resp.Cookies())
	}
	if code, _ := alice.publish("b.example", "news", "refused-tenant", "{}", nil); code != http.StatusForbidden {
		t.Errorf("another tenant: %d", code)
	}
	if code, body := alice.publish("a.example", "private-record.flow.1", realtime.RecordEvent, `{"record_type":"flow","record_id":1,"updated_at_iso":"2030-01-01T00:00:00Z"}`, nil); code != http.StatusBadRequest {
		t.Errorf("a record event: %d %s", code, body)
	}
	if code, _ := alice.publish("a.example", "news", "bad-data", "{not json", nil); code != http.StatusBadRequest {
		t.Errorf("data that is not JSON: %d", code)
	}
	if code, body := alice.publish("a.example", "news", "hello", `{"n":1}`, nil); code != http.StatusOK {
		t.Fatalf("publish: %d %s", code, body)
	}
	m := sub.next(t, "hello")
	if m["channel"] != "news" || m["data"] != `{"n":1}` {
		t.Fatalf("the subscriber got %v", m)
	}
	// Nothing refused reached it first.
	select {
	case m := <-sub.msgs:
		t.Fatalf("after hello: %v", m)
	default:
	}

	// Signing out ends the session: its cookie and CSRF token open nothing.
	csrf := alice.csrf
	if resp, _ := alice.do(http.MethodPost, "/logout", "csrf_token="+url.QueryEscape(csrf), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	if resp, _ := alice.do(http.MethodGet, "/api/state", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after sign-out: %d", resp.StatusCode)
	}
}

// A session opened as the user an authentication in front established
// lasts only while that user is the request's; one signed in with a token
// ends when the configuration gives the viewer another token.
func TestConsoleSessionsFollowTheirCredentials(t *testing.T) {
	s := newConsoleSite(t)
	ops := s.client(t)
	ops.user = "ops"
	resp, _ := ops.do(http.MethodGet, "/", "", nil)
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 {
		t.Fatalf("page as ops: %d %v", resp.StatusCode, resp.Cookies())
	}
	ops.csrf = ops.state().CSRF
	ops.user = ""
	if code, _ := ops.publish("a.example", "news", "x", "{}", nil); code != http.StatusUnauthorized {
		t.Fatalf("the session without its user: %d", code)
	}

	alice := s.client(t)
	alice.signIn(aliceToken)
	next, err := s.e.NewConsole(ConsoleOptions{Path: "/_rs", Viewers: []ConsoleViewer{
		{Name: "alice", Tenants: []string{"a.example"}, Token: "a-new-token-for-alice"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.c = next // a reload
	if resp, _ := alice.do(http.MethodGet, "/api/state", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old token's session after the token changed: %d", resp.StatusCode)
	}
}

// The stream is bounded: a viewer that does not read loses events
// (counted), and the publishers never wait for it; what a stream lets
// through per interval is bounded too, and what it dropped is told to the
// viewer with the next event.
func TestConsoleStreamIsBounded(t *testing.T) {
	m := newMonitor()
	st := newStream(func(string) bool { return true })
	m.open(st)
	const n = 10 * streamQueue
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n/4; i++ {
					m.Note(realtime.ActivityEvent{Kind: realtime.ActPublished, Tenant: "t", Channel: "c", Event: "e"})
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publishers waited for a viewer that does not read")
	}
	if got := len(st.ch); got > streamBurst || got > streamQueue {
		t.Fatalf("%d events queued for one stream", got)
	}
	if queued, dropped := int64(len(st.ch)), st.dropped.Load(); queued+dropped != n || dropped == 0 {
		t.Fatalf("queued %d + dropped %d != %d", queued, dropped, n)
	}
	m.close(st)
	if m.openStreams() != 0 {
		t.Fatal("the stream stayed open")
	}

	// Over HTTP: a burst of 1000 events reaches the viewer in part, the
	// rest is counted in the dropped of the events that follow.
	s := newConsoleSite(t)
	ops := s.client(t)
	ops.signIn(opsToken)
	es, _ := ops.stream()
	for i := 0; i < 1000; i++ {
		s.e.Hub().Publish(realtime.Event{Tenant: "t", Channel: "burst", Name: "e" + fmt.Sprint(i), Source: realtime.SourceAPI})
	}
	time.Sleep(2 * streamRefill) // the budget refills
	s.e.Hub().Publish(realtime.Event{Tenant: "t", Channel: "burst", Name: "last", Source: realtime.SourceAPI})
	seen := es.until(t, func(ev streamEvent) bool { return ev.Event == "last" })
	var dropped int64
	for _, ev := range seen {
		dropped += ev.Dropped
	}
	if len(seen)-1 >= 1000 || int64(len(seen)-1)+dropped != 1000 {
		t.Fatalf("shown %d + dropped %d of 1000", len(seen)-1, dropped)
	}

	// A viewer's open streams are bounded.
	for i := 1; i < maxStreamsPerViewer; i++ {
		ops.stream()
	}
	if _, resp := ops.stream(); resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("stream %d of one viewer opened", maxStreamsPerViewer+1)
	}
}

func TestMatchTenant(t *testing.T) {
	for _, c := range []struct {
		pattern, tenant string
		want            bool
	}{
		{"*", "", true},
		{"*", "a.example.com", true},
		{"a.example.com", "a.example.com", true},
		{"a.example.com", "A.Example.COM", true},
		{"a.example.com", "b.example.com", false},
		{"a.example.com", "", false},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "a.example.com.evil", false},
		{"tenant-*", "tenant-42", true},
		{"tenant-*", "tenant-", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
	} {
		if got := matchTenant(c.pattern, c.tenant); got != c.want {
			t.Errorf("matchTenant(%q, %q) = %v", c.pattern, c.tenant, got)
		}
	}
}

// The console's configuration is checked: a path, viewers with patterns,
// tokens long enough and not shared.
func TestNewConsoleErrors(t *testing.T) {
	e, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	v := func(name, tok string, tenants ...string) ConsoleViewer {
		return ConsoleViewer{Name: name, Tenants: tenants, Token: tok}
	}
	for _, c := range []struct {
		o    ConsoleOptions
		want string
	}{
		{ConsoleOptions{Path: "_rs", Viewers: []ConsoleViewer{v("a", "", "*")}}, "must start with /"},
		{ConsoleOptions{Path: "/_rs/", Viewers: []ConsoleViewer{v("a", "", "*")}}, "not end with /"},
		{ConsoleOptions{Path: "/_rs\"><script>", Viewers: []ConsoleViewer{v("a", "", "*")}}, "only letters"},
		{ConsoleOptions{Path: "/_rs"}, "at least one viewer"},
		{ConsoleOptions{Path: "/_rs", Viewers: []ConsoleViewer{v("a", "")}}, `"a" needs at least one tenant pattern`},
		{ConsoleOptions{Path: "/_rs", Viewers: []ConsoleViewer{v("a", "short", "*")}}, `"a": the token must be at least 16`},
		{ConsoleOptions{Path: "/_rs", Viewers: []ConsoleViewer{v("a", "", "*"), v("a", "", "x")}}, `"a" is declared twice`},
		{ConsoleOptions{Path: "/_rs", Viewers: []ConsoleViewer{v("a", aliceToken, "*"), v("b", aliceToken, "x")}}, "the same token"},
	} {
		_, err := e.NewConsole(c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}
