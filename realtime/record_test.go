package realtime

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/recordsync/recordsync/versioncache"
)

func TestRecordPayload(t *testing.T) {
	tests := []struct {
		name  string
		p     recordPayload
		idKey string
		want  string
	}{
		{
			name: "full",
			p: recordPayload{tenant: "acme", tenantSet: true, typ: "flow", id: "1", version: "2026-01-01T12:00:00.000000Z",
				byID: "7", byName: "Ann", tab: "tab_1"},
			want: `{"tenant_id":"acme","record_type":"flow","record_id":1,"updated_at_iso":"2026-01-01T12:00:00.000000Z","updated_by_id":7,"updated_by_name":"Ann","tab_id":"tab_1"}`,
		},
		{
			name: "no tenancy, nulls",
			p:    recordPayload{tenant: "", typ: "flow", id: "abc"},
			want: `{"tenant_id":null,"record_type":"flow","record_id":"abc","updated_at_iso":null,"updated_by_id":null,"updated_by_name":null,"tab_id":null}`,
		},
		{
			name:  "list key",
			p:     recordPayload{typ: "projecttask", id: "42", byID: `"u-1"`},
			idKey: "task_id",
			want:  `{"tenant_id":null,"record_type":"projecttask","record_id":42,"updated_at_iso":null,"updated_by_id":"u-1","updated_by_name":null,"tab_id":null,"task_id":42}`,
		},
		{
			name: "leading zero and huge ids stay strings",
			p:    recordPayload{typ: "t", id: "007", byID: "{\"x\":1}"},
			want: `{"tenant_id":null,"record_type":"t","record_id":"007","updated_at_iso":null,"updated_by_id":"{\"x\":1}","updated_by_name":null,"tab_id":null}`,
		},
		{
			name: "changed fields",
			p:    recordPayload{typ: "flow", id: "1", changed: []string{"name", "due_date"}},
			want: `{"tenant_id":null,"record_type":"flow","record_id":1,"updated_at_iso":null,"updated_by_id":null,"updated_by_name":null,"tab_id":null,"changed_fields":["name","due_date"]}`,
		},
		{
			name:  "nothing changed but the version, on a list",
			p:     recordPayload{typ: "t", id: "1", changed: []string{}},
			idKey: "task_id",
			want:  `{"tenant_id":null,"record_type":"t","record_id":1,"updated_at_iso":null,"updated_by_id":null,"updated_by_name":null,"tab_id":null,"changed_fields":[],"task_id":1}`,
		},
		{
			name: "beyond 2^53",
			p:    recordPayload{typ: "t", id: "9007199254740993", byID: "not json"},
			want: `{"tenant_id":null,"record_type":"t","record_id":"9007199254740993","updated_at_iso":null,"updated_by_id":"not json","updated_by_name":null,"tab_id":null}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.p.build(tt.idKey))
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("invalid JSON")
			}
		})
	}
}

func TestRecordPayloadBounded(t *testing.T) {
	p := recordPayload{
		tenant: strings.Repeat("t", 500), tenantSet: true, typ: "flow", id: "1",
		version: strings.Repeat("9", 500), byID: strings.Repeat("1", 500),
		byName: strings.Repeat("\x01", 500), tab: strings.Repeat("\"", 500),
	}
	b := p.build("task_id")
	if len(b) >= 1024 {
		t.Fatalf("payload is %d bytes", len(b))
	}
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	// Many long field names: the list is cut, the rest counted.
	p = recordPayload{typ: "flow", id: "1", version: "v"}
	for i := range versioncache.MaxFields {
		p.changed = append(p.changed, fmt.Sprintf("field_%02d_%s", i, strings.Repeat("x", 40)))
	}
	b = p.build("")
	var cut struct {
		Changed []string `json:"changed_fields"`
		More    int      `json:"more_changed_fields"`
	}
	if err := json.Unmarshal(b, &cut); err != nil || len(b) >= 1024 || len(cut.Changed) == 0 || len(cut.Changed)+cut.More != versioncache.MaxFields {
		t.Fatalf("%d bytes, %d names + %d more (%v): %s", len(b), len(cut.Changed), cut.More, err, b)
	}
	p.byName = strings.Repeat("é", 200)
	b = p.build("")
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || len(b) >= 1024 {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	if name, _ := m["updated_by_name"].(string); !strings.HasPrefix(name, "éé") || len(name) > versioncache.MaxNameBytes {
		t.Fatalf("name not truncated on a rune boundary: %q", name)
	}
}

func TestParseRecordChannel(t *testing.T) {
	tests := []struct {
		in, typ, id string
		ok          bool
	}{
		{"private-record.flow.1", "flow", "1", true},
		{"private-record.project.task.42", "project.task", "42", true},
		{"private-record.flow", "", "", false},
		{"private-record.flow.", "", "", false},
		{"private-record..1", "", "", false},
		{"record.flow.1", "", "", false},
		{"private-project.5", "", "", false},
	}
	for _, tt := range tests {
		typ, id, ok := parseRecordChannel(tt.in)
		if typ != tt.typ || id != tt.id || ok != tt.ok {
			t.Errorf("parseRecordChannel(%q) = %q, %q, %v", tt.in, typ, id, ok)
		}
	}
}

// frameData decodes the data of a frame (a JSON string holding an object).
func frameData(tb testing.TB, frame []byte) map[string]any {
	tb.Helper()
	var f struct{ Data string }
	var d map[string]any
	if err := json.Unmarshal(frame, &f); err != nil {
		tb.Fatalf("frame %s: %v", frame, err)
	}
	if err := json.Unmarshal([]byte(f.Data), &d); err != nil {
		tb.Fatalf("data %s: %v", f.Data, err)
	}
	return d
}

// TestTabTag: a save's events carry not the saving tab's X-Tab-ID but its
// tag, the first 32 hex digits of its SHA-256, which the kit computes for
// its own id. A subscriber that saves with a tag it saw as its X-Tab-ID
// gets that tag tagged again: the events carry neither the tag it sent
// nor anything the other tab takes for its own.
func TestTabTag(t *testing.T) {
	t.Parallel()
	sha := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])[:32]
	}
	// FIPS 180-2's "abc": ba7816bf8f01cfea414140de5dae2223b00361a3...
	if got := TabTag("abc"); got != "ba7816bf8f01cfea414140de5dae2223" {
		t.Fatalf("TabTag(abc) = %s", got)
	}
	if got := TabTag(""); got != "" {
		t.Fatalf(`TabTag("") = %q`, got)
	}

	h := newTestHub(t, nil)
	sub := fakeConn(t, h, "a", "1.1")
	h.addSub(sub, chanKey{"a", "private-record.flow.1"})
	h.addSub(sub, chanKey{"a", "private-project.1"})
	save := func(tab, version string) []map[string]any {
		t.Helper()
		h.Saved(versioncache.Saved{Key: versioncache.Key{Tenant: "a", Type: "flow", ID: "1"}, Entry: versioncache.Entry{Version: version},
			Lists: []versioncache.List{{Channel: "project.1", Event: "task.updated", IDKey: "task_id"}}, TabID: tab})
		var out []map[string]any
		for _, f := range sub.take(nil) {
			out = append(out, frameData(t, f))
		}
		if len(out) != 2 {
			t.Fatalf("%d frames, want the record's and the list's", len(out))
		}
		return out
	}

	const victim = "tab_0123456789abcdef01234567"
	for _, d := range save(victim, "2026-01-01T00:00:00.000001Z") {
		if d["tab_id"] != sha(victim) {
			t.Fatalf("tab_id %v, want the tag %s of the saving tab's id", d["tab_id"], sha(victim))
		}
	}
	// The attacker saw the victim's tag and sends it as its X-Tab-ID.
	seen := sha(victim)
	for _, d := range save(seen, "2026-01-01T00:00:00.000002Z") {
		if d["tab_id"] == seen || d["tab_id"] != sha(seen) {
			t.Fatalf("tab_id %v after a save with the victim's tag as X-Tab-ID: the victim's tab would ignore it", d["tab_id"])
		}
	}
	// Without X-Tab-ID: null. Whatever it holds: 32 characters, under 1 KB.
	if d := save("", "2026-01-01T00:00:00.000003Z"); d[0]["tab_id"] != nil {
		t.Fatalf("tab_id %v without X-Tab-ID", d[0]["tab_id"])
	}
	huge := strings.Repeat(`"\é`, 100_000)
	for _, d := range save(huge, "2026-01-01T00:00:00.000004Z") {
		if d["tab_id"] != sha(huge) {
			t.Fatalf("tab_id %v", d["tab_id"])
		}
		b, _ := json.Marshal(d)
		if len(b) >= 1024 {
			t.Fatalf("payload of %d bytes", len(b))
		}
	}
}
