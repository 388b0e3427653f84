package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// hookRequest is one webhook POST as received.
type hookRequest struct {
	path, host, tenantHeader string
	body                     []byte
	valid                    bool
	tenant                   string
	events                   []map[string]any
}

// hookSink is a webhook endpoint that records what it gets; fail, when
// set, answers a request with its status instead (0: 200).
type hookSink struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []hookRequest
	fail func(n int) int
	n    atomic.Int64
}

func newHookSink(tb testing.TB) *hookSink {
	s := &hookSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.n.Add(1))
		body, _ := io.ReadAll(r.Body)
		if s.fail != nil {
			if code := s.fail(n); code != 0 {
				w.WriteHeader(code)
				return
			}
		}
		hr := hookRequest{path: r.URL.RequestURI(), host: r.Host, tenantHeader: r.Header.Get(WebhookTenantHeader), body: body}
		hr.valid = r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/json" &&
			pusher.VerifyWebhook(testKey, testSecret, r.Header.Get("X-Pusher-Key"), r.Header.Get("X-Pusher-Signature"), body)
		var doc struct {
			TimeMS int64            `json:"time_ms"`
			Tenant string           `json:"tenant"`
			Events []map[string]any `json:"events"`
		}
		if json.Unmarshal(body, &doc) != nil || doc.TimeMS == 0 {
			hr.valid = false
		}
		hr.tenant, hr.events = doc.Tenant, doc.Events
		s.mu.Lock()
		s.reqs = append(s.reqs, hr)
		s.mu.Unlock()
	}))
	tb.Cleanup(s.srv.Close)
	return s
}

func (s *hookSink) requests() []hookRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// lines renders the events received so far as "tenant name channel [user]
// [event data socket]", in order.
func (s *hookSink) lines() []string {
	var out []string
	for _, r := range s.requests() {
		for _, e := range r.events {
			l := fmt.Sprintf("%s %s %s", r.tenant, e["name"], e["channel"])
			if u, ok := e["user_id"]; ok {
				l += fmt.Sprintf(" user=%v", u)
			}
			if ev, ok := e["event"]; ok {
				l += fmt.Sprintf(" %v %v", ev, e["data"])
			}
			out = append(out, l)
		}
	}
	return out
}

func (s *hookSink) wait(tb testing.TB, want ...string) {
	tb.Helper()
	s.waitLines(tb, false, want)
}

// waitSorted is wait for events of several tenants, whose order is theirs
// only.
func (s *hookSink) waitSorted(tb testing.TB, want ...string) {
	tb.Helper()
	s.waitLines(tb, true, want)
}

func (s *hookSink) waitLines(tb testing.TB, sorted bool, want []string) {
	tb.Helper()
	if sorted {
		want = slices.Sorted(slices.Values(want))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.lines()
		if sorted {
			slices.Sort(got)
		}
		if slices.Equal(got, want) {
			for _, r := range s.requests() {
				if !r.valid {
					tb.Fatalf("invalid webhook %s", r.body)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("webhooks:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countingHookObserver counts webhook metrics.
type countingHookObserver struct {
	mu     sync.Mutex
	events map[string]int
	reqs   map[string]int
	occErr int
}

func (o *countingHookObserver) Events(result string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.events == nil {
		o.events = map[string]int{}
	}
	o.events[result] += n
}

func (o *countingHookObserver) Request(result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.reqs == nil {
		o.reqs = map[string]int{}
	}
	o.reqs[result]++
}

func (o *countingHookObserver) OccupancyError() {
	o.mu.Lock()
	o.occErr++
	o.mu.Unlock()
}

func (o *countingHookObserver) get(result string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.events[result]
}

func (o *countingHookObserver) req(result string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reqs[result]
}

var allHookEvents = []string{"channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event"}

// hookEnv is a hub with webhooks.
type hookEnv struct {
	*testEnv
	hooks *Webhooks
	obs   *countingHookObserver
}

func newHookEnv(tb testing.TB, mod func(*WebhookOptions)) *hookEnv {
	tb.Helper()
	obs := &countingHookObserver{}
	opts := WebhookOptions{AppKey: testKey, AppSecret: testSecret, Batch: 20 * time.Millisecond, Observer: obs}
	mod(&opts)
	var hooks *Webhooks
	e := newEnv(tb, func(o *Options) {})
	hooks, err := NewWebhooks(e.hub, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(hooks.Close)
	o := Options{AppKey: testKey, AppSecret: testSecret, Observer: e.obs, Activity: hooks}
	if err := e.hub.Update(o); err != nil {
		tb.Fatal(err)
	}
	hooks.Seed()
	return &hookEnv{testEnv: e, hooks: hooks, obs: obs}
}

// TestWebhooksLocal: without a cluster, a channel's first subscriber and
// last one, a presence user's first socket and last one, and client events
// become webhooks in Pusher's format, signed, batched, with the tenant in
// the body and the header; a second tab of a member and a second
// subscriber of a channel send nothing.
func TestWebhooksLocal(t *testing.T) {
	t.Parallel()
	sink := newHookSink(t)
	e := newHookEnv(t, func(o *WebhookOptions) {
		o.Targets = []WebhookTarget{{URL: sink.srv.URL + "/hooks", Events: allHookEvents}}
	})
	const ch = "presence-room"
	alice := e.connect(t, "t1")
	alice.joinPresence(ch, member(1, "Alice"))
	sink.wait(t, "t1 channel_occupied presence-room", "t1 member_added presence-room user=1")

	alice2 := e.connect(t, "t1")
	alice2.joinPresence(ch, member(1, "Alice"))
	bob := e.connect(t, "t1")
	bob.joinPresence(ch, member(2, "Bob"))
	bob.send(`{"event":"client-typing","channel":"presence-room","data":{"n":1}}`)
	bob.send(`{"event":"client-typing","channel":"presence-room","data":{"n":2}}`)
	sink.wait(t, "t1 channel_occupied presence-room", "t1 member_added presence-room user=1",
		"t1 member_added presence-room user=2",
		`t1 client_event presence-room user=2 client-typing {"n":1}`,
		`t1 client_event presence-room user=2 client-typing {"n":2}`)

	bob.ws.CloseNow()
	sink.wait(t, "t1 channel_occupied presence-room", "t1 member_added presence-room user=1",
		"t1 member_added presence-room user=2",
		`t1 client_event presence-room user=2 client-typing {"n":1}`,
		`t1 client_event presence-room user=2 client-typing {"n":2}`,
		"t1 member_removed presence-room user=2")
	alice.ws.CloseNow()
	alice2.send(`{"event":"pusher:unsubscribe","data":{"channel":"presence-room"}}`)
	sink.wait(t, "t1 channel_occupied presence-room", "t1 member_added presence-room user=1",
		"t1 member_added presence-room user=2",
		`t1 client_event presence-room user=2 client-typing {"n":1}`,
		`t1 client_event presence-room user=2 client-typing {"n":2}`,
		"t1 member_removed presence-room user=2",
		"t1 member_removed presence-room user=1",
		"t1 channel_vacated presence-room")

	reqs := sink.requests()
	if len(reqs) >= 8 {
		t.Errorf("%d requests for 8 events: not batched", len(reqs))
	}
	for _, r := range reqs {
		if r.path != "/hooks" || r.tenantHeader != "t1" {
			t.Errorf("request to %s with tenant header %q", r.path, r.tenantHeader)
		}
	}
	var client map[string]any
	for _, r := range reqs {
		for _, ev := range r.events {
			if ev["name"] == "client_event" {
				client = ev
			}
		}
	}
	if client["socket_id"] != bob.socketID || client["user_id"] != "2" {
		t.Errorf("client_event %v: want bob's socket %s and user 2", client, bob.socketID)
	}
	eventually(t, 5*time.Second, "8 events counted as sent", func() bool { return e.obs.get(WebhookSent) == 8 })
}

// TestWebhooksOptIn: a target gets only the events it names; a tenant's
// events go only to its own URL ({tenant}) and Host.
func TestWebhooksOptIn(t *testing.T) {
	t.Parallel()
	occ := newHookSink(t)
	ce := newHookSink(t)
	e := newHookEnv(t, func(o *WebhookOptions) {
		o.Targets = []WebhookTarget{
			{URL: occ.srv.URL + "/t/{tenant}/hook?tenant={tenant}", Host: "{tenant}", Events: []string{"channel_vacated"}},
			{URL: ce.srv.URL + "/ce", Events: []string{"client_event"}},
		}
	})
	a := e.connect(t, "a.example")
	a.subscribeOK("private-x")
	b := e.connect(t, "b.example")
	b.subscribeOK("private-x")
	b2 := e.connect(t, "b.example")
	b2.subscribeOK("private-x")
	b.send(`{"event":"client-hi","channel":"private-x","data":{}}`)
	b2.expect("client-hi", "private-x")
	a.ws.CloseNow()
	b.ws.CloseNow()
	b2.ws.CloseNow()
	occ.waitSorted(t, "a.example channel_vacated private-x", "b.example channel_vacated private-x")
	ce.wait(t, "b.example client_event private-x client-hi {}")
	for _, r := range occ.requests() {
		want := "/t/" + r.tenant + "/hook?tenant=" + r.tenant
		if r.path != want || r.host != r.tenant || r.tenantHeader != r.tenant || len(r.events) != 1 {
			t.Errorf("tenant %s's webhook went to %s with Host %s (header %q), %d events", r.tenant, r.path, r.host, r.tenantHeader, len(r.events))
		}
	}
}

// TestWebhooksRetry: a POST that fails is sent again, the same body, until
// a 2xx; counted.
func TestWebhooksRetry(t *testing.T) {
	t.Parallel()
	sink := newHookSink(t)
	sink.fail = func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	e := newHookEnv(t, func(o *WebhookOptions) {
		o.Targets = []WebhookTarget{{URL: sink.srv.URL, Events: []string{"channel_occupied"}}}
	})
	c := e.connect(t, "")
	c.subscribeOK("x")
	sink.wait(t, " channel_occupied x")
	if n := sink.n.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	eventually(t, 5*time.Second, "the attempts counted", func() bool {
		return e.obs.req("status") == 2 && e.obs.req("2xx") == 1 && e.obs.get(WebhookSent) == 1
	})
	if r := sink.requests()[0]; r.tenantHeader != "" || strings.Contains(string(r.body), "tenant") {
		t.Errorf("an untenanted webhook names a tenant: %s, header %q", r.body, r.tenantHeader)
	}
}

// TestWebhooksGiveUp: a POST still failing after RetryFor is given up
// (counted as failed); the next one goes out.
func TestWebhooksGiveUp(t *testing.T) {
	t.Parallel()
	sink := newHookSink(t)
	var down atomic.Bool
	down.Store(true)
	sink.fail = func(int) int {
		if down.Load() {
			return http.StatusInternalServerError
		}
		return 0
	}
	e := newHookEnv(t, func(o *WebhookOptions) {
		o.Targets = []WebhookTarget{{URL: sink.srv.URL, Events: []string{"channel_occupied"}, RetryFor: 1500 * time.Millisecond}}
	})
	c := e.connect(t, "")
	c.subscribeOK("x")
	eventually(t, 10*time.Second, "given up", func() bool { return e.obs.get(WebhookFailed) == 1 })
	down.Store(false)
	c.subscribeOK("y")
	sink.wait(t, " channel_occupied y")
}

// TestWebhooksBounded: an endpoint that never answers costs a bounded
// queue: the oldest events are dropped and counted, the hub's sockets are
// served as before, and Close gives up what is left.
func TestWebhooksBounded(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	e := newHookEnv(t, func(o *WebhookOptions) {
		o.Targets = []WebhookTarget{{URL: srv.URL, Events: []string{"client_event"}, Queue: 10, MaxEvents: 5}}
	})
	a := e.connect(t, "")
	a.subscribeOK("private-x")
	b := e.connect(t, "")
	b.subscribeOK("private-x")
	a.send(`{"event":"client-x","channel":"private-x","data":{}}`)
	b.expect("client-x", "private-x")
	eventually(t, 5*time.Second, "first POST", func() bool { return got.Load() > 0 })
	for i := 0; i < 40; i++ {
		if i%10 == 9 {
			time.Sleep(1100 * time.Millisecond) // the client event rate: 10 per second
		}
		a.send(`{"event":"client-x","channel":"private-x","data":{}}`)
		b.expect("client-x", "private-x") // the whispers still flow
	}
	eventually(t, 5*time.Second, "drops", func() bool { return e.obs.get(WebhookDropped) >= 40-10-5 })
	h := e.hooks
	h.mu.Lock()
	var queued int
	for _, t := range h.targets {
		t.mu.Lock()
		queued = t.queued
		t.mu.Unlock()
	}
	h.mu.Unlock()
	if queued > 10 {
		t.Fatalf("%d events queued past the bound of 10", queued)
	}
}

// fakeOccupancy is an in-memory Occupancy shared by several Webhooks, as
// Redis is by instances.
type fakeOccupancy struct {
	shared   *fakeCluster
	instance string
	fail     atomic.Bool
}

type fakeCluster struct {
	mu      sync.Mutex
	holders map[StateChange]map[string]bool // by state (Held false)
	known   map[string]bool
}

func (f *fakeOccupancy) Every() time.Duration { return 50 * time.Millisecond }

func (f *fakeOccupancy) Apply(_ context.Context, changes []StateChange) ([]int, bool, error) {
	if f.fail.Load() {
		return nil, false, errors.New("down")
	}
	c := f.shared
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := !c.known[f.instance]
	c.known[f.instance] = true
	var changed []int
	for i, ch := range changes {
		k := ch
		k.Held = false
		hs := c.holders[k]
		if hs == nil {
			hs = map[string]bool{}
			c.holders[k] = hs
		}
		if ch.Held && !hs[f.instance] {
			hs[f.instance] = true
			if len(hs) == 1 {
				changed = append(changed, i)
			}
		} else if !ch.Held && hs[f.instance] {
			delete(hs, f.instance)
			if len(hs) == 0 {
				changed = append(changed, i)
			}
		}
	}
	return changed, fresh, nil
}

func (f *fakeOccupancy) Sweep(context.Context) ([]StateChange, bool, error) {
	if f.fail.Load() {
		return nil, false, errors.New("down")
	}
	c := f.shared
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := !c.known[f.instance]
	c.known[f.instance] = true
	return nil, fresh, nil
}

// holding is how many instances hold a channel.
func (c *fakeCluster) holding(tenant, channel string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.holders[StateChange{Tenant: tenant, Channel: channel}])
}

// forget drops an instance as the others would after it went silent,
// returning the states nobody holds any more.
func (c *fakeCluster) forget(instance string) []StateChange {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.known, instance)
	var gone []StateChange
	for k, hs := range c.holders {
		if hs[instance] {
			delete(hs, instance)
			if len(hs) == 0 {
				gone = append(gone, k)
			}
		}
	}
	return gone
}

func (f *fakeOccupancy) Leave(context.Context) ([]StateChange, error) {
	return f.shared.forget(f.instance), nil
}

// TestWebhooksCluster: with an Occupancy, only the instance that makes a
// channel held by someone, or by no one, reports it; an instance the
// others forgot applies its state again (and reports what that changes);
// changes made while the Occupancy fails wait, reduced to their last
// state.
func TestWebhooksCluster(t *testing.T) {
	t.Parallel()
	sink := newHookSink(t)
	shared := &fakeCluster{holders: map[StateChange]map[string]bool{}, known: map[string]bool{}}
	mk := func(name string) (*hookEnv, *fakeOccupancy) {
		e := newHookEnv(t, func(o *WebhookOptions) {
			o.Targets = []WebhookTarget{{URL: sink.srv.URL, Events: allHookEvents}}
		})
		occ := &fakeOccupancy{shared: shared, instance: name}
		e.hooks.SetOccupancy(occ)
		return e, occ
	}
	one, occ1 := mk("one")
	two, _ := mk("two")

	a := one.connect(t, "t")
	a.subscribeOK("x")
	sink.wait(t, "t channel_occupied x")
	b := two.connect(t, "t")
	b.subscribeOK("x")
	eventually(t, 5*time.Second, "two holds x", func() bool { return shared.holding("t", "x") == 2 })
	a.ws.CloseNow()
	eventually(t, 5*time.Second, "one let x go", func() bool { return one.hub.Channels() == 0 })
	time.Sleep(100 * time.Millisecond) // a wrong vacated would be sent by now
	b.ws.CloseNow()
	sink.wait(t, "t channel_occupied x", "t channel_vacated x")

	// The occupancy fails: x comes and goes (nothing), y comes (once up).
	occ1.fail.Store(true)
	c := one.connect(t, "t")
	c.subscribeOK("x")
	c.send(`{"event":"pusher:unsubscribe","data":{"channel":"x"}}`)
	c.subscribeOK("y")
	// Three more failures: at least one exchange that took all three
	// changes (a sweep's failure and its process's come in pairs).
	errs := func() int {
		one.obs.mu.Lock()
		defer one.obs.mu.Unlock()
		return one.obs.occErr
	}
	base := errs()
	eventually(t, 5*time.Second, "occupancy errors", func() bool { return errs() >= base+3 })
	occ1.fail.Store(false)
	sink.wait(t, "t channel_occupied x", "t channel_vacated x", "t channel_occupied y")

	// The others forget one (it went silent): y is vacated for them, and
	// one, finding itself forgotten, holds y again.
	one.hooks.dispatch(one.hooks.eventsOf(shared.forget("one")), nil)
	sink.wait(t, "t channel_occupied x", "t channel_vacated x", "t channel_occupied y",
		"t channel_vacated y", "t channel_occupied y")
}

// TestWebhookURLTemplate: {tenant} in a host takes host names only; in a
// path or query it is percent-encoded.
func TestWebhookURLTemplate(t *testing.T) {
	tmpl, err := parseURLTemplate("https://{tenant}:8443/hooks/{tenant}?t={tenant}")
	if err != nil {
		t.Fatal(err)
	}
	for tenant, want := range map[string]string{
		"shop.example.com": "https://shop.example.com:8443/hooks/shop.example.com?t=shop.example.com",
		"evil.com/x":       "",
		"x@evil.com":       "",
		"a:1":              "",
		"":                 "",
	} {
		got, ok := tmpl.expand(tenant)
		if ok != (want != "") || got != want {
			t.Errorf("tenant %q: %q %v, want %q", tenant, got, ok, want)
		}
	}
	tmpl, _ = parseURLTemplate("http://127.0.0.1:9/h/{tenant}?t={tenant}#{tenant}")
	if got, _ := tmpl.expand("a/b?c=d&e#f @x"); got != "http://127.0.0.1:9/h/a%2Fb%3Fc%3Dd%26e%23f%20%40x?t=a%2Fb%3Fc%3Dd%26e%23f%20%40x#a%2Fb%3Fc%3Dd%26e%23f%20%40x" {
		t.Errorf("escaped: %s", got)
	}
	for _, bad := range []string{"/hooks", "ftp://x/", "http:///x", "::"} {
		if _, err := parseURLTemplate(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, target := range []WebhookTarget{
		{URL: "http://x/", Events: nil},
		{URL: "http://x/", Events: []string{"channel_occupied", "subscription_count"}},
		{URL: "http://x/", Host: "a/b", Events: []string{"client_event"}},
	} {
		if ValidateWebhookTarget(target) == nil {
			t.Errorf("%+v accepted", target)
		}
	}
}

// TestRing: the ring keeps the newest up to its bound, in order.
func TestRing(t *testing.T) {
	var r ring[int]
	drops := 0
	for i := 0; i < 100; i++ {
		if r.push(i, 30) {
			drops++
		}
	}
	got := r.take(10)
	rest := r.drain()
	if drops != 70 || !slices.Equal(got, []int{70, 71, 72, 73, 74, 75, 76, 77, 78, 79}) || len(rest) != 20 || rest[19] != 99 || r.len() != 0 {
		t.Fatalf("drops %d, got %v, rest %v", drops, got, rest)
	}
}
