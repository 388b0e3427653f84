package caddymodule

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/recordsync/recordsync/engine"
)

// everySetting is a value for every setting, by its flat name: as written
// in a Caddyfile and as JSON.
var everySetting = map[string]struct{ caddyfile, json string }{
	"version_field":   {"data.version", `"data.version"`},
	"updated_by_id":   {"data.by.id", `"data.by.id"`},
	"updated_by_name": {"data.by.name", `"data.by.name"`},
	"client_version":  {"loaded_version", `"loaded_version"`},

	"cache_size":     {"5000", `5000`},
	"cache_ttl":      {"5m", `"5m"`},
	"field_versions": {"5", `5`},

	"conflict_status": {"412", `412`},
	"write_wait":      {"3s", `3000000000`},
	"turn_timeout":    {"7s", `7000000000`},
	"max_body_size":   {"2MiB", `2097152`},

	"credential":            {"{http.request.header.X-User}", `"{http.request.header.X-User}"`},
	"session_cookie":        {"app_session", `"app_session"`},
	"laravel_app_key":       {"{env.APP_KEY}", `"{env.APP_KEY}"`},
	"laravel_previous_keys": {"{env.APP_PREVIOUS_KEYS}", `"{env.APP_PREVIOUS_KEYS}"`},
	"auth_ttl":              {"2m", `"2m"`},
	"grant_ttl":             {"10m", `"10m"`},

	"app_id":                      {"7", `"7"`},
	"app_key":                     {"k", `"k"`},
	"app_secret":                  {"s", `"s"`},
	"ws_path":                     {"/live", `"/live"`},
	"allowed_origins":             {"https://a.example https://*.b.example", `["https://a.example","https://*.b.example"]`},
	"activity_timeout":            {"20s", `"20s"`},
	"max_connections_per_tenant":  {"50", `50`},
	"max_channels_per_connection": {"20", `20`},
	"max_message_size":            {"20000", `20000`},
	"send_queue":                  {"64", `64`},
	"client_events":               {"members", `"members"`},
	"client_event_rate":           {"4", `4`},
	"presence_max_members":        {"30", `30`},

	"auth_upstream":             {"/broadcasting/auth", `"/broadcasting/auth"`},
	"auth_upstream_url":         {"http://127.0.0.1:8080", `"http://127.0.0.1:8080"`},
	"auth_upstream_ttl":         {"1m", `"1m"`},
	"auth_upstream_concurrency": {"4", `4`},
	"auth_upstream_timeout":     {"5s", `"5s"`},

	"redis":                {"redis://127.0.0.1:6379/0", `"redis://127.0.0.1:6379/0"`},
	"redis_prefix":         {"app_database_", `"app_database_"`},
	"redis_tenant_pattern": {`"tenant{tenant}_app_database_"`, `"tenant{tenant}_app_database_"`},

	"cluster":              {"redis://127.0.0.1:6379/1", `"redis://127.0.0.1:6379/1"`},
	"cluster_name":         {"shop", `"shop"`},
	"cluster_secret":       {"s3cret", `"s3cret"`},
	"cluster_lock_timeout": {"4s", `"4s"`},
	"cluster_timeout":      {"6s", `"6s"`},
}

// sortedFlatNames lists flatNames in a stable order.
func sortedFlatNames() []string {
	names := make([]string, 0, len(flatNames))
	for n := range flatNames {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// flatCaddyfile writes every setting with its flat subdirective.
func flatCaddyfile() string {
	var b strings.Builder
	b.WriteString("recordsync {\n\ttenant {http.request.host}\n")
	for _, n := range sortedFlatNames() {
		fmt.Fprintf(&b, "\t%s %s\n", n, everySetting[n].caddyfile)
	}
	b.WriteString("}")
	return b.String()
}

// groupedCaddyfile writes every setting in its group's block; with
// inArgs, auth_upstream's path and redis's and cluster's url are the
// directive's argument, else a key in the block.
func groupedCaddyfile(inArgs bool) string {
	blocks := map[string][]string{}
	args := map[string]string{}
	for _, n := range sortedFlatNames() {
		s := flatNames[n]
		if inArgs && groupArg[s.group] == s.key {
			args[s.group] = " " + everySetting[n].caddyfile
			continue
		}
		blocks[s.group] = append(blocks[s.group], fmt.Sprintf("\t\t%s %s\n", s.key, everySetting[n].caddyfile))
	}
	var b strings.Builder
	b.WriteString("recordsync {\n\ttenant {http.request.host}\n")
	for _, g := range []string{"fields", "cache", "guard", "callers", "websocket", "auth_upstream", "redis", "cluster"} {
		fmt.Fprintf(&b, "\t%s%s {\n%s\t}\n", g, args[g], strings.Join(blocks[g], ""))
	}
	b.WriteString("}")
	return b.String()
}

// flatJSONText writes every setting with its flat JSON key.
func flatJSONText() string {
	var parts []string
	for _, n := range sortedFlatNames() {
		parts = append(parts, fmt.Sprintf("%q:%s", n, everySetting[n].json))
	}
	return `{"tenant":"{http.request.host}",` + strings.Join(parts, ",") + "}"
}

// groupedJSONText writes every setting in its group's object.
func groupedJSONText() string {
	groups := map[string][]string{}
	for _, n := range sortedFlatNames() {
		s := flatNames[n]
		groups[s.group] = append(groups[s.group], fmt.Sprintf("%q:%s", s.key, everySetting[n].json))
	}
	var parts []string
	for g, kv := range groups {
		parts = append(parts, fmt.Sprintf("%q:{%s}", g, strings.Join(kv, ",")))
	}
	slices.Sort(parts)
	return `{"tenant":"{http.request.host}",` + strings.Join(parts, ",") + "}"
}

func parseCaddyfileText(t *testing.T, in string) Handler {
	t.Helper()
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatalf("%v\nin:\n%s", err, in)
	}
	return h
}

// unmarshalAsCaddy decodes a handler's JSON as Caddy loads a module.
func unmarshalAsCaddy(t *testing.T, in string) Handler {
	t.Helper()
	var h Handler
	if err := caddy.StrictUnmarshalJSON([]byte(in), &h); err != nil {
		t.Fatalf("%v\nin: %s", err, in)
	}
	return h
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEverySetting: each flat name has a setting that its group's block
// reads, every flat JSON key is one, and every setting reaches its own
// grouped JSON key, the same whichever way it was written.
func TestEverySetting(t *testing.T) {
	if len(everySetting) != len(flatNames) {
		t.Fatalf("everySetting has %d settings, flatNames %d", len(everySetting), len(flatNames))
	}
	flatKeys := map[string]bool{"auth_upstream": true, "redis": true, "cluster": true}
	ft := reflect.TypeFor[flatJSON]()
	for i := range ft.NumField() {
		flatKeys[strings.TrimSuffix(ft.Field(i).Tag.Get("json"), ",omitempty")] = true
	}
	for n, s := range flatNames {
		if !flatKeys[n] {
			t.Errorf("flat name %s is not a key of flatJSON", n)
		}
		if _, ok := everySetting[n]; !ok {
			t.Errorf("no sample value for %s", n)
		}
		if !groups[s.group][s.key] {
			t.Errorf("%s: group %s has no key %s", n, s.group, s.key)
		}
	}
	if len(flatKeys) != len(flatNames) {
		t.Errorf("flatJSON has %d keys, flatNames %d", len(flatKeys), len(flatNames))
	}

	want := mustJSON(t, parseCaddyfileText(t, groupedCaddyfile(true)))
	// Every setting is set, under its own grouped key.
	var grouped map[string]any
	json.Unmarshal([]byte(want), &grouped)
	for n, s := range flatNames {
		g, _ := grouped[s.group].(map[string]any)
		if g[s.key] == nil {
			t.Errorf("%s: %s not set in %s", n, s, want)
		}
	}
	for name, got := range map[string]Handler{
		"flat Caddyfile":              parseCaddyfileText(t, flatCaddyfile()),
		"grouped Caddyfile, no args":  parseCaddyfileText(t, groupedCaddyfile(false)),
		"flat JSON":                   unmarshalAsCaddy(t, flatJSONText()),
		"grouped JSON":                unmarshalAsCaddy(t, groupedJSONText()),
		"grouped JSON, then Marshal":  unmarshalAsCaddy(t, want),
		"flat and grouped JSON merge": unmarshalAsCaddy(t, mergeJSON(t, flatJSONText(), groupedJSONText())),
	} {
		if s := mustJSON(t, got); s != want {
			t.Errorf("%s:\n%s\nwant\n%s", name, s, want)
		}
	}
}

// mergeJSON puts the keys of two JSON objects into one.
func mergeJSON(t *testing.T, a, b string) string {
	t.Helper()
	var ma, mb map[string]json.RawMessage
	if err := json.Unmarshal([]byte(a), &ma); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &mb); err != nil {
		t.Fatal(err)
	}
	// auth_upstream, redis and cluster are in both: b's object holds the
	// setting of a's string too.
	for k, v := range mb {
		ma[k] = v
	}
	return mustJSON(t, ma)
}

// TestFlatAndGroupedJSON: the flat keys of the first configuration and the
// grouped objects read to the same Handler.
func TestFlatAndGroupedJSON(t *testing.T) {
	for _, tc := range []struct{ name, flat, grouped string }{
		{"fields",
			`{"version_field":"data.v","updated_by_id":"data.by","updated_by_name":"data.name","client_version":"cv"}`,
			`{"fields":{"version":"data.v","updated_by_id":"data.by","updated_by_name":"data.name","client_version":"cv"}}`},
		{"cache, durations as strings or nanoseconds",
			`{"cache_size":10,"cache_ttl":"5m"}`,
			`{"cache":{"size":10,"ttl":300000000000}}`},
		{"guard",
			`{"conflict_status":412,"write_wait":"2s","max_body_size":1024}`,
			`{"guard":{"conflict_status":412,"write_wait":"2s","max_body_size":1024}}`},
		{"callers",
			`{"credential":"{http.request.cookie.sid}","session_cookie":"sid","laravel_app_key":"{env.APP_KEY}","laravel_previous_keys":"{env.APP_PREVIOUS_KEYS}","auth_ttl":"30s"}`,
			`{"callers":{"credential":"{http.request.cookie.sid}","session_cookie":"sid","laravel_app_key":"{env.APP_KEY}","laravel_previous_keys":"{env.APP_PREVIOUS_KEYS}","auth_ttl":"30s"}}`},
		{"websocket",
			`{"app_id":"1","app_key":"k","app_secret":"s","ws_path":"/live","allowed_origins":["*"],"client_events":"members"}`,
			`{"websocket":{"app_id":"1","app_key":"k","app_secret":"s","path":"/live","allowed_origins":["*"],"client_events":"members"}}`},
		{"auth_upstream: a string, then an object",
			`{"auth_upstream":"/broadcasting/auth","auth_upstream_ttl":"30s","auth_upstream_concurrency":16}`,
			`{"auth_upstream":{"path":"/broadcasting/auth","ttl":"30s","concurrency":16}}`},
		{"redis: a string, then an object",
			`{"redis":"redis://127.0.0.1:6379/0","redis_prefix":"x_","redis_tenant_pattern":"t{tenant}_"}`,
			`{"redis":{"url":"redis://127.0.0.1:6379/0","prefix":"x_","tenant_pattern":"t{tenant}_"}}`},
		{"cluster: a string, then an object",
			`{"cluster":"redis://127.0.0.1:6379/1","cluster_name":"app1","cluster_lock_timeout":"5s","cluster_timeout":"10s"}`,
			`{"cluster":{"url":"redis://127.0.0.1:6379/1","name":"app1","lock_timeout":"5s","timeout":"10s"}}`},
		{"flat keys next to their group",
			`{"redis":{"url":"redis://r"},"redis_prefix":"x_","cache":{"ttl":"1m"},"cache_size":5}`,
			`{"redis":{"url":"redis://r","prefix":"x_"},"cache":{"size":5,"ttl":"1m"}}`},
		{"a setting given both ways, with the same value",
			`{"cache_size":5,"cache":{"size":5},"allowed_origins":["*"],"websocket":{"allowed_origins":["*"]}}`,
			`{"cache":{"size":5},"websocket":{"allowed_origins":["*"]}}`},
		{"null groups and top-level keys",
			`{"name":"app","tenant":"{http.request.host}","version_endpoint":"off","auth_endpoint":"off","import_header":"X-Import","redis":null,"records":[{"type":"flow","pattern":"/f/{id}"}]}`,
			`{"name":"app","tenant":"{http.request.host}","version_endpoint":"off","auth_endpoint":"off","import_header":"X-Import","records":[{"type":"flow","pattern":"/f/{id}"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flat, grouped := unmarshalAsCaddy(t, tc.flat), unmarshalAsCaddy(t, tc.grouped)
			if !reflect.DeepEqual(flat, grouped) {
				t.Fatalf("flat\n%+v\ngrouped\n%+v", flat, grouped)
			}
			if mustJSON(t, flat) == "{}" {
				t.Fatal("nothing was read")
			}
		})
	}
}

// TestJSONErrors: a setting given both ways with different values names
// both keys; unknown keys are refused as Caddy refuses them for any module.
func TestJSONErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"cache size both ways", `{"cache_size":5,"cache":{"size":6}}`, []string{"cache_size (5)", "cache.size (6)"}},
		{"ws_path both ways", `{"ws_path":"/a","websocket":{"path":"/b"}}`, []string{`ws_path ("/a")`, `websocket.path ("/b")`}},
		{"redis prefix both ways", `{"redis":{"url":"redis://r","prefix":"x_"},"redis_prefix":"y_"}`, []string{"redis_prefix", "redis.prefix"}},
		{"auth_upstream ttl both ways", `{"auth_upstream":{"path":"/a","ttl":"1s"},"auth_upstream_ttl":"2s"}`, []string{"auth_upstream_ttl (2s)", "auth_upstream.ttl (1s)"}},
		{"cluster lock timeout both ways", `{"cluster_lock_timeout":"5s","cluster":{"lock_timeout":"6s"}}`, []string{"cluster_lock_timeout (5s)", "cluster.lock_timeout (6s)"}},
		{"allowed origins both ways", `{"allowed_origins":["a"],"websocket":{"allowed_origins":["b"]}}`, []string{"allowed_origins", "websocket.allowed_origins"}},
		{"two settings both ways", `{"app_key":"a","cache_ttl":"1m","websocket":{"app_key":"b"},"cache":{"ttl":"2m"}}`, []string{"app_key", "websocket.app_key", "cache_ttl", "cache.ttl"}},
		{"unknown key", `{"bogus":1}`, []string{`json: unknown field "bogus"`}},
		{"unknown key in a group", `{"cache":{"bogus":1}}`, []string{`json: unknown field "bogus"`}},
		{"unknown key in redis", `{"redis":{"url":"redis://r","bogus":1}}`, []string{"redis", `json: unknown field "bogus"`}},
		{"flat key inside a group", `{"cluster":{"cluster_name":"x"}}`, []string{`json: unknown field "cluster_name"`}},
		{"redis neither object nor string", `{"redis":5}`, []string{"redis must be an object or, in the flat form, a URL string"}},
		{"a group as a string", `{"cache":"big"}`, []string{"cannot unmarshal string"}},
		{"a flat key of the wrong type", `{"cache_size":"big"}`, []string{"cannot unmarshal string", "cache_size"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := caddy.StrictUnmarshalJSON([]byte(tc.in), &h)
			if err == nil {
				t.Fatalf("no error; read %+v", h)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestFlatAndGroupedCaddyfile: the flat subdirectives and the blocks give
// the same JSON.
func TestFlatAndGroupedCaddyfile(t *testing.T) {
	for _, tc := range []struct{ name, flat, grouped string }{
		{"fields",
			"version_field data.v\nupdated_by_id data.by\nupdated_by_name data.name\nclient_version cv",
			"fields {\n\tversion data.v\n\tupdated_by_id data.by\n\tupdated_by_name data.name\n\tclient_version cv\n}"},
		{"cache",
			"cache_size 100000\ncache_ttl 10m",
			"cache {\n\tsize 100000\n\tttl 10m\n}"},
		{"guard",
			"conflict_status 412\nwrite_wait 5s\nmax_body_size 2MiB",
			"guard {\n\tconflict_status 412\n\twrite_wait 5s\n\tmax_body_size 2MiB\n}"},
		{"callers",
			"credential {http.request.cookie.sid}\nsession_cookie sid\nlaravel_app_key {env.APP_KEY}\nauth_ttl 30s",
			"callers {\n\tcredential {http.request.cookie.sid}\n\tsession_cookie sid\n\tlaravel_app_key {env.APP_KEY}\n\tauth_ttl 30s\n}"},
		{"websocket, allowed_origins repeated",
			"app_id 1\napp_key k\napp_secret s\nws_path /live\nallowed_origins https://a.example\nallowed_origins https://b.example\nsend_queue 64",
			"websocket {\n\tapp_id 1\n\tapp_key k\n\tapp_secret s\n\tpath /live\n\tallowed_origins https://a.example\n\tallowed_origins https://b.example\n\tsend_queue 64\n}"},
		{"auth_upstream",
			"auth_upstream /broadcasting/auth\nauth_upstream_ttl 30s\nauth_upstream_concurrency 16",
			"auth_upstream /broadcasting/auth {\n\tttl 30s\n\tconcurrency 16\n}"},
		{"auth_upstream, path in the block",
			"auth_upstream /broadcasting/auth\nauth_upstream_url http://127.0.0.1:8080",
			"auth_upstream {\n\tpath /broadcasting/auth\n\turl http://127.0.0.1:8080\n}"},
		{"auth_upstream without a block",
			"auth_upstream /broadcasting/auth",
			"auth_upstream {\n\tpath /broadcasting/auth\n}"},
		{"redis",
			"redis redis://127.0.0.1:6379/0\nredis_prefix x_\nredis_tenant_pattern \"t{tenant}_\"",
			"redis redis://127.0.0.1:6379/0 {\n\tprefix x_\n\ttenant_pattern \"t{tenant}_\"\n}"},
		{"redis, url in the block",
			"redis {env.REDIS_URL}\nredis_prefix x_",
			"redis {\n\turl {env.REDIS_URL}\n\tprefix x_\n}"},
		{"cluster",
			"cluster redis://127.0.0.1:6379/1\ncluster_name app1\ncluster_lock_timeout 5s\ncluster_timeout 10s",
			"cluster redis://127.0.0.1:6379/1 {\n\tname app1\n\tlock_timeout 5s\n\ttimeout 10s\n}"},
		{"flat and block for different settings of one group",
			"cache_size 5\ncache_ttl 1m",
			"cache_size 5\ncache {\n\tttl 1m\n}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flat := mustJSON(t, parseCaddyfileText(t, "recordsync {\n"+tc.flat+"\n}"))
			grouped := mustJSON(t, parseCaddyfileText(t, "recordsync {\n"+tc.grouped+"\n}"))
			if flat != grouped {
				t.Fatalf("flat\n%s\ngrouped\n%s", flat, grouped)
			}
			if flat == "{}" {
				t.Fatal("nothing was read")
			}
		})
	}
}

// TestGroupedCaddyfileErrors: the blocks check their values as the flat
// subdirectives do, with the Caddyfile's line, and a setting may be given
// once only, either way.
func TestGroupedCaddyfileErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"unknown key in a block", "cache {\n\tbogus 1\n}", `unrecognized cache subdirective "bogus"`},
		{"flat name in a block", "cluster redis://r {\n\tcluster_name x\n}", `unrecognized cluster subdirective "cluster_name"`},
		{"argument on a block without one", "cache 5 {\n\tttl 1m\n}", "wrong argument count"},
		{"two arguments", "redis redis://a redis://b", "wrong argument count"},
		{"neither argument nor block", "cache", "wrong argument count"},
		{"empty block", "redis {\n}", "wrong argument count"},
		{"key twice in a block", "cache {\n\tsize 1\n\tsize 2\n}", `duplicate subdirective "size"`},
		{"block twice", "cache {\n\tsize 1\n}\ncache {\n\tttl 1m\n}", `duplicate subdirective "cache"`},
		{"flat then block", "cache_size 1\ncache {\n\tsize 2\n}", "cache_size and cache { size } are the same setting"},
		{"block then flat", "websocket {\n\tpath /a\n}\nws_path /b", "websocket { path } and ws_path are the same setting"},
		{"argument and block key", "redis redis://a {\n\turl redis://b\n}", "redis <url> and redis { url } are the same setting"},
		{"flat redis then its block", "redis redis://a\nredis {\n\tprefix x_\n}", `duplicate subdirective "redis"`},
		{"bad duration", "cache {\n\tttl soon\n}", "not a positive duration"},
		{"bad size", "guard {\n\tmax_body_size lots\n}", "not a size"},
		{"bad number", "websocket {\n\tclient_event_rate fast\n}", `client_event_rate: "fast" is not a non-negative whole number`},
		{"bad status", "guard {\n\tconflict_status 400\n}", "conflict_status must be 409 or 412"},
		{"bad gjson path", "fields {\n\tversion data..updated_at\n}", "not a valid gjson path"},
		{"bad client_events", "websocket {\n\tclient_events all\n}", "client_events must be off or members"},
		{"bad auth_upstream argument", "auth_upstream broadcasting/auth {\n\tttl 5s\n}", "auth_upstream must be a path starting with /"},
		{"bad auth_upstream path", "auth_upstream {\n\tpath broadcasting/auth\n}", "auth_upstream must be a path starting with /"},
		{"zero concurrency", "auth_upstream /a {\n\tconcurrency 0\n}", "concurrency must be at least 1"},
		{"bad tenant pattern", "redis redis://r {\n\ttenant_pattern tenant_\n}", `tenant_pattern "tenant_" must hold {tenant} once`},
		{"missing value", "cluster redis://r {\n\tname\n}", "wrong argument count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("recordsync {\n" + tc.in + "\n}"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "Testfile:") {
				t.Errorf("error %q does not name the line", err)
			}
		})
	}
}

// TestMarshalRoundTrip: what a Handler marshals to (the grouped form, what
// `caddy adapt` emits) reads back to the same Handler.
func TestMarshalRoundTrip(t *testing.T) {
	for name, h := range map[string]Handler{
		"zero":      {},
		"every":     parseCaddyfileText(t, groupedCaddyfile(true)),
		"from flat": unmarshalAsCaddy(t, `{"redis":"redis://r","cluster":"redis://c","auth_upstream":"/a","ws_path":"/w"}`),
		"records": {
			Name:    "app",
			Records: []Record{{Type: "t", Pattern: "/t/{p}/{id}", Lists: []List{{Channel: "p.{p}", Event: "t.updated", IDKey: "t_id"}}}},
			Cluster: ClusterConfig{Name: "shop"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			b := mustJSON(t, h)
			for _, flat := range []string{`"ws_path"`, `"cache_size"`, `"redis_prefix"`, `"cluster_name"`} {
				if strings.Contains(b, flat) {
					t.Errorf("marshalled %s has the flat key %s", b, flat)
				}
			}
			back := unmarshalAsCaddy(t, b)
			if !reflect.DeepEqual(back, h) {
				t.Fatalf("marshalled %s\nread back %+v\nwant %+v", b, back, h)
			}
			if again := mustJSON(t, back); again != b {
				t.Fatalf("marshalled again %s, first %s", again, b)
			}
		})
	}
}

// TestAdaptFlatAndGroupedCaddyfile: `caddy adapt` of a site with the flat
// subdirectives and of the same site with the blocks is the same JSON, the
// grouped one, and Caddy's strict loading reads it back.
func TestAdaptFlatAndGroupedCaddyfile(t *testing.T) {
	adapt := func(block string) []byte {
		t.Helper()
		site := caddyfile.Format([]byte(":8080 {\n" + block + "\nrespond ok\n}\n"))
		out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(site, nil)
		if err != nil || len(warnings) > 0 {
			t.Fatalf("adapt: %v %v\n%s", err, warnings, site)
		}
		return out
	}
	flat, grouped := adapt(flatCaddyfile()), adapt(groupedCaddyfile(true))
	if string(flat) != string(grouped) {
		t.Fatalf("flat\n%s\ngrouped\n%s", flat, grouped)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []json.RawMessage `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(flat, &cfg); err != nil {
		t.Fatal(err)
	}
	raw := cfg.Apps.HTTP.Servers["srv0"].Routes[0].Handle[0]
	var m map[string]any
	json.Unmarshal(raw, &m)
	if m["handler"] != "recordsync" || m["redis"] == nil || m["ws_path"] != nil {
		t.Fatalf("adapted handler %s", raw)
	}
	delete(m, "handler") // as Caddy does before it decodes the module
	h := unmarshalAsCaddy(t, mustJSON(t, m))
	want := parseCaddyfileText(t, groupedCaddyfile(true))
	want.Site = ":8080" // the adapter gives a block its site
	if got, want := mustJSON(t, h), mustJSON(t, want); got != want {
		t.Fatalf("read back\n%s\nwant\n%s", got, want)
	}
}

// The guard's durations reach the proxy's options.
func TestGuardDurationsReachTheProxy(t *testing.T) {
	h := Handler{Guard: GuardConfig{WriteWait: caddy.Duration(3 * time.Second), TurnTimeout: caddy.Duration(7 * time.Second)}}
	eng, err := engine.Open(engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	o := h.proxyOptions(eng)
	if o.WriteWait != 3*time.Second || o.TurnTimeout != 7*time.Second {
		t.Fatalf("write_wait %v, turn_timeout %v", o.WriteWait, o.TurnTimeout)
	}
}
