package cluster

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fuzzBus is a Bus with no Redis and no goroutines, for handle alone.
func fuzzBus(handler func(message), share func(), gone func(string)) *Bus {
	c := &Cluster{prefix: "recordsync:t:", instance: "self", log: zap.NewNop()}
	return &Bus{c: c, channel: c.Key("events"), obs: nopObserver{}, log: zap.NewNop(), seen: map[string]time.Time{}, otherProtocol: map[string]struct{}{},
		opts: busOptions{Handler: handler, Share: share, InstanceGone: gone}}
}

// FuzzBusMessage feeds arbitrary payloads to the bus's decoder (Redis is
// shared infrastructure: anything may be published on the cluster's
// channel): no panics; only the other instances' event, version and
// presence messages reach the handler, unchanged; this instance's own
// messages are ignored; a bye forgets only an instance that was heard from.
func FuzzBusMessage(f *testing.F) {
	for _, m := range []message{
		{Kind: kindEvent, Instance: "other", Tenant: "t", Channel: "private-x", Name: "e", Data: `{"a":1}`, ExceptSocket: "1.2"},
		{Kind: kindSaved, Instance: "other", Tenant: "t", Type: "flow", ID: "1", Version: "2026-01-01T00:00:00Z"},
		{Kind: kindPresence, Instance: "other", Op: presenceSync, Members: []member{{Tenant: "t", Channel: "presence-x", UserID: "1", Info: "{}"}}},
		{Kind: kindHello, Instance: "other"}, {Kind: kindBye, Instance: "other"}, {Kind: kindHeartbeat, Instance: "x"},
		{Kind: kindEvent, Instance: "self"}, {Kind: "future", Instance: "other"},
		{Protocol: BusProtocol + 1, Kind: kindSaved, Instance: "other", Type: "flow", ID: "1", Version: "2"},
		{Protocol: BusProtocol, Kind: kindSaved, Instance: "other", Tenant: "t", Type: "flow", ID: "1", Version: "3", ExceptSocket: "1.2", TabID: "tab",
			Lists: []busList{{Channel: "project.1", Event: "flow.updated", IDKey: "flow_id"}}},
	} {
		if m.Protocol == 0 {
			m.Protocol = BusProtocol
		}
		b, _ := json.Marshal(m)
		f.Add(string(b))
	}
	f.Add(`{"kind":"saved","instance":"old","type":"flow","id":"1","version":"1"}`) // no protocol: ignored
	for _, s := range []string{``, `{`, `null`, `[]`, `{"kind":"event"}`, `{"instance":5}`, "{\"kind\":\"event\",\"instance\":\"\xff\"}",
		`{"kind":"presence","instance":"o","members":[null,{"c":1}]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		var got []message
		shares, gone := 0, []string{}
		b := fuzzBus(func(m message) { got = append(got, m) }, func() { shares++ }, func(id string) { gone = append(gone, id) })
		b.handle(payload)
		var want message
		decoded := json.Unmarshal([]byte(payload), &want) == nil
		for _, m := range got {
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
		if len(got) > 1 || len(gone) > 0 || shares > 1 {
			t.Fatalf("one payload: %d handled, %d gone, %d shares", len(got), len(gone), shares)
		}
		// The same instance's bye after it was heard from forgets it, once.
		b.handle(payload)
		if decoded && want.Instance != "" && want.Instance != "self" {
			bye, _ := json.Marshal(message{Protocol: BusProtocol, Kind: kindBye, Instance: want.Instance})
			b.handle(string(bye))
			b.handle(string(bye))
			heard := want.Kind != kindBye && want.Kind != "" && (want.Kind == kindEvent || want.Kind == kindSaved ||
				want.Kind == kindPresence || want.Kind == kindHello || want.Kind == kindHeartbeat) &&
				want.Protocol == BusProtocol
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
// messages).
func TestBusOtherProtocol(t *testing.T) {
	var got []message
	b := fuzzBus(func(m message) { got = append(got, m) }, func() {}, func(string) {})
	obs := &kindCounter{n: map[string]int{}}
	b.obs = obs
	core, logs := observer.New(zap.WarnLevel)
	b.log = zap.New(core)
	for range 3 {
		next, _ := json.Marshal(message{Protocol: BusProtocol + 1, Kind: kindSaved, Instance: "next", Type: "flow", ID: "1", Version: "9"})
		b.handle(string(next))
	}
	if len(got) != 0 || obs.n["in "+kindOtherProtocol] != 3 || logs.Len() != 1 {
		t.Fatalf("another protocol: handled %v, counted %v, %d warnings", got, obs.n, logs.Len())
	}
	b.handle(`{"kind":"version","instance":"old","type":"flow","id":"1","version":"8"}`)
	b.handle(`{"v":1,"kind":"event","instance":"old1","channel":"private-record.flow.1","name":"record.updated","data":"{}"}`)
	if len(got) != 0 || obs.n["in "+kindOtherProtocol] != 5 || logs.Len() != 3 {
		t.Fatalf("protocols 0 and 1: handled %v, counted %v, %d warnings", got, obs.n, logs.Len())
	}
	cur, _ := json.Marshal(message{Protocol: BusProtocol, Kind: kindSaved, Instance: "peer", Type: "flow", ID: "1", Version: "7"})
	b.handle(string(cur))
	if len(got) != 1 || got[0].Version != "7" {
		t.Fatalf("protocol %d: handled %+v", BusProtocol, got)
	}
}
