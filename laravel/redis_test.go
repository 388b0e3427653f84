package laravel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/recordsync/recordsync/internal/testredis"
	"github.com/recordsync/recordsync/realtime"
	"github.com/recordsync/recordsync/versioncache"
)

func TestRedisRoute(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    RedisOptions
		psub    string
		in      string
		tenant  string
		channel string
		reason  string
		wantErr bool
	}{
		{name: "default prefix", opts: RedisOptions{}, psub: "laravel_database_*",
			in: "laravel_database_private-record.flow.1", channel: "private-record.flow.1"},
		{name: "other prefix", opts: RedisOptions{Prefix: "app-"}, psub: "app-*",
			in: "laravel_database_private-x", reason: IngressBadChannel},
		{name: "tenancy without pattern", opts: RedisOptions{Tenanted: true}, psub: "laravel_database_*",
			in: "laravel_database_private-x", reason: IngressNoTenant},
		{name: "tenant pattern", opts: RedisOptions{Tenanted: true, TenantPattern: "tenant{tenant}_laravel_database_"},
			psub: "tenant*_laravel_database_*",
			in:   "tenanta_laravel_database_private-record.flow.1", tenant: "a", channel: "private-record.flow.1"},
		{name: "tenant pattern, no tenant", opts: RedisOptions{Tenanted: true, TenantPattern: "tenant{tenant}_laravel_database_"},
			psub: "tenant*_laravel_database_*", in: "tenant_laravel_database_private-x", reason: IngressNoTenant},
		{name: "tenant pattern, other prefix", opts: RedisOptions{Tenanted: true, TenantPattern: "tenant{tenant}_laravel_database_"},
			psub: "tenant*_laravel_database_*", in: "laravel_database_private-x", reason: IngressNoTenant},
		{name: "bad channel name", opts: RedisOptions{}, psub: "laravel_database_*",
			in: "laravel_database_bad name", reason: IngressBadChannel},
		{name: "glob characters escaped", opts: RedisOptions{Prefix: "a*b?"}, psub: `a\*b\?*`,
			in: "a*b?news", channel: "news"},
		{name: "pattern without tenancy", opts: RedisOptions{TenantPattern: "t{tenant}_"}, wantErr: true},
		{name: "pattern without placeholder", opts: RedisOptions{Tenanted: true, TenantPattern: "t_"}, wantErr: true},
		{name: "pattern ending with placeholder", opts: RedisOptions{Tenanted: true, TenantPattern: "t{tenant}"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := newRedisRoute(tc.opts)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := r.psubscribe(); got != tc.psub {
				t.Errorf("psubscribe %q, want %q", got, tc.psub)
			}
			tenant, channel, reason := r.split(tc.in)
			if tenant != tc.tenant || channel != tc.channel || reason != tc.reason {
				t.Errorf("split(%q) = %q, %q, %q; want %q, %q, %q", tc.in, tenant, channel, reason, tc.tenant, tc.channel, tc.reason)
			}
		})
	}
}

func TestParseRedisMessage(t *testing.T) {
	for _, tc := range []struct {
		name, payload string
		data, except  string
		reason        string
	}{
		{name: "laravel", payload: `{"event":"record.updated","data":{"record_id":1,"socket":"1.2"},"socket":"1.2"}`,
			data: `{"record_id":1}`, except: "1.2"},
		{name: "laravel, no toOthers", payload: `{"event":"e","data":{"a":1,"socket":null},"socket":null}`, data: `{"a":1}`},
		{name: "null socket", payload: `{"event":"e","data":{"a":1},"socket":null}`, data: `{"a":1}`},
		{name: "string data kept as is", payload: `{"event":"e","data":"{\"socket\":\"1.2\"}","socket":"1.2"}`,
			data: `{"socket":"1.2"}`, except: "1.2"},
		{name: "array data kept as is", payload: `{"event":"e","data":[{"socket":"1.2"}]}`, data: `[{"socket":"1.2"}]`},
		{name: "string data", payload: `{"event":"e","data":"{\"a\":1}"}`, data: `{"a":1}`},
		{name: "no data", payload: `{"event":"e"}`},
		{name: "no event", payload: `{"data":{}}`, reason: IngressMalformed},
		{name: "event not a string", payload: `{"event":1}`, reason: IngressMalformed},
		{name: "data a number", payload: `{"event":"e","data":5}`, reason: IngressMalformed},
		{name: "socket a number", payload: `{"event":"e","socket":5}`, reason: IngressMalformed},
		{name: "not JSON", payload: `event`, reason: IngressMalformed},
		{name: "truncated", payload: `{"event":"e","data":{`, reason: IngressMalformed},
		{name: "too large", payload: `{"event":"e","data":"` + string(make([]byte, MaxRedisMessageBytes)) + `"}`, reason: IngressTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, reason := parseRedisMessage("a", "c", []byte(tc.payload))
			if reason != tc.reason {
				t.Fatalf("reason %q, want %q", reason, tc.reason)
			}
			if reason != "" {
				return
			}
			if string(ev.Data) != tc.data || ev.ExceptSocket != tc.except || ev.Tenant != "a" || ev.Channel != "c" || ev.Name == "" {
				t.Fatalf("event %+v (data %s)", ev, ev.Data)
			}
		})
	}
}

func TestWithoutSocket(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{name: "last, as Laravel puts it", in: `{"a":1,"b":"x","socket":"1.2"}`, want: `{"a":1,"b":"x"}`},
		{name: "null", in: `{"a":1,"socket":null}`, want: `{"a":1}`},
		{name: "first", in: `{"socket":"1.2","a":1}`, want: `{"a":1}`},
		{name: "middle", in: `{"a":1,"socket":"1.2","b":2}`, want: `{"a":1,"b":2}`},
		{name: "only", in: `{"socket":"1.2"}`, want: `{}`},
		{name: "twice", in: `{"socket":"9.9","a":1,"socket":"1.2"}`, want: `{"a":1}`},
		{name: "twice in a row", in: `{"a":1,"socket":"9.9","socket":"1.2","b":2}`, want: `{"a":1,"b":2}`},
		{name: "escaped key", in: `{"a":1,"sock\u0065t":"1.2"}`, want: `{"a":1}`},
		{name: "object value", in: `{"socket":{"id":"1.2","x":[1,"}"]},"a":1}`, want: `{"a":1}`},
		{name: "whitespace kept", in: "{\n  \"b\": 2,\n  \"a\" : [1, 2],\n  \"socket\": \"1.2\"\n}", want: "{\n  \"b\": 2,\n  \"a\" : [1, 2]\n}"},
		{name: "whitespace, first", in: "{ \"socket\" : null , \"a\" : 1 }", want: "{ \"a\" : 1 }"},
		{name: "nested socket is the app's", in: `{"user":{"socket":"1.2"},"socket":null}`, want: `{"user":{"socket":"1.2"}}`},
		{name: "socket in a value", in: `{"a":"\"socket\":1","socket":null}`, want: `{"a":"\"socket\":1"}`},
		{name: "other keys", in: `{"Socket":1,"sockets":2,"socket_id":3}`, want: `{"Socket":1,"sockets":2,"socket_id":3}`},
		{name: "none", in: `{"a":1}`, want: `{"a":1}`},
		{name: "empty", in: `{}`, want: `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(withoutSocket([]byte(tc.in))); got != tc.want {
				t.Fatalf("withoutSocket(%s)\n got %s\nwant %s", tc.in, got, tc.want)
			}
		})
	}
}

// TestRedisIngressHidesWriterSocket: a message of Laravel's redis
// broadcaster (RedisBroadcaster.php leaves "socket" in data) reaches the
// other subscribers without the writer's socket id, and the writer's socket
// (the message's top-level "socket") gets no copy.
func TestRedisIngressHidesWriterSocket(t *testing.T) {
	pub := &recordingPublisher{}
	route, err := newRedisRoute(RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := &RedisIngress{pub: pub, route: route, log: zap.NewNop(), obs: nopIngressObserver{}}

	in.handle("laravel_database_private-project.1",
		`{"event":"task.updated","data":{"task_id":3,"tab_id":"tab_w","socket":"2.2"},"socket":"2.2"}`)
	evs := pub.take()
	if len(evs) != 1 {
		t.Fatalf("published %d events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Name != "task.updated" || ev.Channel != "private-project.1" || ev.Tenant != "" {
		t.Fatalf("published %+v", ev)
	}
	// The writer's socket gets no copy (the hub skips ExceptSocket), and
	// the others get data without the writer's socket id.
	if ev.ExceptSocket != "2.2" {
		t.Fatalf("ExceptSocket %q, want the writer's 2.2 (toOthers)", ev.ExceptSocket)
	}
	if string(ev.Data) != `{"task_id":3,"tab_id":"tab_w"}` {
		t.Fatalf("data %s, want {\"task_id\":3,\"tab_id\":\"tab_w\"} (no socket: the writer's id is not other users' business)", ev.Data)
	}
}

// recordingPublisher keeps what an ingress publishes.
type recordingPublisher struct {
	mu  sync.Mutex
	evs []realtime.Event
}

func (p *recordingPublisher) PublishLocal(ev realtime.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.evs = append(p.evs, ev)
}

// take returns and forgets what was published.
func (p *recordingPublisher) take() []realtime.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	evs := p.evs
	p.evs = nil
	return evs
}

// eventually polls ok until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ingressCounter counts an ingress's metrics.
type ingressCounter struct {
	mu       sync.Mutex
	received int
	dropped  map[string]int
	up       bool
}

func (c *ingressCounter) Received(string) { c.mu.Lock(); c.received++; c.mu.Unlock() }
func (c *ingressCounter) Dropped(_, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped == nil {
		c.dropped = map[string]int{}
	}
	c.dropped[reason]++
}
func (c *ingressCounter) Up(_ string, up bool) { c.mu.Lock(); c.up = up; c.mu.Unlock() }
func (c *ingressCounter) isUp() bool           { c.mu.Lock(); defer c.mu.Unlock(); return c.up }

func TestRedisIngressReconnects(t *testing.T) {
	r := testredis.Start(t)

	sub := &recordingPublisher{}
	obs := &ingressCounter{}
	in, err := NewRedisIngress(sub, RedisOptions{
		URL: r.URL(), Tenanted: true, TenantPattern: "tenant{tenant}_laravel_database_",
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	pub := redis.NewClient(&redis.Options{Addr: r.Addr(), Protocol: 2, DisableIdentity: true})
	defer pub.Close()

	// Publish until one arrives (the subscription may not be up yet).
	deliver := func(what string) {
		t.Helper()
		eventually(t, 10*time.Second, what, func() bool {
			pub.Publish(context.Background(), "tenanta_laravel_database_private-x", `{"event":"e","data":{"n":1},"socket":null}`)
			time.Sleep(20 * time.Millisecond)
			evs := sub.take()
			return len(evs) > 0 && evs[0].Tenant == "a" && evs[0].Channel == "private-x"
		})
	}
	deliver("first delivery")
	pub.Publish(context.Background(), "tenanta_laravel_database_private-x", `not json`)
	pub.Publish(context.Background(), "tenant_laravel_database_private-x", `{"event":"e"}`)
	eventually(t, 5*time.Second, "drops counted", func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		return obs.dropped[IngressMalformed] == 1 && obs.dropped[IngressNoTenant] == 1
	})

	r.Stop()
	eventually(t, 5*time.Second, "ingress down", func() bool { return !obs.isUp() })
	time.Sleep(300 * time.Millisecond) // a few failed retries
	r.Start()
	deliver("delivery after Redis came back")

	in.Close()
	in.Close() // idempotent
}

// FuzzRedisMessage: the Redis message parser never panics, and what it
// accepts publishes a valid frame.
func FuzzRedisMessage(f *testing.F) {
	for _, s := range []string{
		`{"event":"record.updated","data":{"record_type":"flow","record_id":1,"updated_at_iso":"2026-01-01T00:00:00Z"},"socket":"1.2"}`,
		`{"event":"record.updated","data":{"record_id":1,"socket":"1.2"},"socket":"1.2"}`,
		`{"event":"e","data":{"socket":null,"a":{"socket":1},"socket":"9.9","b":"socket"},"socket":null}`,
		`{"event":"e","data":{ "sock\u0065t" : "1.2" , "a" : [ 1 ] }}`, `{"event":"e","data":{"socket":"1.2"}}`,
		`{"event":"e","data":"x"}`, `{"event":"e","data":[1]}`, `{"event":"e","socket":null}`, `{}`, `[]`, `"`, "\xff",
	} {
		f.Add("tenanta_laravel_database_private-record.flow.1", []byte(s))
	}
	route, err := newRedisRoute(RedisOptions{Tenanted: true, TenantPattern: "tenant{tenant}_laravel_database_"})
	if err != nil {
		f.Fatal(err)
	}
	store, err := versioncache.New(versioncache.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(store.Close)
	h, err := realtime.NewHub(realtime.Options{AppKey: "key", AppSecret: "secret", Versions: store})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(h.Close)
	f.Fuzz(func(t *testing.T, channel string, payload []byte) {
		tenant, name, reason := route.split(channel)
		if reason != "" {
			return
		}
		ev, reason := parseRedisMessage(tenant, name, payload)
		if reason != "" {
			return
		}
		if len(ev.Data) > 0 && ev.Data[0] == '{' {
			checkWithoutSocket(t, payload, ev.Data)
		}
		h.Publish(ev)
	})
}

// checkWithoutSocket checks what parseRedisMessage made of an object data:
// valid JSON holding the message's data members but "socket", in order,
// each with its bytes (json.Decoder's RawMessage keeps them).
func checkWithoutSocket(tb testing.TB, payload, got []byte) {
	tb.Helper()
	var m struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(payload, &m); err != nil {
		tb.Fatalf("accepted %q: %v", payload, err)
	}
	if !json.Valid(got) {
		tb.Fatalf("data of %q became invalid JSON %q", payload, got)
	}
	want := objectMembers(tb, m.Data)
	want = slices.DeleteFunc(want, func(kv [2]string) bool { return kv[0] == "socket" })
	if have := objectMembers(tb, got); !slices.Equal(have, want) {
		tb.Fatalf("data of %q became %q: members %q, want %q", payload, got, have, want)
	}
}

// objectMembers lists a JSON object's top-level members as (key, raw value).
func objectMembers(tb testing.TB, obj []byte) [][2]string {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		tb.Fatal(err)
	}
	var out [][2]string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			tb.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			tb.Fatal(err)
		}
		out = append(out, [2]string{k.(string), string(v)})
	}
	return out
}

// TestRedisIngressWarnsOnLaravelsDefaultPrefix: Laravel's broadcasts are
// not signed, so the prefix is all that separates two apps on one Redis
// server (pub/sub ignores the database number). Listening on Laravel's
// default prefix is warned about at start, with the URL (its password
// hidden) and the prefix; an app's own prefix, or a tenant pattern, is not.
func TestRedisIngressWarnsOnLaravelsDefaultPrefix(t *testing.T) {
	r := testredis.Start(t)
	url := "redis://:hunter2@" + r.Addr() + "/1"
	for _, tc := range []struct {
		name string
		opts RedisOptions
		warn string // the prefix warned about, "" for none
	}{
		{"default", RedisOptions{}, DefaultRedisPrefix},
		{"default spelled out", RedisOptions{Prefix: "laravel_database_"}, "laravel_database_"},
		{"Laravel 13's default", RedisOptions{Prefix: "laravel-database-"}, "laravel-database-"},
		{"the app's own", RedisOptions{Prefix: "shop_database_"}, ""},
		{"tenant pattern", RedisOptions{Tenanted: true, TenantPattern: "tenant{tenant}_laravel_database_"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.WarnLevel)
			o := tc.opts
			o.URL, o.Logger = url, zap.New(core)
			in, err := NewRedisIngress(&recordingPublisher{}, o)
			if err != nil {
				t.Fatal(err)
			}
			in.Close()
			var warned []observer.LoggedEntry
			for _, e := range logs.All() {
				if strings.Contains(e.Message, "default prefix") {
					warned = append(warned, e)
				}
			}
			if tc.warn == "" {
				if len(warned) != 0 {
					t.Fatalf("warned: %v", warned)
				}
				return
			}
			if len(warned) != 1 {
				t.Fatalf("%d warnings about the default prefix, want 1: %v", len(warned), logs.All())
			}
			fields := warned[0].ContextMap()
			if fields["prefix"] != tc.warn || fields["redis"] != "redis://***@"+r.Addr()+"/1" {
				t.Fatalf("warning fields %v", fields)
			}
			if strings.Contains(warned[0].Message+fmt.Sprint(fields), "hunter2") {
				t.Fatal("the warning shows the password")
			}
		})
	}
}
