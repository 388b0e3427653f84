package caddymodule

import (
	"strconv"

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

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var m Handler
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return &m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	recordsync {
//		name            <name>                  # shared state across blocks and reloads (default "default")
//		tenant          <placeholder>           # e.g. {http.request.host}
//		version_field   <gjson path>            # default data.updated_at
//		updated_by_id   <gjson path>
//		updated_by_name <gjson path>
//		client_version  <gjson path>            # default client_version
//		record <type> <pattern> {               # {id} required
//			list <channel> <event> <id_key>     # e.g. list project.{project} task.updated task_id
//		}
//		version_endpoint <pattern>|off          # default /api/v1/records/{type}/{id}/version
//		cache_size       <n>                    # default 100000
//		cache_ttl        <duration>             # default 10m
//		conflict_status  409|412                # default 409
//		max_body_size    <size>                 # default 1MiB
//		write_wait       <duration>             # default 10s
//		credential       <placeholder>          # default Authorization header, else session cookie
//		session_cookie   <name>                 # default laravel_session
//		laravel_app_key  <key>                  # e.g. {env.APP_KEY}
//		auth_ttl         <duration>             # default 60s
//
//		app_id     <id>
//		app_key    <key>
//		app_secret <secret>
//		ws_path    <path>                       # default /ws
//		allowed_origins <pattern...>            # default: same host only
//		import_header   <header>
//		activity_timeout            <duration>  # default 30s
//		max_connections_per_tenant  <n>         # default 0, no limit
//		max_channels_per_connection <n>         # default 100
//		max_message_size            <size>      # default 10000 bytes
//		auth_endpoint        <path>|off         # default /broadcasting/auth: sign the app's unsigned grants, bind every grant to its tenant
//		client_events        off|members        # default off (Echo whisper)
//		client_event_rate    <n>                # per socket and second, default 10
//		presence_max_members <n>                # default 100
//		auth_upstream        <path>             # e.g. /broadcasting/auth: recordsync asks the app for subscriptions without auth
//		auth_upstream_url    <url>              # default: back to the address the upgrade came in on
//		auth_upstream_ttl    <duration>         # default 30s
//		auth_upstream_concurrency <n>           # default 16
//		auth_upstream_timeout <duration>        # default 10s
//		send_queue                  <n>         # default 256 frames
//
//		redis                <url>              # e.g. redis://127.0.0.1:6379/0: Laravel's redis broadcaster
//		redis_prefix         <prefix>           # default laravel_database_
//		redis_tenant_pattern <pattern>          # e.g. "tenant{tenant}_laravel_database_"
//
//		cluster      <url>                      # e.g. redis://127.0.0.1:6379/0: act as one with the other instances
//		cluster_name <name>                     # default: name
//		cluster_lock_timeout <duration>         # default 10s: fencing timeout of the cluster-wide write lock
//		cluster_timeout <duration>              # default 10s: a silent instance's presence members leave, its socket entries expire
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		key := d.Val()
		if key != "record" && key != "allowed_origins" {
			if seen[key] {
				return d.Errf("duplicate subdirective %q", key)
			}
			seen[key] = true
		}
		var err error
		switch key {
		case "name":
			err = oneString(d, &h.Name)
		case "tenant":
			err = oneString(d, &h.Tenant)
		case "version_field":
			err = oneGJSONPath(d, &h.VersionField)
		case "updated_by_id":
			err = oneGJSONPath(d, &h.UpdatedByID)
		case "updated_by_name":
			err = oneGJSONPath(d, &h.UpdatedByName)
		case "client_version":
			err = oneGJSONPath(d, &h.ClientVersion)
		case "record":
			err = h.parseRecord(d)
		case "version_endpoint":
			if err = oneString(d, &h.VersionEndpoint); err == nil && h.VersionEndpoint != proxy.VersionEndpointOff {
				if perr := proxy.ValidatePattern(h.VersionEndpoint, "type", "id"); perr != nil {
					return d.Errf("version_endpoint: %v", perr)
				}
			}
		case "cache_size":
			err = oneInt64(d, &h.CacheSize)
		case "cache_ttl":
			err = oneDuration(d, &h.CacheTTL)
		case "conflict_status":
			var n int64
			if err = oneInt64(d, &n); err == nil {
				if err := proxy.ValidateConflictStatus(int(n)); err != nil {
					return d.Errf("conflict_status %v", err)
				}
				h.ConflictStatus = int(n)
			}
		case "max_body_size":
			err = oneSize(d, &h.MaxBodySize)
		case "write_wait":
			err = oneDuration(d, &h.WriteWait)
		case "credential":
			err = oneString(d, &h.Credential)
		case "session_cookie":
			err = oneString(d, &h.SessionCookie)
		case "laravel_app_key":
			err = oneString(d, &h.LaravelAppKey)
		case "auth_ttl":
			err = oneDuration(d, &h.AuthTTL)
		case "app_id":
			err = oneString(d, &h.AppID)
		case "app_key":
			err = oneString(d, &h.AppKey)
		case "app_secret":
			err = oneString(d, &h.AppSecret)
		case "ws_path":
			err = oneString(d, &h.WSPath)
		case "allowed_origins":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.AllowedOrigins = append(h.AllowedOrigins, args...)
		case "import_header":
			err = oneString(d, &h.ImportHeader)
		case "activity_timeout":
			err = oneDuration(d, &h.ActivityTimeout)
		case "max_connections_per_tenant":
			err = oneInt(d, &h.MaxConnectionsPerTenant)
		case "max_channels_per_connection":
			err = oneInt(d, &h.MaxChannelsPerConnection)
		case "max_message_size":
			err = oneSize(d, &h.MaxMessageSize)
		case "auth_endpoint":
			if err = oneString(d, &h.AuthEndpoint); err == nil && h.AuthEndpoint != "off" && (h.AuthEndpoint == "" || h.AuthEndpoint[0] != '/') {
				return d.Errf("auth_endpoint must be a path starting with / or off, got %q", h.AuthEndpoint)
			}
		case "client_events":
			if err = oneString(d, &h.ClientEvents); err == nil && h.ClientEvents != "off" && h.ClientEvents != "members" {
				return d.Errf("client_events must be off or members, got %q", h.ClientEvents)
			}
		case "client_event_rate":
			err = oneInt(d, &h.ClientEventRate)
		case "presence_max_members":
			err = oneInt(d, &h.PresenceMaxMembers)
		case "auth_upstream":
			if err = oneString(d, &h.AuthUpstream); err == nil && (h.AuthUpstream == "" || h.AuthUpstream[0] != '/') {
				return d.Errf("auth_upstream must be a path starting with /, got %q", h.AuthUpstream)
			}
		case "auth_upstream_url":
			err = oneString(d, &h.AuthUpstreamURL)
		case "auth_upstream_ttl":
			err = oneDuration(d, &h.AuthUpstreamTTL)
		case "auth_upstream_concurrency":
			if err = oneInt(d, &h.AuthUpstreamConcurrency); err == nil && h.AuthUpstreamConcurrency == 0 {
				return d.Errf("auth_upstream_concurrency must be at least 1")
			}
		case "auth_upstream_timeout":
			err = oneDuration(d, &h.AuthUpstreamTimeout)
		case "send_queue":
			err = oneInt(d, &h.SendQueue)
		case "redis":
			err = oneString(d, &h.Redis)
		case "redis_prefix":
			err = oneString(d, &h.RedisPrefix)
		case "redis_tenant_pattern":
			if err = oneString(d, &h.RedisTenantPattern); err == nil && !validTenantPattern(h.RedisTenantPattern) {
				return d.Errf("redis_tenant_pattern %q must hold {tenant} once", h.RedisTenantPattern)
			}
		case "cluster":
			err = oneString(d, &h.Cluster)
		case "cluster_name":
			err = oneString(d, &h.ClusterName)
		case "cluster_lock_timeout":
			err = oneDuration(d, &h.ClusterLockTimeout)
		case "cluster_timeout":
			err = oneDuration(d, &h.ClusterTimeout)
		default:
			return d.Errf("unrecognized subdirective %q", key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseRecord reads `record <type> <pattern> [{ list <channel> <event> <id_key> }]`.
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
		if d.Val() != "list" {
			return d.Errf("unrecognized record subdirective %q (want list)", d.Val())
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
	var s string
	if err := oneString(d, &s); err != nil {
		return err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return d.Errf("%s: %q is not a non-negative whole number", d.Val(), s)
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
