package realtime

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// signin sends pusher:signin with user_data signed for c by secret, as
// pusher-js sends the answer of the app's user authentication endpoint.
func (c *client) signin(userData, secret string) {
	c.tb.Helper()
	msg, _ := json.Marshal(map[string]any{"event": "pusher:signin", "data": map[string]string{
		"auth": pusher.UserAuth(testKey, secret, c.socketID, userData), "user_data": userData,
	}})
	c.send(string(msg))
}

// signinOK signs c in as userData and checks pusher:signin_success.
func (c *client) signinOK(userData string) {
	c.tb.Helper()
	c.signin(userData, testSecret)
	d := c.expect("pusher:signin_success", "")
	if d["user_data"] != userData {
		c.tb.Fatalf("signin_success user_data %v, want %q", d["user_data"], userData)
	}
}

// TestSigninAndUserChannel: a signed-in socket gets pusher:signin_success
// with its user_data as pusher-js reads it, may subscribe to its user's
// channel without auth, and gets the user's events there; nobody else may
// subscribe to it, and a user's events reach that user's sockets of the
// publishing tenant only.
func TestSigninAndUserChannel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const bobData = `{"id":"2","name":"Bob","user_info":{"name":"Bob"}}`
	bob1, bob2, carol, anon, bobB := e.connect(t, "a"), e.connect(t, "a"), e.connect(t, "a"), e.connect(t, "a"), e.connect(t, "b")

	// The exact frame pusher-js's UserFacade parses: data is a JSON string
	// of {"user_data": "<the string signed>"}.
	bob1.signin(bobData, testSecret)
	raw := string(bob1.nextRaw())
	want := `{"event":"pusher:signin_success","data":"{\"user_data\":\"{\\\"id\\\":\\\"2\\\",\\\"name\\\":\\\"Bob\\\",\\\"user_info\\\":{\\\"name\\\":\\\"Bob\\\"}}\"}"}`
	if raw != want {
		t.Fatalf("signin_success frame\n%s\nwant\n%s", raw, want)
	}
	bob2.signinOK(bobData)
	carol.signinOK(`{"id":"3"}`)
	bobB.signinOK(bobData) // Bob in tenant b

	const ch = "#server-to-user-2"
	for _, c := range []*client{bob1, bob2, bobB} {
		c.subscribe(ch, "")
		c.expect("pusher_internal:subscription_succeeded", ch)
	}
	// Another user, or nobody, is refused, with or without an auth.
	for _, c := range []*client{carol, anon} {
		for _, auth := range []string{"", pusher.ChannelAuth(testKey, testSecret, c.socketID, ch, "")} {
			c.subscribe(ch, auth)
			d := c.expect("pusher:subscription_error", ch)
			if d["type"] != "AuthError" || d["status"] != float64(401) {
				t.Fatalf("another user's channel: %v", d)
			}
		}
	}
	// Carol's own channel opens; a malformed user channel is an invalid name.
	carol.subscribeOK("#server-to-user-3")
	anon.subscribe("#server-to-user-", "")
	if d := anon.expect("pusher:subscription_error", "#server-to-user-"); d["type"] != "InvalidChannel" {
		t.Fatalf("empty user id: %v", d)
	}
	if got := e.obs.refusedCount(RefusedSignin); got != 4 {
		t.Fatalf("refused (signin) %d, want 4", got)
	}

	e.hub.Publish(Event{Tenant: "a", Channel: ch, Name: "invoice.paid", Data: []byte(`{"n":1}`)})
	for _, c := range []*client{bob1, bob2} {
		if d := c.expect("invoice.paid", ch); d["n"] != float64(1) {
			t.Fatalf("user event %v", d)
		}
	}
	for _, c := range []*client{carol, anon, bobB} {
		c.roundTrip() // nothing before the pong
	}
	// Unsubscribed, the socket gets no more; the user channel is a channel.
	bob2.send(`{"event":"pusher:unsubscribe","data":{"channel":"#server-to-user-2"}}`)
	bob2.roundTrip()
	e.hub.Publish(Event{Tenant: "a", Channel: ch, Name: "invoice.paid", Data: []byte(`{"n":2}`)})
	bob1.expect("invoice.paid", ch)
	bob2.roundTrip()
	// Client events on a user channel are refused.
	bob1.send(`{"event":"client-x","channel":"#server-to-user-2","data":{}}`)
	if d := bob1.expect("pusher:error", ""); d["code"] != float64(CodeClientEvents) {
		t.Fatalf("client event on a user channel: %v", d)
	}
}

// TestSigninRefusals: a sign-in that does not verify is pusher:error 4009
// and the socket stays up unsigned; a malformed one is 4200; a socket
// signed in as one user cannot become another, and signing in again as
// the same one succeeds again.
func TestSigninRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.connect(t, "a")
	for _, tc := range []struct {
		name, msg string
		code      float64
		contains  string
	}{
		{"wrong secret", signinMsg(c.socketID, `{"id":"2"}`, "not-the-secret"), 4009, "invalid signature"},
		{"another socket", signinMsg("1.2", `{"id":"2"}`, testSecret), 4009, "invalid signature"},
		{"signed data changed", strings.Replace(signinMsg(c.socketID, `{"id":"2"}`, testSecret), `\"2\"`, `\"1\"`, 1), 4009, "invalid signature"},
		{"no id", signinMsg(c.socketID, `{"name":"Bob"}`, testSecret), 4009, "user_data"},
		{"empty id", signinMsg(c.socketID, `{"id":""}`, testSecret), 4009, "user_data"},
		{"control character in id", signinMsg(c.socketID, `{"id":"a\nb"}`, testSecret), 4009, "user_data"},
		{"not an object", signinMsg(c.socketID, `["2"]`, testSecret), 4009, "user_data"},
		{"no auth", `{"event":"pusher:signin","data":{"user_data":"{}"}}`, 4200, "auth"},
		{"no user_data", `{"event":"pusher:signin","data":{"auth":"k:s"}}`, 4200, "user_data"},
		{"data not an object", `{"event":"pusher:signin","data":3}`, 4200, "object"},
	} {
		c.send(tc.msg)
		d := c.expect("pusher:error", "")
		if d["code"] != tc.code || !strings.Contains(d["message"].(string), tc.contains) {
			t.Errorf("%s: %v, want code %v containing %q", tc.name, d, tc.code, tc.contains)
		}
	}
	c.subscribe("#server-to-user-2", "")
	c.expect("pusher:subscription_error", "#server-to-user-2")

	// A number id is its literal text (as presence user_ids); the string
	// pusher-js parses is passed back as it was signed.
	c.signinOK(`{"id":2, "name":"Bob"}`)
	c.signinOK(`{"id":"2"}`)
	c.signin(`{"id":"3"}`, testSecret)
	if d := c.expect("pusher:error", ""); d["code"] != float64(CodeUnauthorized) || !strings.Contains(d["message"].(string), "another user") {
		t.Fatalf("second user: %v", d)
	}
	c.subscribeOK("#server-to-user-2")
	c.subscribe("#server-to-user-3", "")
	c.expect("pusher:subscription_error", "#server-to-user-3")
}

func signinMsg(socketID, userData, secret string) string {
	msg, _ := json.Marshal(map[string]any{"event": "pusher:signin", "data": map[string]string{
		"auth": pusher.UserAuth(testKey, secret, socketID, userData), "user_data": userData,
	}})
	return string(msg)
}

// TestTerminateUser: terminate_connections (the HTTP API) closes with 4009
// the sockets of that user in the request's tenant, and no other.
func TestTerminateUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.AppID = testAppID })
	bob1, bob2, carol, bobB, anon := e.connect(t, "a"), e.connect(t, "a"), e.connect(t, "a"), e.connect(t, "b"), e.connect(t, "a")
	bob1.signinOK(`{"id":"2"}`)
	bob2.signinOK(`{"id":"2"}`)
	carol.signinOK(`{"id":"3"}`)
	bobB.signinOK(`{"id":"2"}`)
	// anon subscribes to a presence channel as user 2 without signing in:
	// only signed-in sockets are terminated (the Pusher docs, "Terminating
	// user connections").
	anon.joinPresence("presence-room", member(2, "Bob"))

	for _, tc := range []struct {
		call apiCall
		code int
		body string
	}{
		{apiCall{method: "GET", path: "/apps/42/users/2/terminate_connections"}, 405, "POST"},
		{apiCall{method: "POST", path: "/apps/42/users//terminate_connections", body: "{}"}, 400, "invalid user id"},
		{apiCall{method: "POST", path: "/apps/42/users/2/terminate", body: "{}"}, 404, "unknown"},
		{apiCall{method: "POST", path: "/apps/42/users/2/terminate_connections", body: "{}", secret: "wrong"}, 401, "auth_signature"},
	} {
		if code, body := tc.call.do(t, e.hub, "a"); code != tc.code || !strings.Contains(body, tc.body) {
			t.Fatalf("%s %s: %d %s, want %d with %q", tc.call.method, tc.call.path, code, body, tc.code, tc.body)
		}
	}
	bob1.roundTrip() // still up

	// What pusher-http-node's terminateUserConnections sends: POST with {}.
	if code, body := (apiCall{method: "POST", path: "/apps/42/users/2/terminate_connections", body: "{}"}).do(t, e.hub, "a"); code != 200 || body != "{}" {
		t.Fatalf("terminate: %d %s", code, body)
	}
	for _, c := range []*client{bob1, bob2} {
		if code := c.waitClosed(5 * time.Second); code != CodeUnauthorized {
			t.Fatalf("close code %d, want 4009", code)
		}
	}
	for _, c := range []*client{carol, bobB, anon} {
		c.roundTrip()
	}
	eventually(t, 2*time.Second, "the terminated sockets forgotten", func() bool {
		return len(e.hub.users.sockets(chanKey{"a", "2"})) == 0
	})
	if n := e.hub.TerminateLocalUser("a", "2"); n != 0 {
		t.Fatalf("terminated %d sockets again", n)
	}
}

// termBus is a Broker that is also a UserTerminator.
type termBus struct {
	fakeBus
	mu    sync.Mutex
	terms []string
}

func (b *termBus) TerminateUser(tenant, userID string) {
	b.mu.Lock()
	b.terms = append(b.terms, tenant+"/"+userID)
	b.mu.Unlock()
}

// TestUserEventsInACluster: a user channel's publishes are shared like any
// other, and TerminateUser asks the other instances when the Broker can.
func TestUserEventsInACluster(t *testing.T) {
	h := newTestHub(t, nil)
	bus := &termBus{}
	h.SetBroker(bus)
	h.Publish(Event{Tenant: "t", Channel: "#server-to-user-7", Name: "hello"})
	h.Publish(Event{Tenant: "t", Channel: "#server-to-user-", Name: "dropped"})
	if len(bus.events) != 1 || bus.events[0].Channel != "#server-to-user-7" {
		t.Fatalf("shared %+v", bus.events)
	}
	// What another instance shares reaches this one's sockets of the user.
	sub := fakeConn(t, h, "t", "1.1")
	h.addSub(sub, chanKey{"t", "#server-to-user-7"})
	h.PublishLocal(Event{Tenant: "t", Channel: "#server-to-user-7", Name: "from-elsewhere"})
	if got := frameEvents(sub); got != "from-elsewhere" {
		t.Fatalf("delivered %q", got)
	}
	h.TerminateUser("t", "7")
	if len(bus.terms) != 1 || bus.terms[0] != "t/7" {
		t.Fatalf("terminations shared: %v", bus.terms)
	}
	// A Broker without it: terminated here only, nothing panics.
	h.SetBroker(&fakeBus{})
	h.TerminateUser("t", "7")
}

// TestSendToUserHTTPAPI: an HTTP API event on a user's channel (what
// pusher-http-node's sendToUser posts) reaches that user's sockets;
// private-encrypted- channels take one channel per event.
func TestSendToUserHTTPAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.AppID = testAppID })
	bob := e.connect(t, "a")
	bob.signinOK(`{"id":"bob@example.com"}`)
	bob.subscribeOK("#server-to-user-bob@example.com")
	body := `{"name":"note","data":"{\"x\":1}","channels":["#server-to-user-bob@example.com"]}`
	if code, out := (apiCall{method: "POST", path: "/apps/42/events", body: body}).do(t, e.hub, "a"); code != 200 {
		t.Fatalf("sendToUser: %d %s", code, out)
	}
	if d := bob.expect("note", "#server-to-user-bob@example.com"); d["x"] != float64(1) {
		t.Fatalf("%v", d)
	}
	for _, bad := range []string{
		`{"name":"note","data":"{}","channel":"#server-to-user-"}`,
		`{"name":"note","data":"{}","channel":"#other-1"}`,
		`{"name":"note","data":"{}","channels":["private-encrypted-a","private-encrypted-b"]}`,
		`{"name":"note","data":"{}","channels":["news","private-encrypted-b"]}`,
	} {
		if code, out := (apiCall{method: "POST", path: "/apps/42/events", body: bad}).do(t, e.hub, "a"); code != 400 {
			t.Errorf("%s: %d %s, want 400", bad, code, out)
		}
	}
	one := `{"name":"note","data":"{\"nonce\":\"n\",\"ciphertext\":\"c\"}","channel":"private-encrypted-a"}`
	if code, out := (apiCall{method: "POST", path: "/apps/42/events", body: one}).do(t, e.hub, "a"); code != 200 {
		t.Errorf("one encrypted channel: %d %s", code, out)
	}
}

// FuzzSigninData: pusher:signin data from a client never panics, and what
// it accepts has both fields.
func FuzzSigninData(f *testing.F) {
	for _, s := range []string{
		`{"auth":"k:s","user_data":"{\"id\":\"1\"}"}`,
		`"{\"auth\":\"k:s\",\"user_data\":\"{}\"}"`,
		`{"auth":1}`, `{}`, `null`, `"x"`, `{"auth":"a","user_data":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseSigninData(b)
		if err != nil {
			if d != (signinData{}) {
				t.Fatalf("error %v with data %+v", err, d)
			}
			return
		}
		if d.Auth == "" || d.UserData == "" {
			t.Fatalf("accepted %q as %+v", b, d)
		}
	})
}
