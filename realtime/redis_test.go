package realtime

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recordsync/recordsync/internal/testredis"
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
			data: `{"record_id":1,"socket":"1.2"}`, except: "1.2"},
		{name: "null socket", payload: `{"event":"e","data":{"a":1},"socket":null}`, data: `{"a":1}`},
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

	h := newTestHub(t, nil)
	sub := fakeConn(t, h, "a", "1.1")
	h.addSub(sub, chanKey{"a", "private-x"})
	obs := &ingressCounter{}
	in, err := NewRedisIngress(h, RedisOptions{
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
			return len(sub.take(nil)) > 0
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
		`{"event":"e","data":"x"}`, `{"event":"e","data":[1]}`, `{"event":"e","socket":null}`, `{}`, `[]`, `"`, "\xff",
	} {
		f.Add("tenanta_laravel_database_private-record.flow.1", []byte(s))
	}
	route, err := newRedisRoute(RedisOptions{Tenanted: true, TenantPattern: "tenant{tenant}_laravel_database_"})
	if err != nil {
		f.Fatal(err)
	}
	store := newStore(f)
	h, err := NewHub(Options{AppKey: testKey, AppSecret: testSecret, Versions: store})
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
		h.Publish(ev)
	})
}
