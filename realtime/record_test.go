package realtime

import (
	"encoding/json"
	"strings"
	"testing"
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
	p.byName = strings.Repeat("é", 200)
	b = p.build("")
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || len(b) >= 1024 {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	if name, _ := m["updated_by_name"].(string); !strings.HasPrefix(name, "éé") || len(name) > maxNameBytes {
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
