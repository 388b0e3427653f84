package caddymodule

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/recordsync/recordsync/proxy"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("recordsync", parseCaddyfile)
	// After encode: recordsync wraps handle, reverse_proxy and php_fastcgi
	// and sees the application's uncompressed bytes, while encode still
	// compresses what goes to the browser. Users need no `order` line.
	httpcaddyfile.RegisterDirectiveOrder("recordsync", httpcaddyfile.After, "encode")
}

// parseCaddyfile reads a recordsync block and gives it its site (siteOf):
// a block without name uses its site's state, shared by the site's blocks
// and no other site's. A block without name where the site is not known
// (in a named route, which any site may invoke) is refused.
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var m Handler
	site, known := siteOf(h)
	if err := m.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return &m, err
	}
	m.Site = site
	if m.Name == "" && !known {
		h.Reset() // the error names the directive's line
		h.Next()
		if h.IsNamedRoute() {
			return &m, h.Errf("recordsync in a named route needs a name: any site may invoke the route, and sites share a state only by name")
		}
		return &m, h.Errf("recordsync needs a name here: this Caddy does not say which site block it is in, and sites share a state only by name")
	}
	return &m, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	recordsync {
//		name    <name>                          # the state (cache, hub...) blocks share; default: the site's own
//		tenant  <placeholder>                   # e.g. {host} (a host is lower-cased, without port or trailing dot)
//		record <type> <pattern> {               # {id} required
//			list <channel> <event> <id_key>     # e.g. list project.{project} task.updated task_id
//			merge_patches                       # a stale PATCH of fields nobody changed goes on
//			model <class> [<field>...]          # e.g. model App.Models.Flow: also announce saves as FlowUpdated
//			inertia <props> [<pattern>...]      # e.g. inertia flow /flows/{id}: the record in Inertia pages' props.flow
//		}
//		version_endpoint <pattern>|off          # default /api/v1/records/{type}/{id}/version
//		auth_endpoint    <path...>|off          # default /broadcasting/auth /api/broadcasting/auth: sign the app's unsigned grants, bind every grant to its tenant
//		user_auth_endpoint <path...>|off        # default /broadcasting/user-auth /api/broadcasting/user-auth: the same for pusher:signin
//		import_header    <header>
//
//		fields {
//			version         <gjson path>        # default data.updated_at
//			updated_by_id   <gjson path>
//			updated_by_name <gjson path>
//			client_version  <gjson path>        # default client_version
//		}
//		cache {
//			size <n>                            # default 100000
//			ttl  <duration>                     # default 10m
//		}
//		guard {
//			conflict_status 409|412             # default 409
//			write_wait      <duration>          # default 10s
//			turn_timeout    <duration>          # default twice write_wait
//			max_body_size   <size>              # default 1MiB
//		}
//		callers {
//			credential      <placeholder>       # default: the Bearer token and the session (never Basic)
//			session_cookie  <name>              # default: found (with laravel_app_key), else laravel_session
//			laravel_app_key <key>               # e.g. {env.APP_KEY}
//			laravel_previous_keys <keys>        # e.g. {env.APP_PREVIOUS_KEYS}
//			auth_ttl        <duration>          # default 60s
//			grant_ttl       <duration>|off      # default 10m: the app's channel grants remembered per caller, for new sockets
//		}
//		websocket {
//			app_id     <id>
//			app_key    <key>
//			app_secret <secret>
//			path       <path>                   # default /ws
//			allowed_origins <pattern...>        # default: same host only
//			activity_timeout            <duration>  # default 30s
//			max_connections_per_tenant  <n>     # default 0, no limit
//			max_channels_per_connection <n>     # default 100
//			max_message_size            <size>  # default 10000 bytes
//			send_queue                  <n>     # default 256 frames
//			client_events        off|members    # default members (Echo whisper), as Reverb
//			client_event_rate    <n>            # per socket and second, default 10
//			presence_max_members <n>            # default 100
//		}
//		auth_upstream <path> {                  # e.g. /broadcasting/auth: recordsync asks the app for subscriptions without auth
//			url         <url>                   # default: back to the address the upgrade came in on
//			ttl         <duration>              # default 30s
//			concurrency <n>                     # default 16
//			timeout     <duration>              # default 10s
//		}
//		redis <url> {                           # e.g. redis://127.0.0.1:6379/0: Laravel's redis broadcaster
//			prefix         <prefix>             # default laravel_database_
//			tenant_pattern <pattern>            # e.g. "tenant{tenant}_laravel_database_"
//		}
//		cluster <url> {                         # e.g. redis://127.0.0.1:6379/0: act as one with the other instances
//			name         <name>                 # default: name and the database number, e.g. default-db0
//			secret       <secret>               # default app_secret: authenticates what the instances read from Redis
//			lock_timeout <duration>             # default 10s: fencing timeout of the cluster-wide write lock
//			timeout      <duration>             # default 10s: a silent instance's presence members leave, its socket entries expire
//		}
//		console <path> {                        # e.g. /_recordsync: the live console, closed to all but its viewers
//			viewer <name> <tenant pattern>... { # e.g. viewer alice a.example.com *.b.example.com; viewer ops *
//				token <secret>                  # optional: sign in with it (e.g. {env.RECORDSYNC_CONSOLE_TOKEN}), 16+ characters
//			}
//			user <placeholder>                  # default {http.auth.user.id}: the user an auth in front established
//			payloads                            # show events' data (default: names, channels, sizes only)
//		}
//		webhooks <url...> {                     # e.g. http://127.0.0.1:8080/pusher/webhooks; may hold {tenant}; repeatable
//			events <name...>                    # required, some of channel_occupied channel_vacated member_added member_removed client_event
//			host       <host>                   # the Host header, may hold {tenant}; default the URL's
//			batch      <duration>               # default 250ms
//			max_events <n>                      # per POST, default 100
//			queue      <n>                      # per URL, default 10000 events; past it the oldest are dropped
//			retry_for  <duration>               # default 5m
//			timeout    <duration>               # per POST, default 10s
//		}
//	}
//
// The argument of auth_upstream, redis and cluster may also be given in
// their block (path, url, url), and their block may be left out. Every
// setting in a block may also be given as the flat subdirective of the
// first configuration (flatNames: cache_size, ws_path, redis_prefix,
// cluster_name, ...); a setting given twice, either way, is an error.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	p := caddyfileParser{h: h, seen: map[string]string{}}
	for d.NextBlock(0) {
		if err := p.subdirective(d); err != nil {
			return err
		}
	}
	return nil
}

// groupArg names the setting that the argument of a group's directive
// sets (`redis <url> { ... }`), for the groups that take one.
var groupArg = map[string]string{"auth_upstream": "path", "redis": "url", "cluster": "url"}

// caddyfileParser reads the subdirectives of one recordsync block.
type caddyfileParser struct {
	h *Handler
	// seen maps each subdirective and each setting read to how it was
	// spelled, to refuse a second one.
	seen map[string]string
}

// once refuses a second id (a subdirective, or a setting as "=group.key"),
// naming how it was spelled both times; name is the subdirective as
// written.
func (p *caddyfileParser) once(d *caddyfile.Dispenser, id, spelling, name string) error {
	prev, ok := p.seen[id]
	if !ok {
		p.seen[id] = spelling
		return nil
	}
	if prev == spelling {
		return d.Errf("duplicate subdirective %q", name)
	}
	return d.Errf("%s and %s are the same setting; keep one", prev, spelling)
}

// subdirective reads one subdirective of the recordsync block.
func (p *caddyfileParser) subdirective(d *caddyfile.Dispenser) error {
	h, key := p.h, d.Val()
	if _, isGroup := groups[key]; isGroup {
		if err := p.once(d, key, key, key); err != nil {
			return err
		}
		return p.group(d, key)
	}
	if s, ok := flatNames[key]; ok {
		if s.key != "allowed_origins" {
			if err := p.once(d, "="+s.String(), key, key); err != nil {
				return err
			}
		}
		return h.parseSetting(d, s)
	}
	if key != "record" && key != "webhooks" {
		if err := p.once(d, key, key, key); err != nil {
			return err
		}
	}
	switch key {
	case "name":
		return oneString(d, &h.Name)
	case "tenant":
		return oneString(d, &h.Tenant)
	case "record":
		return h.parseRecord(d)
	case "version_endpoint":
		if err := oneString(d, &h.VersionEndpoint); err != nil {
			return err
		}
		if h.VersionEndpoint != proxy.VersionEndpointOff {
			if err := proxy.ValidatePattern(h.VersionEndpoint, "type", "id"); err != nil {
				return d.Errf("version_endpoint: %v", err)
			}
		}
	case "auth_endpoint", "user_auth_endpoint":
		paths := d.RemainingArgs()
		if len(paths) == 0 {
			return d.ArgErr()
		}
		for _, p := range paths {
			if (p != "off" || len(paths) > 1) && p[0] != '/' {
				return d.Errf("%s takes paths starting with / (one or more), or off; got %q", key, p)
			}
		}
		if key == "auth_endpoint" {
			h.AuthEndpoint = strings.Join(paths, " ")
		} else {
			h.UserAuthEndpoint = strings.Join(paths, " ")
		}
	case "import_header":
		return oneString(d, &h.ImportHeader)
	case "console":
		return h.parseConsole(d)
	case "webhooks":
		return h.parseWebhooks(d)
	default:
		return d.Errf("unrecognized subdirective %q", key)
	}
	return nil
}

// groups are the block subdirectives, each with the settings it holds.
var groups = func() map[string]map[string]bool {
	g := map[string]map[string]bool{}
	for _, s := range flatNames {
		if g[s.group] == nil {
			g[s.group] = map[string]bool{}
		}
		g[s.group][s.key] = true
	}
	return g
}()

// group reads `<group> [<arg>] [{ <key> <value>... }]`: at least the
// argument or the block, the argument only for auth_upstream, redis and
// cluster.
func (p *caddyfileParser) group(d *caddyfile.Dispenser, group string) error {
	args := d.RemainingArgs()
	argKey, takesArg := groupArg[group]
	if len(args) > 1 || (len(args) == 1 && !takesArg) {
		return d.ArgErr()
	}
	if len(args) == 1 {
		s := setting{group, argKey}
		if err := p.once(d, "="+s.String(), group+" <"+argKey+">", group); err != nil {
			return err
		}
		if err := p.h.setString(d, s, group, args[0]); err != nil {
			return err
		}
	}
	block := false
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		block = true
		key := d.Val()
		s := setting{group, key}
		if !groups[group][key] {
			return d.Errf("unrecognized %s subdirective %q", group, key)
		}
		if key != "allowed_origins" {
			if err := p.once(d, "="+s.String(), group+" { "+key+" }", key); err != nil {
				return err
			}
		}
		if err := p.h.parseSetting(d, s); err != nil {
			return err
		}
	}
	if len(args) == 0 && !block {
		return d.ArgErr()
	}
	return nil
}

// parseSetting reads the value of the setting s from the line of d's
// current token (s's name as written: flat, or a key in s's block), and
// checks it as far as it can be checked here.
func (h *Handler) parseSetting(d *caddyfile.Dispenser, s setting) error {
	name := d.Val()
	ws, au := &h.WebSocket, &h.AuthUpstream
	switch s.String() {
	case "fields.version":
		return oneGJSONPath(d, &h.Fields.Version)
	case "fields.updated_by_id":
		return oneGJSONPath(d, &h.Fields.UpdatedByID)
	case "fields.updated_by_name":
		return oneGJSONPath(d, &h.Fields.UpdatedByName)
	case "fields.client_version":
		return oneGJSONPath(d, &h.Fields.ClientVersion)

	case "cache.size":
		return oneInt64(d, &h.Cache.Size)
	case "cache.ttl":
		return oneDuration(d, &h.Cache.TTL)
	case "cache.field_versions":
		if !d.NextArg() {
			return d.ArgErr()
		}
		if d.Val() == "off" {
			h.Cache.FieldVersions = -1
		} else if n, err := strconv.Atoi(d.Val()); err != nil || n < 1 || n > 100 {
			return d.Errf("field_versions: want a number of versions from 1 to 100, or off; got %q", d.Val())
		} else {
			h.Cache.FieldVersions = n
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		return nil

	case "guard.conflict_status":
		var n int64
		if err := oneInt64(d, &n); err != nil {
			return err
		}
		if err := proxy.ValidateConflictStatus(int(n)); err != nil {
			return d.Errf("conflict_status %v", err)
		}
		h.Guard.ConflictStatus = int(n)
		return nil
	case "guard.write_wait":
		return oneDuration(d, &h.Guard.WriteWait)
	case "guard.turn_timeout":
		return oneDuration(d, &h.Guard.TurnTimeout)
	case "guard.max_body_size":
		return oneSize(d, &h.Guard.MaxBodySize)

	case "callers.credential":
		return oneString(d, &h.Callers.Credential)
	case "callers.session_cookie":
		return oneString(d, &h.Callers.SessionCookie)
	case "callers.laravel_app_key":
		return oneString(d, &h.Callers.LaravelAppKey)
	case "callers.laravel_previous_keys":
		return oneString(d, &h.Callers.LaravelPreviousKeys)
	case "callers.auth_ttl":
		return oneDuration(d, &h.Callers.AuthTTL)
	case "callers.grant_ttl":
		return parseGrantTTL(d, &h.Callers.GrantTTL)

	case "websocket.app_id":
		return oneString(d, &ws.AppID)
	case "websocket.app_key":
		return oneString(d, &ws.AppKey)
	case "websocket.app_secret":
		return oneString(d, &ws.AppSecret)
	case "websocket.path":
		return oneString(d, &ws.Path)
	case "websocket.allowed_origins":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		ws.AllowedOrigins = append(ws.AllowedOrigins, args...)
		return nil
	case "websocket.activity_timeout":
		return oneDuration(d, &ws.ActivityTimeout)
	case "websocket.max_connections_per_tenant":
		return oneInt(d, &ws.MaxConnectionsPerTenant)
	case "websocket.max_channels_per_connection":
		return oneInt(d, &ws.MaxChannelsPerConnection)
	case "websocket.max_message_size":
		return oneSize(d, &ws.MaxMessageSize)
	case "websocket.send_queue":
		return oneInt(d, &ws.SendQueue)
	case "websocket.client_events":
		if err := oneString(d, &ws.ClientEvents); err != nil {
			return err
		}
		if ws.ClientEvents != "off" && ws.ClientEvents != "members" {
			return d.Errf("client_events must be off or members, got %q", ws.ClientEvents)
		}
		return nil
	case "websocket.client_event_rate":
		return oneInt(d, &ws.ClientEventRate)
	case "websocket.presence_max_members":
		return oneInt(d, &ws.PresenceMaxMembers)

	case "auth_upstream.ttl":
		return oneDuration(d, &au.TTL)
	case "auth_upstream.concurrency":
		if err := oneInt(d, &au.Concurrency); err != nil {
			return err
		}
		if au.Concurrency == 0 {
			return d.Errf("%s must be at least 1", name)
		}
		return nil
	case "auth_upstream.timeout":
		return oneDuration(d, &au.Timeout)

	case "cluster.lock_timeout":
		return oneDuration(d, &h.Cluster.LockTimeout)
	case "cluster.timeout":
		return oneDuration(d, &h.Cluster.Timeout)
	}
	var v string
	if err := oneString(d, &v); err != nil {
		return err
	}
	return h.setString(d, s, name, v)
}

// setString sets the string setting s, written as name, to v, checked:
// the settings a group's argument may set (auth_upstream's path, redis's
// and cluster's url) and the other strings of those groups.
func (h *Handler) setString(d *caddyfile.Dispenser, s setting, name, v string) error {
	switch s.String() {
	case "auth_upstream.path":
		if v == "" || v[0] != '/' {
			return d.Errf("auth_upstream must be a path starting with /, got %q", v)
		}
		h.AuthUpstream.Path = v
	case "auth_upstream.url":
		h.AuthUpstream.URL = v
	case "redis.url":
		h.Redis.URL = v
	case "redis.prefix":
		h.Redis.Prefix = v
	case "redis.tenant_pattern":
		if !validTenantPattern(v) {
			return d.Errf("%s %q must hold {tenant} once", name, v)
		}
		h.Redis.TenantPattern = v
	case "cluster.url":
		h.Cluster.URL = v
	case "cluster.name":
		h.Cluster.Name = v
	case "cluster.secret":
		h.Cluster.Secret = v
	default:
		// Not reached: parseSetting and setString read every setting of
		// flatNames (TestEverySetting).
		return d.Errf("no parser for %s", s)
	}
	return nil
}

// parseRecord reads `record <type> <pattern> [{ list <channel> <event> <id_key>; merge_patches; model <class> [<field>...]; inertia <props> [<pattern>...] }]`.
func (h *Handler) parseRecord(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.Errf("record takes a type and a URL pattern, e.g. record flow /api/v1/flows/{id}")
	}
	rec := Record{Type: args[0], Pattern: args[1]}
	if err := proxy.ValidatePattern(rec.Pattern, "id"); err != nil {
		return d.Errf("record %s: %v", rec.Type, err)
	}
	for _, other := range h.Records {
		if other.Type == rec.Type {
			return d.Errf("record %s is declared twice", rec.Type)
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() == "model" {
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("model takes the model's class with dots and optionally the fields it holds, e.g. model App.Models.Flow id name updated_at")
			}
			rec.Model = &Model{Class: args[0], Fields: args[1:]}
			continue
		}
		if d.Val() == "inertia" {
			args := d.RemainingArgs()
			if len(args) == 0 || rec.Inertia != nil {
				return d.Errf("inertia takes, once, the record's path in the page's props and optionally the URL patterns of its pages, e.g. inertia flow /flows/{id}")
			}
			for _, p := range args[1:] {
				if err := proxy.ValidatePattern(p, "id"); err != nil {
					return d.Errf("record %s: inertia: %v", rec.Type, err)
				}
			}
			rec.Inertia = &Inertia{Props: args[0], Patterns: args[1:]}
			continue
		}
		if d.Val() == "merge_patches" {
			if d.NextArg() {
				return d.ArgErr()
			}
			rec.MergePatches = true
			continue
		}
		if d.Val() != "list" {
			return d.Errf("unrecognized record subdirective %q (want list, merge_patches, model or inertia)", d.Val())
		}
		la := d.RemainingArgs()
		if len(la) != 3 {
			return d.Errf("list takes a channel, an event and an id key, e.g. list project.{project} task.updated task_id")
		}
		rec.Lists = append(rec.Lists, List{Channel: la[0], Event: la[1], IDKey: la[2]})
	}
	h.Records = append(h.Records, rec)
	return nil
}

func oneString(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// oneGJSONPath reads one gjson path argument and checks it.
func oneGJSONPath(d *caddyfile.Dispenser, dst *string) error {
	key := d.Val()
	if err := oneString(d, dst); err != nil {
		return err
	}
	if err := proxy.ValidateGJSONPath(*dst); err != nil {
		return d.Errf("%s: %q is not a valid gjson path: %v", key, *dst, err)
	}
	return nil
}

func oneInt64(d *caddyfile.Dispenser, dst *int64) error {
	key := d.Val()
	var s string
	if err := oneString(d, &s); err != nil {
		return err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return d.Errf("%s: %q is not a non-negative whole number", key, s)
	}
	*dst = n
	return nil
}

func oneInt(d *caddyfile.Dispenser, dst *int) error {
	var n int64
	if err := oneInt64(d, &n); err != nil {
		return err
	}
	*dst = int(n)
	return nil
}

func oneDuration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var s string
	if err := oneString(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur <= 0 {
		return d.Errf("%q is not a positive duration (e.g. 10s, 10m)", s)
	}
	*dst = caddy.Duration(dur)
	return nil
}

func oneSize(d *caddyfile.Dispenser, dst *int64) error {
	var s string
	if err := oneString(d, &s); err != nil {
		return err
	}
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 {
		return d.Errf("%q is not a size (e.g. 1MiB, 10000)", s)
	}
	*dst = int64(n)
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
