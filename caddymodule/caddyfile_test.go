package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`recordsync {
		tenant          {http.request.host}
		version_field   data.updated_at
		updated_by_id   data.updated_by
		updated_by_name data.updated_by_name
		client_version  client_version
		record flow        /api/v1/flows/{id}
		record projecttask /api/v1/projects/{project}/tasks/{id} {
			list project.{project} task.updated task_id
		}
		version_endpoint /api/v1/records/{type}/{id}/version
		cache_size 100000
		cache_ttl  10m
		conflict_status 412
		laravel_app_key {env.APP_KEY}
		max_body_size 2MiB
		app_id     {env.RECORDSYNC_APP_ID}
		app_key    {env.RECORDSYNC_APP_KEY}
		app_secret {env.RECORDSYNC_APP_SECRET}
		ws_path    /ws
		allowed_origins https://*.example.com https://example.com
		import_header X-Import
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Handler{
		Tenant: "{http.request.host}",
		Fields: FieldsConfig{
			Version:       "data.updated_at",
			UpdatedByID:   "data.updated_by",
			UpdatedByName: "data.updated_by_name",
			ClientVersion: "client_version",
		},
		Records: []Record{
			{Type: "flow", Pattern: "/api/v1/flows/{id}"},
			{Type: "projecttask", Pattern: "/api/v1/projects/{project}/tasks/{id}",
				Lists: []List{{Channel: "project.{project}", Event: "task.updated", IDKey: "task_id"}}},
		},
		VersionEndpoint: "/api/v1/records/{type}/{id}/version",
		Cache:           CacheConfig{Size: 100000, TTL: caddy.Duration(10 * time.Minute)},
		Guard:           GuardConfig{ConflictStatus: 412, MaxBodySize: 2 << 20},
		Callers:         CallersConfig{LaravelAppKey: "{env.APP_KEY}"},
		WebSocket: WebSocketConfig{
			AppID:          "{env.RECORDSYNC_APP_ID}",
			AppKey:         "{env.RECORDSYNC_APP_KEY}",
			AppSecret:      "{env.RECORDSYNC_APP_SECRET}",
			Path:           "/ws",
			AllowedOrigins: []string{"https://*.example.com", "https://example.com"},
		},
		ImportHeader: "X-Import",
	}
	got, _ := json.Marshal(h)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("parsed\n%s\nwant\n%s", got, exp)
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
	}{
		{"unknown subdirective", "recordsync {\n\tbogus 1\n}", `unrecognized subdirective "bogus"`},
		{"pattern without id", "recordsync {\n\trecord flow /api/v1/flows/{flow}\n}", "has no {id}"},
		{"bad status", "recordsync {\n\tconflict_status 400\n}", "conflict_status must be 409 or 412"},
		{"duplicate", "recordsync {\n\tcache_size 1\n\tcache_size 2\n}", `duplicate subdirective "cache_size"`},
		{"record twice", "recordsync {\n\trecord flow /a/{id}\n\trecord flow /b/{id}\n}", "declared twice"},
		{"bad list", "recordsync {\n\trecord t /t/{id} {\n\t\tlist only-two args\n\t}\n}", "list takes"},
		{"bad gjson path", "recordsync {\n\tversion_field data..updated_at\n}", "not a valid gjson path"},
		{"bad version endpoint", "recordsync {\n\tversion_endpoint /v/{id}\n}", "has no {type}"},
		{"bad duration", "recordsync {\n\tcache_ttl soon\n}", "not a positive duration"},
		{"bad size", "recordsync {\n\tmax_body_size lots\n}", "not a size"},
		{"argument on directive", "recordsync extra", "wrong argument count"},
		{"missing value", "recordsync {\n\ttenant\n}", "wrong argument count"},
		{"field_versions 0", "recordsync {\n\tcache {\n\t\tfield_versions 0\n\t}\n}", "from 1 to 100, or off"},
		{"field_versions word", "recordsync {\n\tfield_versions some\n}", "from 1 to 100, or off"},
		{"model without a class", "recordsync {\n\trecord t /t/{id} {\n\t\tmodel\n\t}\n}", "model takes"},
		{"merge_patches with an argument", "recordsync {\n\trecord t /t/{id} {\n\t\tmerge_patches yes\n\t}\n}", "wrong argument count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			// Errors name the line of the Caddyfile.
			if !strings.Contains(err.Error(), "Testfile:") {
				t.Errorf("error %q does not name the line", err)
			}
		})
	}
}

func TestUnmarshalCaddyfileRedis(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`recordsync {
		tenant {http.request.host.labels.1}
		redis redis://127.0.0.1:6379/0
		redis_prefix laravel_database_
		redis_tenant_pattern "tenant{tenant}_laravel_database_"
	}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h)
	want := `{"tenant":"{http.request.host.labels.1}","redis":{"url":"redis://127.0.0.1:6379/0","prefix":"laravel_database_","tenant_pattern":"tenant{tenant}_laravel_database_"}}`
	if string(got) != want {
		t.Fatalf("parsed\n%s\nwant\n%s", got, want)
	}
	for _, tc := range []struct{ input, want string }{
		{"recordsync {\n\tredis_tenant_pattern tenant_\n}", "must hold {tenant} once"},
		{"recordsync {\n\tredis a\n\tredis b\n}", `duplicate subdirective "redis"`},
		{"recordsync {\n\tredis\n}", "wrong argument count"},
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.input, err, tc.want)
		}
	}
}

func TestUnmarshalCaddyfileFields(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`recordsync {
		record flow /api/v1/flows/{id} {
			merge_patches
			model App.Models.Flow id name updated_at
		}
		record task /api/v1/tasks/{id}
		cache {
			field_versions off
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h)
	want := `{"records":[{"type":"flow","pattern":"/api/v1/flows/{id}","merge_patches":true,"model":{"class":"App.Models.Flow","fields":["id","name","updated_at"]}},{"type":"task","pattern":"/api/v1/tasks/{id}"}],"cache":{"field_versions":-1}}`
	if string(got) != want {
		t.Fatalf("parsed\n%s\nwant\n%s", got, want)
	}
}
