package cluster

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recordsync/recordsync/internal/testredis"
)

// testSecret is the secret of the tests' clusters.
const testSecret = "test-secret"

// sealWith signs body, a JSON object, as the wire of protocol 3 says (a
// second implementation of seal: HMAC-SHA256 of the length-prefixed bytes
// after the object's '{', as the first member "mac").
func sealWith(key []byte, body string) string {
	signed := body[1:]
	h := hmac.New(sha256.New, key)
	fmt.Fprintf(h, "%d:%s", len(signed), signed)
	return `{"mac":"` + base64.RawURLEncoding.EncodeToString(h.Sum(nil)) + `",` + signed
}

// refusals counts the bus's messages ("in kind", "out kind") and what the
// cluster refused ("dropped source reason").
type refusals struct {
	nopObserver
	mu        sync.Mutex
	n         map[string]int
	notShared int
}

func newRefusals() *refusals { return &refusals{n: map[string]int{}} }

func (o *refusals) Message(direction, kind string) { o.add(direction + " " + kind) }
func (o *refusals) Dropped(source, reason string)  { o.add("dropped " + source + " " + reason) }
func (o *refusals) NotShared()                     { o.mu.Lock(); o.notShared++; o.mu.Unlock() }
func (o *refusals) add(k string)                   { o.mu.Lock(); o.n[k]++; o.mu.Unlock() }
func (o *refusals) notSharedCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.notShared
}
func (o *refusals) get(k string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[k]
}

func TestDeriveKeys(t *testing.T) {
	base, err := deriveKeys("s", "shop", 0)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(base.bus, base.socket) || bytes.Equal(base.bus, base.lock) || bytes.Equal(base.socket, base.lock) {
		t.Fatal("one key for two kinds of value")
	}
	for name, other := range map[string][3]any{
		"another secret":           {"t", "shop", 0},
		"another name":             {"s", "shop2", 0},
		"another database":         {"s", "shop", 1},
		"name and db run together": {"s", "shop\x000", 0},
	} {
		k, err := deriveKeys(other[0].(string), other[1].(string), other[2].(int))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(k.bus, base.bus) {
			t.Errorf("%s: same bus key", name)
		}
	}
	if again, _ := deriveKeys("s", "shop", 0); !bytes.Equal(again.bus, base.bus) {
		t.Fatal("the derivation is not deterministic: instances would not agree")
	}
	if _, err := deriveKeys("", "shop", 0); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("no secret: %v", err)
	}
	// Parts are length-prefixed: ("ab", "c") and ("a", "bc") sign apart.
	if mac(base.socket, "ab", "c") == mac(base.socket, "a", "bc") {
		t.Fatal("parts run together")
	}
	sig := mac(base.socket, "1.2", "inst", "t")
	if !validMAC(base.socket, sig, "1.2", "inst", "t") || validMAC(base.socket, sig, "1.2", "inst", "u") ||
		validMAC(base.bus, sig, "1.2", "inst", "t") || validMAC(base.socket, sig[:len(sig)-1], "1.2", "inst", "t") {
		t.Fatal("validMAC")
	}
}

// The default name carries the database number; an explicit one is kept.
func TestNameAndSecret(t *testing.T) {
	for url, want := range map[string]string{
		"redis://127.0.0.1:6379/0":    "default-db0",
		"redis://127.0.0.1:6379/1":    "default-db1",
		"redis://127.0.0.1:6379":      "default-db0",
		"rediss://u:p@host:6380/15":   "default-db15",
		"unix:///run/redis.sock?db=2": "default-db2",
	} {
		c, err := New(Options{URL: url, Secret: "s"})
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if c.Name() != want || c.Key("events") != "recordsync:"+want+":events" {
			t.Errorf("%s: name %q, channel %q; want %q", url, c.Name(), c.Key("events"), want)
		}
		c.Close()
	}
	for base, want := range map[string]string{"shop": "shop-db3", "site a.example.com  b.example.com": "site_a.example.com_b.example.com-db3", " ": "default-db3"} {
		if n, err := DefaultName(base, "redis://h/3"); n != want || err != nil {
			t.Errorf("DefaultName(%q) = %q, %v; want %q", base, n, err, want)
		}
	}
	c, err := New(Options{URL: "redis://127.0.0.1:6379/1", Name: "default", Secret: "s"})
	if err != nil || c.Name() != "default" {
		t.Fatalf("an explicit name is kept as given: %v %v", c, err)
	}
	c.Close()
	if _, err := New(Options{URL: "redis://127.0.0.1:6379/1"}); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("no secret: %v", err)
	}
}

// dbURL is r's URL on database db.
func dbURL(r *testredis.Server, db int) string {
	return strings.TrimSuffix(r.URL(), "/0") + fmt.Sprintf("/%d", db)
}

// newBusOn joins a cluster with opts (URL, Name, Secret) and a probe.
func newBusOn(tb testing.TB, opts Options) (*Bus, *busProbe, *refusals) {
	tb.Helper()
	c, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	p := &busProbe{}
	o := p.options(busOptions{HeartbeatInterval: 50 * time.Millisecond})
	r := newRefusals()
	o.Observer = struct {
		*refusals
		probeUp
	}{r, probeUp{p}}
	b := newBus(c, o)
	tb.Cleanup(func() { b.Close(); _ = c.Close() })
	return b, p, r
}

// probeUp sends Up to a busProbe (the refusals count everything else).
type probeUp struct{ p *busProbe }

func (u probeUp) Up(up bool) { u.p.up.Store(up) }

// Redis pub/sub ignores the database number: two clusters with default
// names on /0 and /1 of one server must not hear each other. Before the
// name carried the database number both were "default", one channel: the
// staging on /1 got production's events, versions and presence.
func TestBusDefaultNamesSeparateDatabases(t *testing.T) {
	r := testredis.Start(t)
	prod, pp, _ := newBusOn(t, Options{URL: dbURL(r, 0), Secret: testSecret})
	staging, ps, _ := newBusOn(t, Options{URL: dbURL(r, 1), Secret: testSecret})
	waitFor(t, 5*time.Second, "both buses up", func() bool { return prod.Up() && staging.Up() })
	if prod.channel == staging.channel {
		t.Fatalf("/0 and /1 share the channel %q", prod.channel)
	}
	// The same database with a default name is one cluster.
	prod2, pp2, _ := newBusOn(t, Options{URL: dbURL(r, 0), Secret: testSecret})
	waitFor(t, 5*time.Second, "prod2 up", prod2.Up)
	prod.Publish(message{Kind: kindEvent, Channel: "private-x", Name: "from prod"})
	staging.Publish(message{Kind: kindEvent, Channel: "private-x", Name: "from staging"})
	waitFor(t, 5*time.Second, "prod2 hears prod", func() bool { return pp2.received("from prod") })
	time.Sleep(200 * time.Millisecond)
	if ps.received("from prod") || pp.received("from staging") || pp2.received("from staging") {
		t.Fatalf("databases 0 and 1 shared messages: staging got %+v, prod got %+v", ps.messages(), pp.messages())
	}
}

// Two clusters with the same explicit name on /0 and /1 share a channel
// (the name is kept as given), but not a key: each refuses the other's
// messages as unauthenticated.
func TestBusExplicitNameOnTwoDatabases(t *testing.T) {
	r := testredis.Start(t)
	a, pa, ra := newBusOn(t, Options{URL: dbURL(r, 0), Name: "shop", Secret: testSecret})
	b, pb, _ := newBusOn(t, Options{URL: dbURL(r, 1), Name: "shop", Secret: testSecret})
	waitFor(t, 5*time.Second, "both buses up", func() bool { return a.Up() && b.Up() })
	if a.channel != b.channel {
		t.Fatalf("explicit names changed: %q, %q", a.channel, b.channel)
	}
	b.Publish(message{Kind: kindEvent, Channel: "private-x", Name: "from /1"})
	waitFor(t, 5*time.Second, "A refuses B's messages", func() bool { return ra.get("dropped bus unauthenticated") > 0 })
	if pa.received("from /1") || pb.received("from /0") {
		t.Fatal("a message crossed databases")
	}
}

// What reaches the cluster's channel without this cluster's signature, over
// the bound, or a second time never reaches the handler, and is counted by
// reason; the instances' own messages still arrive.
func TestBusRefusesForgedOversizedAndReplayed(t *testing.T) {
	r := testredis.Start(t)
	opts := Options{URL: r.URL(), Name: "t", Secret: testSecret}
	a, pa, ra := newBusOn(t, opts)
	b, _, _ := newBusOn(t, opts)
	wrong, _, _ := newBusOn(t, Options{URL: r.URL(), Name: "t", Secret: "another secret"})
	waitFor(t, 5*time.Second, "buses up", func() bool { return a.Up() && b.Up() && wrong.Up() })

	raw := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer raw.Close()
	tap := raw.Subscribe(context.Background(), "recordsync:t:events")
	defer tap.Close()
	if _, err := tap.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Unsigned, as protocol 3 but without a signature.
	raw.Publish(ctx, "recordsync:t:events", `{"v":3,"kind":"saved","instance":"forger","seq":1,"type":"flow","id":"1","version":"9999"}`)
	// A signature of nothing, and a signature with a wrong key.
	raw.Publish(ctx, "recordsync:t:events", `{"mac":"`+strings.Repeat("A", macLen)+`","v":3,"kind":"saved","instance":"forger","seq":1,"type":"flow","id":"1","version":"9999"}`)
	wrong.Publish(message{Kind: kindSaved, Type: "flow", ID: "1", Version: "9999"})
	// Over the bound, signed with the right key.
	big, _ := json.Marshal(message{Protocol: BusProtocol, Kind: kindEvent, Instance: "big", Seq: 1, Channel: "private-x", Name: "big", Data: strings.Repeat("x", MaxBusMessageBytes)})
	raw.Publish(ctx, "recordsync:t:events", sealWith(a.c.keys.bus, string(big)))
	waitFor(t, 5*time.Second, "refusals counted", func() bool {
		return ra.get("dropped bus unauthenticated") >= 3 && ra.get("dropped bus oversized") == 1
	})

	// B's own message arrives once; the same payload published again
	// (recorded from the channel) is a replay.
	b.Publish(message{Kind: kindEvent, Channel: "private-x", Name: "legit"})
	waitFor(t, 5*time.Second, "A receives B's event", func() bool { return pa.received("legit") })
	var recorded string
	for recorded == "" {
		m, err := tap.ReceiveTimeout(ctx, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if msg, ok := m.(*redis.Message); ok && strings.Contains(msg.Payload, `"name":"legit"`) {
			recorded = msg.Payload
		}
	}
	raw.Publish(ctx, "recordsync:t:events", recorded)
	waitFor(t, 5*time.Second, "replay counted", func() bool { return ra.get("dropped bus replayed") == 1 })
	n := 0
	for _, m := range pa.messages() {
		if m.Version == "9999" || m.Name == "big" || m.Instance == wrong.Instance() {
			t.Fatalf("A handled %+v", m)
		}
		if m.Name == "legit" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("A handled B's event %d times", n)
	}
}

// A presence sync over the bound travels in parts and arrives whole; an
// event over it is not sent (counted as not shared) and blocks nothing.
func TestBusLargeMessages(t *testing.T) {
	r := testredis.Start(t)
	opts := Options{URL: r.URL(), Name: "t", Secret: testSecret}
	a, _, ra := newBusOn(t, opts)
	b, pb, _ := newBusOn(t, opts)
	waitFor(t, 5*time.Second, "buses up", func() bool { return a.Up() && b.Up() })
	raw := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer raw.Close()
	tap := raw.Subscribe(context.Background(), "recordsync:t:events")
	defer tap.Close()
	if _, err := tap.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}

	members := make([]member, 6000)
	for i := range members {
		members[i] = member{Tenant: "t", Channel: fmt.Sprintf("presence-room.%d", i%50), UserID: fmt.Sprint(i),
			Info: fmt.Sprintf(`{"name":"user %d","bio":%q}`, i, strings.Repeat("b", 300))}
	}
	a.Publish(message{Kind: kindPresence, Op: presenceSync, Members: members})
	a.Publish(message{Kind: kindEvent, Channel: "private-x", Name: "huge", Data: strings.Repeat("x", MaxBusMessageBytes)})
	a.Publish(message{Kind: kindEvent, Channel: "private-x", Name: "after"})
	waitFor(t, 30*time.Second, "B receives the event after", func() bool { return pb.received("after") })
	var syncs []message
	for _, m := range pb.messages() {
		if m.Kind == kindPresence && m.Op == presenceSync && len(m.Members) > 0 {
			syncs = append(syncs, m)
		}
		if m.Name == "huge" {
			t.Fatal("an event over the bound was sent")
		}
	}
	if len(syncs) != 1 {
		t.Fatalf("B got %d syncs, want one", len(syncs))
	}
	if len(syncs[0].Members) != len(members) || syncs[0].Part != 0 || syncs[0].More {
		t.Fatalf("B got a sync of %d members (part %d, more %v), want %d", len(syncs[0].Members), syncs[0].Part, syncs[0].More, len(members))
	}
	for i := range members {
		if syncs[0].Members[i] != members[i] {
			t.Fatalf("member %d: %+v, want %+v", i, syncs[0].Members[i], members[i])
		}
	}
	if ra.notSharedCount() == 0 {
		t.Fatal("the event over the bound was not counted as not shared")
	}
	// What went over the channel, up to the event after.
	parts := 0
	for after := false; !after; {
		m, err := tap.ReceiveTimeout(context.Background(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if msg, ok := m.(*redis.Message); ok {
			if len(msg.Payload) > MaxBusMessageBytes {
				t.Fatalf("a payload of %d bytes was sent", len(msg.Payload))
			}
			if strings.Contains(msg.Payload, `"op":"sync"`) && strings.Contains(msg.Payload, `"instance":"`+a.Instance()+`"`) {
				parts++
			}
			after = strings.Contains(msg.Payload, `"name":"after"`)
		}
	}
	if parts < 3 {
		t.Fatalf("the sync went in %d parts", parts)
	}
}
