package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// FieldsConfig says where a record's version and its author are in the
// application's JSON (gjson paths, https://github.com/tidwall/gjson).
type FieldsConfig struct {
	// Version is the gjson path of the version in a record's JSON.
	// Default: "data.updated_at". Flat name: version_field.
	Version string `json:"version,omitempty"`
	// UpdatedByID is the gjson path of the id of who saved a record. Optional.
	UpdatedByID string `json:"updated_by_id,omitempty"`
	// UpdatedByName is the gjson path of the name of who saved a record. Optional.
	UpdatedByName string `json:"updated_by_name,omitempty"`
	// ClientVersion is the gjson path of the version the client loaded, in
	// the JSON body of a PUT or PATCH. Default: "client_version".
	ClientVersion string `json:"client_version,omitempty"`
}

// CacheConfig bounds the version cache.
type CacheConfig struct {
	// Size bounds how many record versions are held. It is read when the
	// cache is first made; a reload keeps the cache (and its size).
	// Default: 100000. Flat name: cache_size.
	Size int64 `json:"size,omitempty"`
	// TTL is how long a version is held after it was last learned.
	// Default: 10m. Flat name: cache_ttl.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// FieldVersions is how many versions of a record keep the
	// fingerprints of its fields (for changed_fields and conflict
	// details): the latest and the ones before it. -1 (Caddyfile: off)
	// keeps none. Read when the cache is first made, like Size.
	// Default: 3.
	FieldVersions int `json:"field_versions,omitempty"`
}

// GuardConfig tunes the guard: how stale writes are answered, and which
// bodies are inspected.
type GuardConfig struct {
	// ConflictStatus is the status of a stale write answered from the cache:
	// 409 (the Laravel app's contract) or 412 (RFC 9110 If-Match). Default: 409.
	ConflictStatus int `json:"conflict_status,omitempty"`
	// WriteWait is how long a conditional write waits for an earlier write to
	// the same record before it is answered 503. Default: 10s.
	WriteWait caddy.Duration `json:"write_wait,omitempty"`
	// TurnTimeout bounds how long a conditional write holds its record's
	// turn (and with it every other conditional write to that record): past
	// it the next writer gets the turn, whatever the late write does.
	// Default: twice write_wait.
	TurnTimeout caddy.Duration `json:"turn_timeout,omitempty"`
	// MaxBodySize is the largest request or response body that is buffered
	// for inspection, in bytes; larger bodies stream through unchecked.
	// Default: 1 MiB.
	MaxBodySize int64 `json:"max_body_size,omitempty"`
}

// CallersConfig says how callers are recognised for the authorisation
// memory (what the application allowed each caller to read).
type CallersConfig struct {
	// Credential is a placeholder giving what identifies a caller for the
	// authorisation memory, e.g. "{http.request.cookie.laravel_session}".
	// It is evaluated per request and taken as it is: it must name one
	// user. Default: who Laravel authenticates, a Bearer token
	// (Request::bearerToken, when it is a token) and the session (with
	// laravel_app_key, only a verified one), both together when both are
	// sent; Basic credentials and Bearer null, undefined or empty are never
	// a caller, and a request with only those is always sent to the app.
	Credential string `json:"credential,omitempty"`
	// SessionCookie pins the name of Laravel's session cookie (never
	// XSRF-TOKEN). Default: with laravel_app_key, the cookie that verifies as
	// a Laravel session under its own name, whatever the app calls it
	// (Laravel derives it from APP_NAME, differently by version); without
	// it, "laravel_session".
	SessionCookie string `json:"session_cookie,omitempty"`
	// LaravelAppKey is Laravel's APP_KEY ("base64:..."). With it the session
	// cookie is decrypted and verified (AES-128/256-CBC or -GCM), and callers
	// are identified by their stable session id. Placeholders are evaluated
	// at provisioning, e.g. "{env.APP_KEY}".
	LaravelAppKey string `json:"laravel_app_key,omitempty"`
	// LaravelPreviousKeys is Laravel's APP_PREVIOUS_KEYS (Laravel 11 and
	// later): earlier keys, comma-separated, each written as APP_KEY is,
	// tried in order after laravel_app_key, so that sessions begun before a
	// key rotation are still read. Placeholders are evaluated at
	// provisioning, e.g. "{env.APP_PREVIOUS_KEYS}". Default: none.
	LaravelPreviousKeys string `json:"laravel_previous_keys,omitempty"`
	// AuthTTL is how long an answer of the application (allowed or denied)
	// to a caller for a record is remembered. Default: 60s.
	AuthTTL caddy.Duration `json:"auth_ttl,omitempty"`
	// GrantTTL is how long the application's channel grants are
	// remembered for a caller (the grant memory: README, "Grant memory"),
	// so that the caller's new sockets are granted without asking the app
	// again, cluster-wide with cluster; counted from the app's answer. It
	// must not exceed the app's SESSION_LIFETIME. Negative: off. Default:
	// 5m.
	GrantTTL caddy.Duration `json:"grant_ttl,omitempty"`
}

// WebSocketConfig is the websocket hub: Pusher's protocol, which Laravel
// Echo and pusher-js speak.
type WebSocketConfig struct {
	// AppID, AppKey and AppSecret are the Pusher-style credentials Laravel
	// also holds. Without AppKey the websocket hub is off. Placeholders are
	// evaluated at provisioning, e.g. "{env.REVERB_APP_KEY}".
	AppID     string `json:"app_id,omitempty"`
	AppKey    string `json:"app_key,omitempty"`
	AppSecret string `json:"app_secret,omitempty"`
	// Path is where the websocket is served: at Path/app/{app_key}
	// (what pusher-js builds) and at Path; the browser kit is served at
	// Path/recordsync.js and .mjs. Default: "/ws". Flat name: ws_path.
	Path string `json:"path,omitempty"`
	// AllowedOrigins are the Origin patterns a websocket upgrade may come
	// from ("https://*.example.com", "*"). Default: the same host only.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// ActivityTimeout is the activity_timeout announced to clients and the
	// idle time after which the server pings. Default: 30s.
	ActivityTimeout caddy.Duration `json:"activity_timeout,omitempty"`
	// MaxConnectionsPerTenant bounds the sockets of one tenant. Default: 0 (no limit).
	MaxConnectionsPerTenant int `json:"max_connections_per_tenant,omitempty"`
	// MaxChannelsPerConnection bounds the subscriptions of one socket. Default: 100.
	MaxChannelsPerConnection int `json:"max_channels_per_connection,omitempty"`
	// MaxMessageSize bounds one websocket message from a client, in bytes. Default: 10000.
	MaxMessageSize int64 `json:"max_message_size,omitempty"`
	// SendQueue is how many frames may wait for a slow socket before it is
	// disconnected (4100). Default: 256.
	SendQueue int `json:"send_queue,omitempty"`
	// ClientEvents says who may send client-* events (Echo's whisper):
	// "off" (answered with pusher:error 4301) or "members" (sockets
	// subscribed to a private- or presence- channel, to the others there;
	// presence events carry the sender's user_id), as Reverb does.
	// Default: "members".
	ClientEvents string `json:"client_events,omitempty"`
	// ClientEventRate bounds the client events of one socket per second;
	// past it they are dropped with pusher:error 4301. Default: 10.
	ClientEventRate int `json:"client_event_rate,omitempty"`
	// PresenceMaxMembers bounds the members (distinct users, any number of
	// sockets each) of one presence channel; a new member over it gets a
	// subscription error (LimitReached, 429). Default: 100, as Pusher.
	PresenceMaxMembers int `json:"presence_max_members,omitempty"`
}

// AuthUpstreamConfig lets recordsync itself ask the application's channel
// authorisation for subscriptions that come without "auth".
type AuthUpstreamConfig struct {
	// Path, when set, is the path of the app's channel authorisation (e.g.
	// "/broadcasting/auth") that recordsync itself asks when a socket
	// subscribes to a private- or presence- channel without "auth" (clients
	// that cannot call the endpoint): a POST of socket_id and channel_name
	// with the websocket upgrade's Cookie and Authorization headers, back to
	// the address and Host the upgrade came in on (or URL). A 2xx grants
	// (presence: the answer's channel_data), anything else refuses with the
	// app's status. Default: none (such subscriptions get AuthError 401).
	// Flat form: "auth_upstream": "<path>".
	Path string `json:"path,omitempty"`
	// URL is the base URL the auth requests go to instead, e.g.
	// "http://127.0.0.1:8080" (with the upgrade's Host header).
	// Default: the address the upgrade came in on.
	URL string `json:"url,omitempty"`
	// TTL is how long an answer is reused for the same credentials and
	// channel. Default: 30s.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// Concurrency bounds the auth requests in flight; others queue.
	// Default: 16.
	Concurrency int `json:"concurrency,omitempty"`
	// Timeout bounds one authorisation, queueing included; past it the
	// subscription is refused with status 503. Default: 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// RedisConfig is the Redis ingress: what Laravel's redis broadcaster
// publishes is delivered to the sockets.
type RedisConfig struct {
	// URL is the URL of the Redis that Laravel's redis broadcaster
	// publishes to, e.g. "redis://127.0.0.1:6379/0" (placeholders are
	// evaluated at provisioning, e.g. "{env.REDIS_URL}"). recordsync
	// subscribes to it and delivers the app's broadcasts to its sockets;
	// when Redis goes away it keeps serving and resubscribes by itself. A
	// reload with the same redis settings keeps the subscription; other
	// settings restart it. Needs app_key. Default: none (no Redis ingress).
	// Flat form: "redis": "<url>".
	URL string `json:"url,omitempty"`
	// Prefix is Laravel's database.redis.options.prefix, stripped from
	// Redis channel names. Default: "laravel_database_".
	Prefix string `json:"prefix,omitempty"`
	// TenantPattern is a per-tenant prefix in place of Prefix, with
	// {tenant} where the tenant key stands, e.g.
	// "tenant{tenant}_laravel_database_". With tenant set and no pattern,
	// no Redis message has a readable tenant: all are dropped (and counted),
	// never sent to every tenant. Default: none.
	TenantPattern string `json:"tenant_pattern,omitempty"`
}

// ClusterConfig makes several Caddy instances behind one load balancer act
// as one.
type ClusterConfig struct {
	// URL is the URL of the Redis through which several Caddy instances
	// behind one load balancer act as one, e.g. "redis://127.0.0.1:6379/0"
	// (placeholders are evaluated at provisioning): every publish reaches
	// the subscribers of every instance once, versions learned on one are
	// known to all, presence is cluster-wide. When Redis goes away each
	// instance keeps serving its own sockets and recovers by itself. Give
	// every instance the same settings (and the same redis ingress, which
	// each instance receives by itself). Default: none (everything stays in
	// this process). Flat form: "cluster": "<url>".
	URL string `json:"url,omitempty"`
	// Name namespaces the cluster's Redis keys and channel: instances with
	// the same cluster Redis and name form one cluster. Default: the
	// handler's name and the URL's database number, "{name}-db{N}" (Redis
	// pub/sub ignores the database number: without it a staging on /1 and
	// a production on /0 would share one channel).
	Name string `json:"name,omitempty"`
	// Secret authenticates what the instances read back from Redis (bus
	// messages, socket registry entries, the versions lock holders leave);
	// every instance needs the same one. Placeholders are evaluated at
	// provisioning. Default: websocket's app_secret; without either the
	// cluster refuses to start.
	Secret string `json:"secret,omitempty"`
	// LockTimeout is the fencing timeout of the cluster-wide write lock:
	// the longest a conditional write holds its record across all
	// instances. Keep it above the upstream's slowest write (one that
	// overruns it loses the lock, and for that write the app's own check is
	// the authority again; counted in recordsync_cluster_lock_expired_total)
	// and not above guard's write_wait (writers queued behind a crashed
	// instance's lock then get it before they give up). Default: 10s.
	LockTimeout caddy.Duration `json:"lock_timeout,omitempty"`
	// Timeout is how long an instance may stay silent before the others
	// forget its presence members (their users leave) and its sockets'
	// entries in the cluster's socket registry expire (then no instance
	// signs channel authorisations for them); instances say they are
	// alive, and rewrite their socket entries, every fifth of it.
	// Default: 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// setting is where one setting lives in the grouped configuration: a
// group (the JSON object, the Caddyfile block) and a key inside it.
type setting struct{ group, key string }

func (s setting) String() string { return s.group + "." + s.key }

// flatNames maps every flat name of the first, ungrouped configuration (a
// JSON key and a Caddyfile subdirective) onto its setting. They stay
// accepted. "auth_upstream", "redis" and "cluster" were strings then and
// are objects (JSON) or blocks (Caddyfile) now; their string (argument)
// is the setting named here.
var flatNames = map[string]setting{
	"version_field":   {"fields", "version"},
	"updated_by_id":   {"fields", "updated_by_id"},
	"updated_by_name": {"fields", "updated_by_name"},
	"client_version":  {"fields", "client_version"},

	"cache_size":     {"cache", "size"},
	"cache_ttl":      {"cache", "ttl"},
	"field_versions": {"cache", "field_versions"},

	"conflict_status": {"guard", "conflict_status"},
	"write_wait":      {"guard", "write_wait"},
	"turn_timeout":    {"guard", "turn_timeout"},
	"max_body_size":   {"guard", "max_body_size"},

	"credential":            {"callers", "credential"},
	"session_cookie":        {"callers", "session_cookie"},
	"laravel_app_key":       {"callers", "laravel_app_key"},
	"laravel_previous_keys": {"callers", "laravel_previous_keys"},
	"auth_ttl":              {"callers", "auth_ttl"},
	"grant_ttl":             {"callers", "grant_ttl"},

	"app_id":                      {"websocket", "app_id"},
	"app_key":                     {"websocket", "app_key"},
	"app_secret":                  {"websocket", "app_secret"},
	"ws_path":                     {"websocket", "path"},
	"allowed_origins":             {"websocket", "allowed_origins"},
	"activity_timeout":            {"websocket", "activity_timeout"},
	"max_connections_per_tenant":  {"websocket", "max_connections_per_tenant"},
	"max_channels_per_connection": {"websocket", "max_channels_per_connection"},
	"max_message_size":            {"websocket", "max_message_size"},
	"send_queue":                  {"websocket", "send_queue"},
	"client_events":               {"websocket", "client_events"},
	"client_event_rate":           {"websocket", "client_event_rate"},
	"presence_max_members":        {"websocket", "presence_max_members"},

	"auth_upstream":             {"auth_upstream", "path"},
	"auth_upstream_url":         {"auth_upstream", "url"},
	"auth_upstream_ttl":         {"auth_upstream", "ttl"},
	"auth_upstream_concurrency": {"auth_upstream", "concurrency"},
	"auth_upstream_timeout":     {"auth_upstream", "timeout"},

	"redis":                {"redis", "url"},
	"redis_prefix":         {"redis", "prefix"},
	"redis_tenant_pattern": {"redis", "tenant_pattern"},

	"cluster":              {"cluster", "url"},
	"cluster_name":         {"cluster", "name"},
	"cluster_secret":       {"cluster", "secret"},
	"cluster_lock_timeout": {"cluster", "lock_timeout"},
	"cluster_timeout":      {"cluster", "timeout"},
}

// flatJSON holds the flat JSON keys of the first configuration, except
// auth_upstream, redis and cluster (handlerJSON reads those).
type flatJSON struct {
	VersionField  string `json:"version_field,omitempty"`
	UpdatedByID   string `json:"updated_by_id,omitempty"`
	UpdatedByName string `json:"updated_by_name,omitempty"`
	ClientVersion string `json:"client_version,omitempty"`

	CacheSize     int64          `json:"cache_size,omitempty"`
	CacheTTL      caddy.Duration `json:"cache_ttl,omitempty"`
	FieldVersions int            `json:"field_versions,omitempty"`

	ConflictStatus int            `json:"conflict_status,omitempty"`
	WriteWait      caddy.Duration `json:"write_wait,omitempty"`
	TurnTimeout    caddy.Duration `json:"turn_timeout,omitempty"`
	MaxBodySize    int64          `json:"max_body_size,omitempty"`

	Credential      string         `json:"credential,omitempty"`
	SessionCookie   string         `json:"session_cookie,omitempty"`
	LaravelAppKey   string         `json:"laravel_app_key,omitempty"`
	LaravelPrevious string         `json:"laravel_previous_keys,omitempty"`
	AuthTTL         caddy.Duration `json:"auth_ttl,omitempty"`
	GrantTTL        caddy.Duration `json:"grant_ttl,omitempty"`

	AppID                    string         `json:"app_id,omitempty"`
	AppKey                   string         `json:"app_key,omitempty"`
	AppSecret                string         `json:"app_secret,omitempty"`
	WSPath                   string         `json:"ws_path,omitempty"`
	AllowedOrigins           []string       `json:"allowed_origins,omitempty"`
	ActivityTimeout          caddy.Duration `json:"activity_timeout,omitempty"`
	MaxConnectionsPerTenant  int            `json:"max_connections_per_tenant,omitempty"`
	MaxChannelsPerConnection int            `json:"max_channels_per_connection,omitempty"`
	MaxMessageSize           int64          `json:"max_message_size,omitempty"`
	SendQueue                int            `json:"send_queue,omitempty"`
	ClientEvents             string         `json:"client_events,omitempty"`
	ClientEventRate          int            `json:"client_event_rate,omitempty"`
	PresenceMaxMembers       int            `json:"presence_max_members,omitempty"`

	AuthUpstreamURL         string         `json:"auth_upstream_url,omitempty"`
	AuthUpstreamTTL         caddy.Duration `json:"auth_upstream_ttl,omitempty"`
	AuthUpstreamConcurrency int            `json:"auth_upstream_concurrency,omitempty"`
	AuthUpstreamTimeout     caddy.Duration `json:"auth_upstream_timeout,omitempty"`

	RedisPrefix        string `json:"redis_prefix,omitempty"`
	RedisTenantPattern string `json:"redis_tenant_pattern,omitempty"`

	ClusterName        string         `json:"cluster_name,omitempty"`
	ClusterSecret      string         `json:"cluster_secret,omitempty"`
	ClusterLockTimeout caddy.Duration `json:"cluster_lock_timeout,omitempty"`
	ClusterTimeout     caddy.Duration `json:"cluster_timeout,omitempty"`
}

// plainHandler is Handler without its methods (no UnmarshalJSON).
type plainHandler Handler

// handlerJSON is every key a Handler's JSON may have: the grouped ones
// (plainHandler) and the flat ones (flatJSON). auth_upstream, redis and
// cluster are read raw, at the outer level, which hides plainHandler's
// fields of the same names (encoding/json: the shallower field wins).
type handlerJSON struct {
	plainHandler
	flatJSON
	AuthUpstream json.RawMessage `json:"auth_upstream,omitempty"`
	Redis        json.RawMessage `json:"redis,omitempty"`
	Cluster      json.RawMessage `json:"cluster,omitempty"`
}

// UnmarshalJSON reads the grouped configuration and, as well, every flat
// key of the first one (flatNames). auth_upstream, redis and cluster are
// objects in the grouped form and strings (the path, the URL) in the flat
// one. A setting given both ways must have the same value. Unknown keys
// are an error, as Caddy's strict decoding makes them for any module.
func (h *Handler) UnmarshalJSON(b []byte) error {
	aux := handlerJSON{plainHandler: plainHandler(*h)}
	if err := strictJSON(b, &aux); err != nil {
		return err
	}
	g := &aux.plainHandler
	if err := errors.Join(
		groupOrString(aux.AuthUpstream, "auth_upstream", "a path", &g.AuthUpstream, &g.AuthUpstream.Path),
		groupOrString(aux.Redis, "redis", "a URL", &g.Redis, &g.Redis.URL),
		groupOrString(aux.Cluster, "cluster", "a URL", &g.Cluster, &g.Cluster.URL),
	); err != nil {
		return err
	}
	if err := g.takeFlat(&aux.flatJSON); err != nil {
		return err
	}
	*h = Handler(*g)
	return nil
}

// strictJSON decodes b into v as Caddy decodes a module's configuration:
// unknown keys are an error.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// groupOrString reads raw, the value of key: an object into group, or, in
// the flat form, a string into str.
func groupOrString[G any](raw json.RawMessage, key, what string, group *G, str *string) error {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil
	case raw[0] == '{':
		if err := strictJSON(raw, group); err != nil {
			return fmt.Errorf("recordsync: %s: %w", key, err)
		}
		return nil
	case raw[0] == '"':
		return json.Unmarshal(raw, str)
	}
	return fmt.Errorf("recordsync: %s must be an object or, in the flat form, %s string; got %s", key, what, raw)
}

// takeFlat moves the flat keys into their groups; a setting given both
// ways with different values is an error naming both keys.
func (h *plainHandler) takeFlat(f *flatJSON) error {
	var errs []error
	take(&errs, "version_field", f.VersionField, &h.Fields.Version)
	take(&errs, "updated_by_id", f.UpdatedByID, &h.Fields.UpdatedByID)
	take(&errs, "updated_by_name", f.UpdatedByName, &h.Fields.UpdatedByName)
	take(&errs, "client_version", f.ClientVersion, &h.Fields.ClientVersion)

	take(&errs, "cache_size", f.CacheSize, &h.Cache.Size)
	take(&errs, "cache_ttl", f.CacheTTL, &h.Cache.TTL)
	take(&errs, "field_versions", f.FieldVersions, &h.Cache.FieldVersions)

	take(&errs, "conflict_status", f.ConflictStatus, &h.Guard.ConflictStatus)
	take(&errs, "write_wait", f.WriteWait, &h.Guard.WriteWait)
	take(&errs, "turn_timeout", f.TurnTimeout, &h.Guard.TurnTimeout)
	take(&errs, "max_body_size", f.MaxBodySize, &h.Guard.MaxBodySize)

	take(&errs, "credential", f.Credential, &h.Callers.Credential)
	take(&errs, "session_cookie", f.SessionCookie, &h.Callers.SessionCookie)
	take(&errs, "laravel_app_key", f.LaravelAppKey, &h.Callers.LaravelAppKey)
	take(&errs, "laravel_previous_keys", f.LaravelPrevious, &h.Callers.LaravelPreviousKeys)
	take(&errs, "auth_ttl", f.AuthTTL, &h.Callers.AuthTTL)
	take(&errs, "grant_ttl", f.GrantTTL, &h.Callers.GrantTTL)

	ws := &h.WebSocket
	take(&errs, "app_id", f.AppID, &ws.AppID)
	take(&errs, "app_key", f.AppKey, &ws.AppKey)
	take(&errs, "app_secret", f.AppSecret, &ws.AppSecret)
	take(&errs, "ws_path", f.WSPath, &ws.Path)
	switch {
	case len(f.AllowedOrigins) == 0:
	case len(ws.AllowedOrigins) == 0:
		ws.AllowedOrigins = f.AllowedOrigins
	case !slices.Equal(f.AllowedOrigins, ws.AllowedOrigins):
		errs = append(errs, disagree("allowed_origins", f.AllowedOrigins, ws.AllowedOrigins))
	}
	take(&errs, "activity_timeout", f.ActivityTimeout, &ws.ActivityTimeout)
	take(&errs, "max_connections_per_tenant", f.MaxConnectionsPerTenant, &ws.MaxConnectionsPerTenant)
	take(&errs, "max_channels_per_connection", f.MaxChannelsPerConnection, &ws.MaxChannelsPerConnection)
	take(&errs, "max_message_size", f.MaxMessageSize, &ws.MaxMessageSize)
	take(&errs, "send_queue", f.SendQueue, &ws.SendQueue)
	take(&errs, "client_events", f.ClientEvents, &ws.ClientEvents)
	take(&errs, "client_event_rate", f.ClientEventRate, &ws.ClientEventRate)
	take(&errs, "presence_max_members", f.PresenceMaxMembers, &ws.PresenceMaxMembers)

	take(&errs, "auth_upstream_url", f.AuthUpstreamURL, &h.AuthUpstream.URL)
	take(&errs, "auth_upstream_ttl", f.AuthUpstreamTTL, &h.AuthUpstream.TTL)
	take(&errs, "auth_upstream_concurrency", f.AuthUpstreamConcurrency, &h.AuthUpstream.Concurrency)
	take(&errs, "auth_upstream_timeout", f.AuthUpstreamTimeout, &h.AuthUpstream.Timeout)

	take(&errs, "redis_prefix", f.RedisPrefix, &h.Redis.Prefix)
	take(&errs, "redis_tenant_pattern", f.RedisTenantPattern, &h.Redis.TenantPattern)

	take(&errs, "cluster_name", f.ClusterName, &h.Cluster.Name)
	take(&errs, "cluster_secret", f.ClusterSecret, &h.Cluster.Secret)
	take(&errs, "cluster_lock_timeout", f.ClusterLockTimeout, &h.Cluster.LockTimeout)
	take(&errs, "cluster_timeout", f.ClusterTimeout, &h.Cluster.Timeout)
	return errors.Join(errs...)
}

// take sets *dst to v, the value of the flat key flat, unless v is zero
// (not set). When *dst, its grouped setting, was set as well, the two must
// agree.
func take[T comparable](errs *[]error, flat string, v T, dst *T) {
	var zero T
	switch {
	case v == zero:
	case *dst == zero:
		*dst = v
	case *dst != v:
		*errs = append(*errs, disagree(flat, v, *dst))
	}
}

func disagree(flat string, v, grouped any) error {
	s := flatNames[flat]
	return fmt.Errorf("recordsync: %s (%s) and %s (%s) set the same option to different values; keep %s",
		flat, show(v), s, show(grouped), s)
}

// show formats a setting's value for an error message.
func show(v any) string {
	switch v := v.(type) {
	case caddy.Duration:
		return time.Duration(v).String()
	case string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}

// Interface guard
var _ json.Unmarshaler = (*Handler)(nil)
