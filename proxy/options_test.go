package proxy

import (
	"strings"
	"testing"
	"time"
)

func TestNewValidation(t *testing.T) {
	store := newStore(t)
	flow := RouteSpec{Type: "flow", Pattern: "/api/v1/flows/{id}"}
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr string
	}{
		{"ok", func(o *Options) {}, ""},
		{"no store", func(o *Options) { o.Store = nil }, "store is required"},
		{"no id", func(o *Options) { o.Routes = []RouteSpec{{Type: "flow", Pattern: "/api/v1/flows/{flow}"}} }, "record flow: pattern \"/api/v1/flows/{flow}\" has no {id}"},
		{"duplicate type", func(o *Options) { o.Routes = append(o.Routes, RouteSpec{Type: "flow", Pattern: "/x/{id}"}) }, "record flow: type defined twice"},
		{"empty type", func(o *Options) { o.Routes = []RouteSpec{{Pattern: "/x/{id}"}} }, "invalid record type"},
		{"bad list", func(o *Options) {
			o.Routes = []RouteSpec{{Type: "t", Pattern: "/x/{id}", Lists: []ListSpec{{Channel: "p.{project}", Event: "e", IDKey: "k"}}}}
		}, "record t: list channel"},
		{"bad version field", func(o *Options) { o.VersionField = "data..updated_at" }, "version_field"},
		{"bad client version", func(o *Options) { o.ClientVersionField = "a b" }, "client_version"},
		{"bad by id", func(o *Options) { o.UpdatedByIDField = "." }, "updated_by_id"},
		{"bad by name", func(o *Options) { o.UpdatedByNameField = `x\` }, "updated_by_name"},
		{"status 412", func(o *Options) { o.ConflictStatus = 412 }, ""},
		{"status 400", func(o *Options) { o.ConflictStatus = 400 }, "conflict_status"},
		{"negative body", func(o *Options) { o.MaxBodyBytes = -1 }, "max_body_bytes"},
		{"negative wait", func(o *Options) { o.WriteWait = -time.Second }, "write_wait"},
		{"negative turn", func(o *Options) { o.TurnTimeout = -time.Second }, "turn_timeout"},
		{"negative ttl", func(o *Options) { o.AuthTTL = -time.Second }, "auth_ttl"},
		{"negative entries", func(o *Options) { o.AuthEntries = -1 }, "auth_entries"},
		{"bad endpoint", func(o *Options) { o.VersionEndpoint = "/records/{type}/version" }, "version_endpoint"},
		{"endpoint off", func(o *Options) { o.VersionEndpoint = "off" }, ""},
		{"bad app key", func(o *Options) { o.LaravelAppKey = "base64:!!" }, "laravel_app_key"},
		{"short app key", func(o *Options) { o.LaravelAppKey = "short" }, "laravel_app_key"},
		{"raw app key", func(o *Options) { o.LaravelAppKey = strings.Repeat("k", 32) }, ""},
		{"bad import header", func(o *Options) { o.ImportHeader = "X Import" }, "import_header"},
		{"bad cookie", func(o *Options) { o.SessionCookie = "a;b" }, "session_cookie"},
		{"the CSRF cookie", func(o *Options) { o.SessionCookie = "XSRF-TOKEN" }, "session_cookie"},
		{"previous keys", func(o *Options) {
			o.LaravelAppKey = strings.Repeat("k", 32)
			o.LaravelPreviousKeys = strings.Repeat("p", 32) + "," + strings.Repeat("q", 32)
		}, ""},
		{"previous key of another size", func(o *Options) {
			o.LaravelAppKey = strings.Repeat("k", 32)
			o.LaravelPreviousKeys = strings.Repeat("p", 16)
		}, "laravel_previous_keys"},
		{"previous keys without the app key", func(o *Options) { o.LaravelPreviousKeys = strings.Repeat("p", 32) }, "laravel_previous_keys"},
		{"gjson modifiers ok", func(o *Options) { o.VersionField = `data.meta|@reverse` }, ""},
		{"escaped dot ok", func(o *Options) { o.VersionField = `data.updated\.at` }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Routes: []RouteSpec{flow}, Store: store}
			tt.edit(&o)
			h, err := New(o)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				h.Close()
				return
			}
			if err == nil {
				h.Close()
				t.Fatalf("accepted, want error %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.ImportHeader = "x-import"; o.AuthEntries = 0 })
	o := h.opts
	if o.VersionField != DefaultVersionField || o.ClientVersionField != DefaultClientVersionField ||
		o.VersionEndpoint != DefaultVersionEndpoint || o.ConflictStatus != DefaultConflictStatus ||
		o.MaxBodyBytes != DefaultMaxBodyBytes || o.WriteWait != DefaultWriteWait || o.AuthTTL != DefaultAuthTTL ||
		o.AuthEntries != DefaultAuthEntries || o.SessionCookie != "" || o.ImportHeader != "X-Import" ||
		o.TurnTimeout != 2*DefaultWriteWait {
		t.Fatalf("defaults not applied: %+v", o)
	}
	h, _ = newTestHandler(t, func(o *Options) { o.WriteWait = time.Second })
	if h.opts.TurnTimeout != 2*time.Second {
		t.Fatalf("turn_timeout %s with write_wait 1s, want twice", h.opts.TurnTimeout)
	}
	if h.poll == nil {
		t.Fatal("version endpoint not compiled")
	}
}

// The Handler keeps its own copy of the routes.
func TestNewCopiesRoutes(t *testing.T) {
	routes := []RouteSpec{{Type: "flow", Pattern: "/api/v1/flows/{id}"}}
	h, err := New(Options{Routes: routes, Store: newStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	routes[0].Type = "changed"
	if m, ok := h.Match("/api/v1/flows/1"); !ok || m.Type != "flow" || m.Spec.Type != "flow" {
		t.Fatalf("match after caller edit: %+v %v", m, ok)
	}
}
