package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// defaultStateName is the state of handlers with neither name nor site: a
// JSON configuration written by hand (the Caddyfile adapter always gives
// a handler its site).
const defaultStateName = "default"

// stateName is the name of the state (engine) h uses: its name, else its
// site's, else "default".
func (h *Handler) stateName() string {
	switch {
	case h.Name != "":
		return h.Name
	case h.Site != "":
		return "site " + h.Site
	}
	return defaultStateName
}

// siteOf returns the addresses of the site block that h's directive is in
// (https://caddyserver.com/docs/caddyfile/concepts#addresses), sorted and
// separated by spaces: Caddy refuses an address in two site blocks, so no
// two site blocks have the same. In a named route
// (https://caddyserver.com/docs/caddyfile/concepts#named-routes), which any
// site may invoke, there is none: ok is false.
//
// Caddy's httpcaddyfile.Helper holds that block but exports nothing of its
// addresses (https://pkg.go.dev/github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile#Helper),
// so they are read, read-only, from its field parentBlock with reflect. A
// Caddy whose Helper no longer has that field also gives ok false: a block
// without name is then refused (parseCaddyfile), never shared.
// TestSiteOfReadsCaddysHelper holds this to the Caddy in go.mod.
func siteOf(h httpcaddyfile.Helper) (site string, ok bool) {
	if h.IsNamedRoute() {
		return "", false
	}
	block := reflect.ValueOf(h).FieldByName("parentBlock")
	if !block.IsValid() || block.Type() != reflect.TypeFor[caddyfile.ServerBlock]() {
		return "", false
	}
	keys := block.FieldByName("Keys")
	addrs := make([]string, 0, keys.Len())
	for i := range keys.Len() {
		if a := keys.Index(i).FieldByName("Text").String(); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return "", false
	}
	slices.Sort(addrs)
	return strings.Join(slices.Compact(addrs), " "), true
}

// loadStates remembers, per configuration load, the first handler
// provisioned for each state, to hold the others of that state to its
// settings. A load is known by its metrics registry: Caddy makes one per
// config load (caddy.NewContext) and every module of the load is
// provisioned with it, whereas the context.Context differs per HTTP server
// (the http app adds the server to it). Entries leave when the load's
// context is cancelled (the config stopped, or failed to load).
var loadStates = struct {
	sync.Mutex
	m map[*prometheus.Registry]map[string]firstHandler
}{m: map[*prometheus.Registry]map[string]firstHandler{}}

// firstHandler is the first handler of a state in one load: how errors
// name it, and its state's settings.
type firstHandler struct {
	who      string
	settings map[string]string
}

// checkState refuses h when another handler of the same configuration load
// uses the same state with other state settings (sharedSettings): that
// state has one hub, one cache and one Redis ingress and cluster
// membership, and Apply would make the last block's settings win silently.
// Successive loads are not compared: a reload applies its settings to the
// state it keeps (engine.Engine.Apply).
func (h *Handler) checkState(ctx caddy.Context) error {
	load := ctx.GetMetricsRegistry()
	if load == nil || ctx.Context == nil {
		return nil
	}
	settings := h.sharedSettings()
	loadStates.Lock()
	defer loadStates.Unlock()
	states := loadStates.m[load]
	if states == nil {
		states = map[string]firstHandler{}
		loadStates.m[load] = states
		context.AfterFunc(ctx.Context, func() {
			loadStates.Lock()
			delete(loadStates.m, load)
			loadStates.Unlock()
		})
	}
	name := h.stateName()
	first, seen := states[name]
	if !seen {
		states[name] = firstHandler{who: h.describe(), settings: settings}
		return nil
	}
	if h.Name == "" && h.Site == "" {
		h.logger.Warn("recordsync: several handlers without name share one state (cache, authorisations, hub); "+
			"a JSON config does not say which site a handler serves: give each site's handlers their own name",
			zap.String("state", name))
	}
	var differ []string
	for _, k := range sortedKeys(first.settings, settings) {
		if first.settings[k] != settings[k] {
			differ = append(differ, k)
		}
	}
	if len(differ) == 0 {
		return nil
	}
	return fmt.Errorf("recordsync: %s and %s share one state (%s) but set %s differently; "+
		"blocks that share a state must set tenant, cache, websocket, auth_upstream, redis, cluster and grant_ttl alike, "+
		"or have names of their own",
		first.who, h.describe(), describeState(h), strings.Join(differ, ", "))
}

// describe names h in errors: by its site and name, else by its records.
func (h *Handler) describe() string {
	var b strings.Builder
	b.WriteString("the recordsync block")
	if h.Site != "" {
		fmt.Fprintf(&b, " of site %q", h.Site)
	}
	if h.Name != "" {
		fmt.Fprintf(&b, " named %q", h.Name)
	}
	if h.Site == "" {
		types := make([]string, 0, len(h.Records))
		for _, r := range h.Records {
			types = append(types, r.Type)
		}
		fmt.Fprintf(&b, " with records [%s]", strings.Join(types, " "))
	}
	return b.String()
}

// describeState says why two handlers share a state.
func describeState(h *Handler) string {
	switch {
	case h.Name != "":
		return fmt.Sprintf("the name %q", h.Name)
	case h.Site != "":
		return "the same site"
	}
	return "no name, no site"
}

// sharedSettings are the settings of h that belong to its state rather
// than to the handler (tenant, cache, websocket, auth_upstream, redis,
// cluster), each as "group.key" → its JSON value; values are compared,
// never shown (secrets are among them).
func (h *Handler) sharedSettings() map[string]string {
	out := map[string]string{}
	if h.Tenant != "" {
		out["tenant"] = h.Tenant
	}
	add := func(group string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			out[group] = err.Error()
			return
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(b, &fields); err != nil {
			out[group] = string(b)
			return
		}
		for k, raw := range fields {
			out[group+"."+k] = string(raw)
		}
	}
	add("cache", h.Cache)
	add("websocket", h.WebSocket)
	add("auth_upstream", h.AuthUpstream)
	add("redis", h.Redis)
	add("cluster", h.Cluster)
	add("webhooks", h.Webhooks)
	out["callers.grant_ttl"] = fmt.Sprint(int64(h.Callers.GrantTTL)) // the state's grant memory
	return out
}

// sortedKeys is the union of a's and b's keys, sorted.
func sortedKeys(a, b map[string]string) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// hostPlaceholders are the placeholders whose value is the request's Host
// (https://caddyserver.com/docs/json/apps/http/#docs: http.request.host is
// the host without the port, http.request.hostport the Host header; the
// Caddyfile's {host} and {hostport} are their shorthands,
// https://caddyserver.com/docs/caddyfile/concepts#placeholders).
var hostPlaceholders = map[string]bool{
	"{http.request.host}": true, "{http.request.hostport}": true,
	"{host}": true, "{hostport}": true,
}

// isHostTenant reports whether tenant is exactly one host placeholder:
// only such a tenant is normalised (normalizeHost). A tenant that merely
// holds the host among other text, or comes from a header or cookie, is
// used as the request gives it.
func isHostTenant(tenant string) bool {
	return hostPlaceholders[tenant]
}

// normalizeHost makes the spellings of one host one tenant key: without a
// port (and without an IPv6 literal's brackets), without the trailing dot
// of an absolute name (RFC 1034 §3.1: "example.com." is "example.com"),
// ASCII lower case (host names compare without regard to case, RFC 4343).
// Internationalised names are not converted (IDNA): a Unicode spelling and
// its xn-- form stay two tenants; browsers send the xn-- form.
func normalizeHost(s string) string {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	} else if len(s) > 1 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	s = strings.TrimSuffix(s, ".")
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
