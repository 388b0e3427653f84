package cluster

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fuzzBus is a Bus of the cluster "t" on database 0 (secret testSecret)
// with no Redis and no goroutines, for handle alone.
func fuzzBus(tb testing.TB, handler func(message), share func(), gone func(string)) *Bus {
	keys, err := deriveKeys(testSecret, "t", 0)
	if err != nil {
		tb.Fatal(err)
	}
	c := &Cluster{name: "t", prefix: "recordsync:t:", instance: "self", keys: keys, log: zap.NewNop()}
	return &Bus{c: c, channel: c.Key("events"), obs: nopObserver{}, log: zap.NewNop(),
		seen: map[string]peer{}, parts: map[string]*syncParts{}, otherProtocol: map[string]struct{}{},
		opts: busOptions{Handler: handler, Share: share, InstanceGone: gone}}
}

// How FuzzBusMessage turns its body into a payload.
const (
	fuzzUnsigned = iota // the body as it is
	fuzzSigned          // signed with the cluster's key
	fuzzOtherKey        // signed with another cluster's key (same secret, another name)
	fuzzTampered        // signed with the cluster's key, then one byte of it changed
	fuzzModes
)

// FuzzBusMessage feeds arbitrary payloads to the bus's decoder (Redis is
// shared infrastructure: anything may be published on the cluster's
// channel): no panics; only messages signed with this cluster's key, not
// over MaxBusMessageBytes, reach the handler, and only the other
// instances' event, version and presence messages, unchanged and once
// (a second delivery of the same payload is a replay); unsigned, forged,
// tampered and oversized payloads never do and are counted; this
// instance's own messages are ignored; a bye forgets only an instance that
// was heard from.
func FuzzBusMessage(f *testing.F) {
	for _, m := range []message{
		{Kind: kindEvent, Instance: "other", Seq: 1, Tenant: "t", Channel: "private-x", Name: "e", Data: `{"a":1}`, ExceptSocket: "1.2"},
		{Kind: kindSaved, Instance: "other", Seq: 2, Tenant: "t", Type: "flow", ID: "1", Version: "2026-01-01T00:00:00Z"},
		{Kind: kindPresence, Instance: "other", Seq: 3, Op: presenceSync, Members: []member{{Tenant: "t", Channel: "presence-x", UserID: "1", Info: "{}"}}},
		{Kind: kindPresence, Instance: "other", Seq: 3, Op: presenceSync, Part: 1, Members: []member{{Tenant: "t", Channel: "presence-x", UserID: "1"}}},
		{Kind: kindPresence, Instance: "other", Seq: 3, Op: presenceSync, More: true},
		{Kind: kindHello, Instance: "other", Seq: 1}, {Kind: kindBye, Instance: "other", Seq: 9}, {Kind: kindHeartbeat, Instance: "x", Seq: 4},
		{Kind: kindEvent, Instance: "self", Seq: 1}, {Kind: "future", Instance: "other", Seq: 1},
		{Protocol: BusProtocol + 1, Kind: kindSaved, Instance: "other", Type: "flow", ID: "1", Version: "2"},
		{Protocol: 2, Kind: kindSaved, Instance: "old", Type: "flow", ID: "1", Version: "2"},
		{Protocol: BusProtocol, Kind: kindSaved, Instance: "other", Seq: ^uint64(0), Tenant: "t", Type: "flow", ID: "1", Version: "3", ExceptSocket: "1.2", TabID: "tab",
			Lists: []busList{{Channel: "project.1", Event: "flow.updated", IDKey: "flow_id"}}},
	} {
		if m.Protocol == 0 {
			m.Protocol = BusProtocol
		}
		b, _ := json.Marshal(m)
		for mode := range uint8(fuzzModes) {
			f.Add(string(b), mode, false)
		}
		f.Add(string(b), uint8(fuzzSigned), true)
	}
	f.Add(`{"kind":"saved","instance":"old","type":"flow","id":"1","version":"1"}`, uint8(fuzzUnsigned), false) // no protocol: another one
	for _, s := range []string{``, `{`, `{}`, `null`, `[]`, `{"kind":"event"}`, `{"instance":5}`, "{\"kind\":\"event\",\"instance\":\"\xff\"}",
		`{"kind":"presence","instance":"o","members":[null,{"c":1}]}`, `{"mac":"` + strings.Repeat("A", macLen) + `","v":3,"kind":"event","instance":"o","seq":1}`} {
		f.Add(s, uint8(fuzzUnsigned), false)
		f.Add(s, uint8(fuzzSigned), false)
	}
	other, err := deriveKeys(testSecret, "other", 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string, mode uint8, grow bool) {
		var got []message
		shares, gone := 0, []string{}
		b := fuzzBus(t, func(m message) { got = append(got, m) }, func() { shares++ }, func(id string) { gone = append(gone, id) })
		obs := newRefusals()
		b.obs = obs
		if grow && strings.HasPrefix(body, "{") {
			// Still the same JSON, now over the bound.
			body = "{" + strings.Repeat(" ", MaxBusMessageBytes) + body[1:]
		}
		mode %= fuzzModes
		payload, authentic := body, false
		if mode != fuzzUnsigned && strings.HasPrefix(body, "{") {
			key := b.c.keys.bus
			if mode == fuzzOtherKey {
				key = other.bus
			}
			payload = sealWith(key, body)
			authentic = mode == fuzzSigned
			if mode == fuzzTampered {
				i := len(macHead) + int(body[len(body)-1])%(len(payload)-len(macHead))
				tampered := []byte(payload)
				tampered[i] ^= 1
				payload = string(tampered)
			}
		}
		oversized := len(payload) > MaxBusMessageBytes
		b.handle(payload)

		var want message
		decoded := json.Unmarshal([]byte(payload), &want) == nil
		for _, m := range got {
			if !authentic || oversized {
				t.Fatalf("handled a payload that is not this cluster's (mode %d, %d bytes): %+v", mode, len(payload), m)
			}
			if m.Instance == "" || m.Instance == "self" {
				t.Fatalf("handled a message of instance %q", m.Instance)
			}
			switch m.Kind {
			case kindEvent, kindSaved, kindPresence:
			default:
				t.Fatalf("handled kind %q", m.Kind)
			}
			if m.Protocol != BusProtocol {
				t.Fatalf("handled a message of protocol %d", m.Protocol)
			}
			if !decoded || !reflect.DeepEqual(m, want) {
				t.Fatalf("handled %+v, decoded %+v", m, want)
			}
		}
		if oversized && obs.get("dropped bus oversized") != 1 {
			t.Fatalf("oversized payload (%d bytes) not counted: %v", len(payload), obs.n)
		}
		if !oversized && !authentic && len(got) == 0 && obs.get("dropped bus unauthenticated")+obs.get("in other_protocol") != 1 {
			t.Fatalf("payload not signed with the cluster's key counted %v", obs.n)
		}
		if len(got) > 1 || len(gone) > 0 || shares > 1 {
			t.Fatalf("one payload: %d handled, %d gone, %d shares", len(got), len(gone), shares)
		}
		// The same payload again is a replay: never handled twice.
		handled := len(got)
		b.handle(payload)
		if handled == 1 && len(got) != 1 {
			t.Fatalf("a replayed payload was handled again")
		}
		heard := authentic && !oversized && decoded && want.Instance != "" && want.Instance != "self" &&
			(want.Kind == kindEvent || want.Kind == kindSaved || want.Kind == kindPresence || want.Kind == kindHello || want.Kind == kindHeartbeat) &&
			want.Protocol == BusProtocol
		// The same instance's bye after it was heard from forgets it, once.
		if decoded && want.Instance != "" && want.Instance != "self" && want.Seq < ^uint64(0) {
			bye, _ := json.Marshal(message{Protocol: BusProtocol, Kind: kindBye, Instance: want.Instance, Seq: want.Seq + 1})
			b.handle(sealWith(b.c.keys.bus, string(bye)))
			b.handle(sealWith(b.c.keys.bus, string(bye)))
			if heard && (len(gone) != 1 || gone[0] != want.Instance) {
				t.Fatalf("bye after %q: gone %v", want.Kind, gone)
			}
			if !heard && len(gone) != 0 {
				t.Fatalf("bye of an instance never heard from: gone %v", gone)
			}
		}
	})
}

// Instances of another bus protocol (a rolling upgrade) are ignored, counted
// and logged once each, never misread; so are messages without a protocol
// (builds before it existed, whose protocol 1 sent a save as several
// messages) and protocol 2's, which are not signed.
func TestBusOtherProtocol(t *testing.T) {
	var got []message
	b := fuzzBus(t, func(m message) { got = append(got, m) }, func() {}, func(string) {})
	obs := newRefusals()
	b.obs = obs
	core, logs := observer.New(zap.WarnLevel)
	b.log = zap.New(core)
	for i := range 3 {
		next, _ := json.Marshal(message{Protocol: BusProtocol + 1, Kind: kindSaved, Instance: "next", Seq: uint64(i + 1), Type: "flow", ID: "1", Version: "9"})
		b.handle(sealWith(b.c.keys.bus, string(next)))
	}
	if len(got) != 0 || obs.get("in "+kindOtherProtocol) != 3 || logs.Len() != 1 {
		t.Fatalf("another protocol: handled %v, counted %v, %d warnings", got, obs.n, logs.Len())
	}
	b.handle(`{"kind":"version","instance":"old","type":"flow","id":"1","version":"8"}`)
	b.handle(`{"v":1,"kind":"event","instance":"old1","channel":"private-record.flow.1","name":"record.updated","data":"{}"}`)
	b.handle(`{"v":2,"kind":"saved","instance":"old2","type":"flow","id":"1","version":"8"}`)
	if len(got) != 0 || obs.get("in "+kindOtherProtocol) != 6 || logs.Len() != 4 {
		t.Fatalf("protocols 0, 1 and 2: handled %v, counted %v, %d warnings", got, obs.n, logs.Len())
	}
	// Unsigned messages can claim any instance: past the bound, only counted.
	for i := range 2 * maxOtherProtocolWarnings {
		b.handle(`{"v":2,"kind":"hb","instance":"ghost` + string(rune('A'+i%26)) + strings.Repeat("x", i) + `"}`)
	}
	if logs.Len() > maxOtherProtocolWarnings+1 {
		t.Fatalf("%d warnings for unsigned messages of another protocol, want at most %d", logs.Len(), maxOtherProtocolWarnings+1)
	}
	cur, _ := json.Marshal(message{Protocol: BusProtocol, Kind: kindSaved, Instance: "peer", Seq: 1, Type: "flow", ID: "1", Version: "7"})
	b.handle(sealWith(b.c.keys.bus, string(cur)))
	if len(got) != 1 || got[0].Version != "7" {
		t.Fatalf("protocol %d: handled %+v", BusProtocol, got)
	}
}
