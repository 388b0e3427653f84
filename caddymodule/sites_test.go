package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// adapt adapts a Caddyfile to Caddy's JSON.
func adapt(t *testing.T, text string) ([]byte, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), nil)
	return out, err
}

// recordsyncHandlers returns every recordsync handler of an adapted config,
// read back as Caddy reads a module (without its "handler" key).
func recordsyncHandlers(t *testing.T, cfg []byte) []Handler {
	t.Helper()
	var doc any
	if err := json.Unmarshal(cfg, &doc); err != nil {
		t.Fatal(err)
	}
	var out []Handler
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "recordsync" {
				delete(v, "handler")
				out = append(out, unmarshalAsCaddy(t, mustJSON(t, v)))
				return
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	return out
}

// TestEachSiteItsOwnState: the Caddyfile adapter gives each recordsync
// block its site block's addresses, so that blocks without name share a
// state within their site (a block repeated in several routes, a snippet
// imported once) and not with another site (the same snippet imported in
// two sites); a name is what makes a state shared.
func TestEachSiteItsOwnState(t *testing.T) {
	cfg, err := adapt(t, `(rs) {
	recordsync {
		record flow /api/v1/flows/{id}
	}
}
http://b.test:8080 {
	recordsync {
		record flow /api/v1/flows/{id}
	}
	respond ok
}
http://www.a.test:8080, http://a.test:8080 {
	handle /api/* {
		recordsync {
			record flow /api/v1/flows/{id}
		}
		respond api
	}
	route /other/* {
		import rs
		respond other
	}
}
http://c.test:8080 {
	recordsync {
		name shared
		record flow /api/v1/flows/{id}
	}
	respond ok
}
http://d.test:8080 {
	import rs
	respond ok
}
`)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, h := range recordsyncHandlers(t, cfg) {
		states = append(states, h.stateName()+" | "+h.Site)
	}
	slices.Sort(states)
	want := []string{
		"shared | http://c.test:8080",
		"site http://a.test:8080 http://www.a.test:8080 | http://a.test:8080 http://www.a.test:8080",
		"site http://a.test:8080 http://www.a.test:8080 | http://a.test:8080 http://www.a.test:8080",
		"site http://b.test:8080 | http://b.test:8080",
		"site http://d.test:8080 | http://d.test:8080",
	}
	if !slices.Equal(states, want) {
		t.Fatalf("states | sites\n%s\nwant\n%s", strings.Join(states, "\n"), strings.Join(want, "\n"))
	}

	// A JSON handler with neither name nor site keeps the shared default.
	if got := (&Handler{}).stateName(); got != "default" {
		t.Errorf("no name, no site: state %q", got)
	}
}

// TestNamedRouteNeedsAName: a named route may be invoked by any site, so a
// recordsync block in one has no site of its own and must be named.
func TestNamedRouteNeedsAName(t *testing.T) {
	const route = `&(rs) {
	recordsync {
		%s
		record flow /api/v1/flows/{id}
	}
}
http://a.test:8080 {
	invoke rs
}
`
	_, err := adapt(t, fmt.Sprintf(route, ""))
	if err == nil || !strings.Contains(err.Error(), "named route needs a name") || !strings.Contains(err.Error(), "Caddyfile:2") {
		t.Fatalf("unnamed block in a named route: %v", err)
	}
	cfg, err := adapt(t, fmt.Sprintf(route, "name rs"))
	if err != nil {
		t.Fatal(err)
	}
	hs := recordsyncHandlers(t, cfg)
	if len(hs) != 1 || hs[0].stateName() != "rs" || hs[0].Site != "" {
		t.Fatalf("named block in a named route: %+v", hs)
	}
}

// TestSiteOfReadsCaddysHelper holds siteOf, which reads a field Caddy does
// not export, to the Caddy this module builds with: a site's addresses
// come out sorted and once each.
func TestSiteOfReadsCaddysHelper(t *testing.T) {
	cfg, err := adapt(t, "http://z.test:8080 http://a.test:8080, http://m.test:8080 {\n\trecordsync\n\trespond ok\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	hs := recordsyncHandlers(t, cfg)
	if len(hs) != 1 || hs[0].Site != "http://a.test:8080 http://m.test:8080 http://z.test:8080" {
		t.Fatalf("handlers %+v", hs)
	}
}

// validate loads config as `caddy validate` does (provisioned, not
// started) and returns its error.
func validate(t *testing.T, config []byte) error {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal(config, &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&cfg)
}

// TestSharedStateSettingsMustAgree: blocks that share a state (one name,
// or one site without names) must agree on the state's settings, else the
// config is refused naming both blocks and the settings, never their
// values; blocks that agree share it.
func TestSharedStateSettingsMustAgree(t *testing.T) {
	site := func(addr, lines string) string {
		return fmt.Sprintf("%s {\n\trecordsync {\n\t\trecord flow /api/v1/flows/{id}\n%s\n\t}\n\trespond ok\n}\n", addr, lines)
	}
	for _, tc := range []struct {
		name, caddyfile string
		want            []string // in the error; none: valid
	}{
		{"one name, other secrets",
			site("http://a.test:8080", "\t\tname app\n\t\tapp_key k\n\t\tapp_secret first-secret") +
				site("http://b.test:8080", "\t\tname app\n\t\tapp_key k\n\t\tapp_secret second-secret"),
			[]string{`site "http://a.test:8080" named "app"`, `site "http://b.test:8080" named "app"`,
				`the name "app"`, "websocket.app_secret"}},
		{"one name, other grant_ttl",
			site("http://a.test:8080", "\t\tname app\n\t\tgrant_ttl 10m") + site("http://b.test:8080", "\t\tname app"),
			[]string{`the name "app"`, "callers.grant_ttl"}},
		{"one name, same settings", site("http://a.test:8080", "\t\tname app\n\t\tapp_key k\n\t\tapp_secret s") +
			site("http://b.test:8080", "\t\tname app\n\t\tapp_key k\n\t\tapp_secret s"), nil},
		{"one site, other cache and tenant", `http://a.test:8080 {
	handle /api/* {
		recordsync {
			record flow /api/v1/flows/{id}
			cache_size 10
		}
		respond api
	}
	recordsync {
		tenant {host}
		record task /api/v2/tasks/{id}
	}
	respond ok
}
`, []string{`the recordsync block of site "http://a.test:8080" and the recordsync block of site "http://a.test:8080"`,
			"the same site", "cache.size, tenant"}},
		{"two sites, no names, other secrets", site("http://a.test:8080", "\t\tapp_key k\n\t\tapp_secret first-secret") +
			site("http://b.test:8080", "\t\tapp_key k\n\t\tapp_secret second-secret"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := adapt(t, tc.caddyfile)
			if err != nil {
				t.Fatal(err)
			}
			err = validate(t, cfg)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), "-secret") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}

	// JSON handlers with neither name nor site share "default": they too
	// must agree.
	jsonCfg := func(tenantB string) []byte {
		return []byte(fmt.Sprintf(`{"apps":{"http":{"servers":{
			"a":{"listen":[":8081"],"routes":[{"handle":[{"handler":"recordsync","records":[{"type":"flow","pattern":"/f/{id}"}]}]}]},
			"b":{"listen":[":8082"],"routes":[{"handle":[{"handler":"recordsync","tenant":%q,"records":[{"type":"flow","pattern":"/f/{id}"}]}]}]}
		}}}}`, tenantB))
	}
	if err := validate(t, jsonCfg("")); err != nil {
		t.Errorf("JSON, no names, same settings: %v", err)
	}
	if err := validate(t, jsonCfg("{http.request.host}")); err == nil || !strings.Contains(err.Error(), "tenant") ||
		!strings.Contains(err.Error(), "no name, no site") {
		t.Errorf("JSON, no names, other tenants: %v", err)
	}
}

// siteApp is one site's application: record 1 of type flow, whose GET and
// version endpoint answer its version and whose PUT (client_version
// checked, as the Laravel app does) saves a newer one.
type siteApp struct {
	mu      sync.Mutex
	version string
	next    []string
}

func (a *siteApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPut {
		var body struct {
			ClientVersion string `json:"client_version"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		if body.ClientVersion != "" && body.ClientVersion != a.version {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, `{"success":false,"data":{"updated_at":%q}}`, a.version)
			return
		}
		a.version, a.next = a.next[0], a.next[1:]
	}
	fmt.Fprintf(w, `{"success":true,"data":{"id":1,"updated_at":%q}}`, a.version)
}

// startTestCaddySites is startTestCaddy with whole site blocks; {PORT} in
// sites stands for the HTTP port.
func startTestCaddySites(t *testing.T, sites string) (base string, port int) {
	t.Helper()
	adminPort, httpPort := freePort(t), freePort(t)
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort})
	tester.InitServer(fmt.Sprintf(`{
		admin localhost:%d
		http_port %d
		skip_install_trust
		grace_period 1ns
		persist_config off
	}
	%s`, adminPort, httpPort, strings.ReplaceAll(sites, "{PORT}", fmt.Sprint(httpPort))), "caddyfile")
	return fmt.Sprintf("http://127.0.0.1:%d", httpPort), httpPort
}

// siteRequest sends a request to the site of host through Caddy at base,
// as the caller "Bearer token-u".
func siteRequest(t *testing.T, base, host, method, path, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Host = host
	req.Header.Set("Authorization", "Bearer token-u")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestSitesDoNotShareState: two sites behind one Caddy, each with a
// recordsync block without name and the same settings, are two apps: a
// save on site A is not learned on site B, whose version polls and stale
// write checks answer from B's own versions.
func TestSitesDoNotShareState(t *testing.T) {
	const vB, vA1, vB1 = "2026-01-01T00:00:00.000000Z", "2026-06-01T00:00:00.000000Z", "2026-01-02T00:00:00.000000Z"
	appA := httptest.NewServer(&siteApp{version: "2026-01-01T00:00:00.000000Z", next: []string{vA1}})
	defer appA.Close()
	appB := httptest.NewServer(&siteApp{version: vB, next: []string{vB1}})
	defer appB.Close()
	block := "\trecordsync {\n\t\trecord flow /api/v1/flows/{id}\n\t}\n"
	base, _ := startTestCaddySites(t, fmt.Sprintf("http://a.test:{PORT} {\n%s\treverse_proxy %s\n}\nhttp://b.test:{PORT} {\n%s\treverse_proxy %s\n}\n",
		block, appA.Listener.Addr(), block, appB.Listener.Addr()))

	// The caller reads record 1 on B (B learns vB and that the caller may
	// read it), then a save on A makes A's record 1 vA1.
	if resp := siteRequest(t, base, "b.test", http.MethodGet, "/api/v1/flows/1", ""); resp.Header.Get("ETag") != `"`+vB+`"` {
		t.Fatalf("GET on B: %d, ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	if resp := siteRequest(t, base, "a.test", http.MethodPut, "/api/v1/flows/1", `{"name":"x"}`); resp.Header.Get("ETag") != `"`+vA1+`"` {
		t.Fatalf("PUT on A: %d, ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}

	// B's poll answers B's version, from B's cache.
	resp := siteRequest(t, base, "b.test", http.MethodGet, "/api/v1/records/flow/1/version", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") != `"`+vB+`"` || resp.Header.Get("X-Recordsync-Cache") != "hit" {
		t.Fatalf("poll on B: %d, ETag %q, cache %q; want 200, B's version %s, hit",
			resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("X-Recordsync-Cache"), vB)
	}
	// A write on B that loaded B's current version reaches B's app.
	resp = siteRequest(t, base, "b.test", http.MethodPut, "/api/v1/flows/1", `{"client_version":"`+vB+`"}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") != `"`+vB1+`"` {
		t.Fatalf("current write on B: %d (cache %q), ETag %q; want 200 from B's app", resp.StatusCode,
			resp.Header.Get("X-Recordsync-Cache"), resp.Header.Get("ETag"))
	}
}

// TestHostTenantSpellingsAreOneTenant: with tenant {host}, the spellings
// of one host (case, a trailing dot, a port) are one tenant: a version
// learned through one is answered through the others.
func TestHostTenantSpellingsAreOneTenant(t *testing.T) {
	const v = "2026-01-01T00:00:00.000000Z"
	app := httptest.NewServer(&siteApp{version: v})
	defer app.Close()
	base, port := startTestCaddySites(t, fmt.Sprintf(`:{PORT} {
	recordsync {
		tenant {host}
		record flow /api/v1/flows/{id}
	}
	reverse_proxy %s
}
`, app.Listener.Addr()))
	if resp := siteRequest(t, base, "App.Example.Test", http.MethodGet, "/api/v1/flows/1", ""); resp.Header.Get("ETag") != `"`+v+`"` {
		t.Fatalf("GET: %d, ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	for _, host := range []string{"app.example.test", "APP.EXAMPLE.TEST.", fmt.Sprintf("app.Example.test.:%d", port)} {
		resp := siteRequest(t, base, host, http.MethodGet, "/api/v1/records/flow/1/version", "")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Recordsync-Cache") != "hit" {
			t.Errorf("poll as %s: %d, cache %q; want 200 hit", host, resp.StatusCode, resp.Header.Get("X-Recordsync-Cache"))
		}
	}
	// Another host is another tenant.
	if resp := siteRequest(t, base, "other.example.test", http.MethodGet, "/api/v1/records/flow/1/version", ""); resp.Header.Get("X-Recordsync-Cache") == "hit" {
		t.Errorf("another host's poll answered from the cache")
	}
}

// TestRequestTenant: which tenants are normalised (exactly one host
// placeholder) and how.
func TestRequestTenant(t *testing.T) {
	for _, tc := range []struct{ tenant, host, want string }{
		{"{http.request.host}", "App.Example.COM", "app.example.com"},
		{"{http.request.host}", "app.example.com.", "app.example.com"},
		{"{http.request.host}", "App.Example.COM.:8443", "app.example.com"},
		{"{http.request.hostport}", "App.Example.COM.:8443", "app.example.com"},
		{"{http.request.hostport}", "app.example.com", "app.example.com"},
		{"{http.request.hostport}", "[2001:DB8::1]:443", "2001:db8::1"},
		{"{http.request.host}", "[2001:DB8::1]", "2001:db8::1"},
		{"{http.request.host}", "xn--BCHER-kva.example", "xn--bcher-kva.example"},
		// Not the host alone: as the placeholder gives it.
		{"{http.request.header.X-Tenant}", "a.test", "Tenant-A."},
		{"t-{http.request.host}", "A.test", "t-A.test"},
	} {
		h := &Handler{Tenant: tc.tenant}
		h.hostTenant = isHostTenant(h.Tenant) // as Provision does
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = tc.host
		r.Header.Set("X-Tenant", "Tenant-A.")
		repl := caddyhttp.NewTestReplacer(r)
		r = r.WithContext(contextWithReplacer(r, repl))
		if got := h.requestInfo(r).Tenant; got != tc.want {
			t.Errorf("tenant %q, Host %q: %q, want %q", tc.tenant, tc.host, got, tc.want)
		}
	}
}

func contextWithReplacer(r *http.Request, repl *caddy.Replacer) context.Context {
	return context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
}
