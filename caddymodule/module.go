package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/recordsync/recordsync/cluster"
	"github.com/recordsync/recordsync/engine"
	"github.com/recordsync/recordsync/proxy"
	"github.com/recordsync/recordsync/realtime"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the recordsync HTTP handler. It learns record versions from the
// application's JSON answers, answers stale writes and version polls from its
// cache, and hosts the application's websocket subscribers.
//
// Placeholders: tenant and credential are evaluated per request; the app
// credentials, laravel_app_key and the redis addresses are evaluated once at
// provisioning (so `{env.X}` works there).
type Handler struct {
	// Name groups handlers that share one version cache and one websocket
	// hub: every recordsync block with the same name (for example the same
	// block repeated in several routes of one site) shares them, and they
	// survive config reloads. Give each application its own name when one
	// Caddy serves several. Default: "default".
	Name string `json:"name,omitempty"`

	// Tenant is a placeholder giving the tenant key of a request, e.g.
	// "{http.request.host}". Every cache entry, authorisation, socket and
	// channel is scoped by it. A request whose tenant key comes out empty is
	// passed through uninspected. Default: none (the site is one tenant).
	Tenant string `json:"tenant,omitempty"`

	// VersionField is the gjson path of the version in a record's JSON.
	// Default: "data.updated_at".
	VersionField string `json:"version_field,omitempty"`
	// UpdatedByID is the gjson path of the id of who saved a record. Optional.
	UpdatedByID string `json:"updated_by_id,omitempty"`
	// UpdatedByName is the gjson path of the name of who saved a record. Optional.
	UpdatedByName string `json:"updated_by_name,omitempty"`
	// ClientVersion is the gjson path of the version the client loaded, in
	// the JSON body of a PUT or PATCH. Default: "client_version".
	ClientVersion string `json:"client_version,omitempty"`

	// Records are the record routes: a type and a URL pattern with {id}.
	Records []Record `json:"records,omitempty"`

	// VersionEndpoint is the URL pattern of version polls, with {type} and
	// {id}; "off" disables them. Default: "/api/v1/records/{type}/{id}/version".
	VersionEndpoint string `json:"version_endpoint,omitempty"`

	// CacheSize bounds how many record versions are held. It is read when
	// the cache is first made; a reload keeps the cache (and its size).
	// Default: 100000.
	CacheSize int64 `json:"cache_size,omitempty"`
	// CacheTTL is how long a version is held after it was last learned.
	// Default: 10m.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`

	// ConflictStatus is the status of a stale write answered from the cache:
	// 409 (the Laravel app's contract) or 412 (RFC 9110 If-Match). Default: 409.
	ConflictStatus int `json:"conflict_status,omitempty"`

	// MaxBodySize is the largest request or response body that is buffered
	// for inspection, in bytes; larger bodies stream through unchecked.
	// Default: 1 MiB.
	MaxBodySize int64 `json:"max_body_size,omitempty"`

	// WriteWait is how long a conditional write waits for an earlier write to
	// the same record before it is answered 503. Default: 10s.
	WriteWait caddy.Duration `json:"write_wait,omitempty"`

	// Credential is a placeholder giving what identifies a caller for the
	// authorisation memory, e.g. "{http.request.cookie.laravel_session}".
	// Default: the Authorization header, else the session cookie.
	Credential string `json:"credential,omitempty"`
	// SessionCookie is the name of Laravel's session cookie.
	// Default: "laravel_session".
	SessionCookie string `json:"session_cookie,omitempty"`
	// LaravelAppKey is Laravel's APP_KEY ("base64:..."). With it the session
	// cookie is decrypted and verified, and callers are identified by their
	// stable session id. Supports placeholders, e.g. "{env.APP_KEY}".
	LaravelAppKey string `json:"laravel_app_key,omitempty"`
	// AuthTTL is how long an answer of the application (allowed or denied)
	// to a caller for a record is remembered. Default: 60s.
	AuthTTL caddy.Duration `json:"auth_ttl,omitempty"`

	// AppID, AppKey and AppSecret are the Pusher-style credentials Laravel
	// also holds. Without AppKey the websocket hub is off. Placeholders are
	// evaluated at provisioning, e.g. "{env.RECORDSYNC_APP_KEY}".
	AppID     string `json:"app_id,omitempty"`
	AppKey    string `json:"app_key,omitempty"`
	AppSecret string `json:"app_secret,omitempty"`
	// WSPath is where the websocket is served: at WSPath/app/{app_key}
	// (what pusher-js builds) and at WSPath. Default: "/ws".
	WSPath string `json:"ws_path,omitempty"`
	// AllowedOrigins are the Origin patterns a websocket upgrade may come
	// from ("https://*.example.com", "*"). Default: the same host only.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// ImportHeader names a request header marking writes that are learned
	// but not broadcast. Default: none.
	ImportHeader string `json:"import_header,omitempty"`
	// ActivityTimeout is the activity_timeout announced to clients and the
	// idle time after which the server pings. Default: 30s.
	ActivityTimeout caddy.Duration `json:"activity_timeout,omitempty"`
	// MaxConnectionsPerTenant bounds the sockets of one tenant. Default: 0 (no limit).
	MaxConnectionsPerTenant int `json:"max_connections_per_tenant,omitempty"`
	// MaxChannelsPerConnection bounds the subscriptions of one socket. Default: 100.
	MaxChannelsPerConnection int `json:"max_channels_per_connection,omitempty"`
	// MaxMessageSize bounds one websocket message from a client, in bytes. Default: 10000.
	MaxMessageSize int64 `json:"max_message_size,omitempty"`
	// AuthEndpoint is the path of the app's channel authorisation
	// (Broadcast::routes()). With the hub on, a 2xx answer there passes only
	// for an open socket of the request's tenant (else 403, whoever signed
	// it), and a grant the app gave without signing (Laravel's redis
	// broadcaster answers `true` or {"channel_data":{...}}) is signed for the
	// socket_id and channel_name, when recordsync read them exactly as PHP
	// did (see the README). Refusals pass untouched. "off" disables it.
	// Default: "/broadcasting/auth".
	AuthEndpoint string `json:"auth_endpoint,omitempty"`
	// ClientEvents says who may send client-* events (Echo's whisper):
	// "off" (answered with pusher:error 4301) or "members" (sockets
	// subscribed to a private- or presence- channel, to the others there;
	// presence events carry the sender's user_id). Default: "off".
	ClientEvents string `json:"client_events,omitempty"`
	// ClientEventRate bounds the client events of one socket per second;
	// past it they are dropped with pusher:error 4301. Default: 10.
	ClientEventRate int `json:"client_event_rate,omitempty"`
	// PresenceMaxMembers bounds the members (distinct users, any number of
	// sockets each) of one presence channel; a new member over it gets a
	// subscription error (LimitReached, 429). Default: 100, as Pusher.
	PresenceMaxMembers int `json:"presence_max_members,omitempty"`
	// AuthUpstream, when set, is the path of the app's channel
	// authorisation (e.g. "/broadcasting/auth") that recordsync itself asks
	// when a socket subscribes to a private- or presence- channel without
	// "auth" (clients that cannot call the endpoint): a POST of socket_id
	// and channel_name with the websocket upgrade's Cookie and
	// Authorization headers, back to the address and Host the upgrade came
	// in on (or AuthUpstreamURL). A 2xx grants (presence: the answer's
	// channel_data), anything else refuses with the app's status. Default:
	// none (such subscriptions get AuthError 401).
	AuthUpstream string `json:"auth_upstream,omitempty"`
	// AuthUpstreamURL is the base URL the auth requests go to instead,
	// e.g. "http://127.0.0.1:8080" (with the upgrade's Host header).
	// Default: the address the upgrade came in on.
	AuthUpstreamURL string `json:"auth_upstream_url,omitempty"`
	// AuthUpstreamTTL is how long an answer is reused for the same
	// credentials and channel. Default: 30s.
	AuthUpstreamTTL caddy.Duration `json:"auth_upstream_ttl,omitempty"`
	// AuthUpstreamConcurrency bounds the auth requests in flight; others
	// queue. Default: 16.
	AuthUpstreamConcurrency int `json:"auth_upstream_concurrency,omitempty"`
	// AuthUpstreamTimeout bounds one authorisation, queueing included; past
	// it the subscription is refused with status 503. Default: 10s.
	AuthUpstreamTimeout caddy.Duration `json:"auth_upstream_timeout,omitempty"`
	// SendQueue is how many frames may wait for a slow socket before it is
	// disconnected (4100). Default: 256.
	SendQueue int `json:"send_queue,omitempty"`

	// Redis is the URL of the Redis that Laravel's redis broadcaster
	// publishes to, e.g. "redis://127.0.0.1:6379/0" (placeholders are
	// evaluated at provisioning, e.g. "{env.REDIS_URL}"). recordsync
	// subscribes to it and delivers the app's broadcasts to its sockets;
	// when Redis goes away it keeps serving and resubscribes by itself. A
	// reload with the same redis settings keeps the subscription; other
	// settings restart it. Needs app_key. Default: none (no Redis ingress).
	Redis string `json:"redis,omitempty"`
	// RedisPrefix is Laravel's database.redis.options.prefix, stripped from
	// Redis channel names. Default: "laravel_database_".
	RedisPrefix string `json:"redis_prefix,omitempty"`
	// RedisTenantPattern is a per-tenant prefix in place of RedisPrefix,
	// with {tenant} where the tenant key stands, e.g.
	// "tenant{tenant}_laravel_database_". With tenant set and no pattern,
	// no Redis message has a readable tenant: all are dropped (and counted),
	// never sent to every tenant. Default: none.
	RedisTenantPattern string `json:"redis_tenant_pattern,omitempty"`

	// Cluster is the URL of the Redis through which several Caddy
	// instances behind one load balancer act as one, e.g.
	// "redis://127.0.0.1:6379/0" (placeholders are evaluated at
	// provisioning): every publish reaches the subscribers of every
	// instance once, versions learned on one are known to all, presence is
	// cluster-wide. When Redis goes away each instance keeps serving its
	// own sockets and recovers by itself. Give every instance the same
	// settings (and the same redis ingress, which each instance receives by
	// itself). Default: none (everything stays in this process).
	Cluster string `json:"cluster,omitempty"`
	// ClusterName namespaces the cluster's Redis keys and channel:
	// instances with the same cluster Redis and name form one cluster.
	// Default: the handler's name.
	ClusterName string `json:"cluster_name,omitempty"`
	// ClusterLockTimeout is the fencing timeout of the cluster-wide write
	// lock (with cluster): the longest a conditional write holds its record
	// across all instances. Keep it above the upstream's slowest write (one
	// that overruns it loses the lock, and for that write the app's own check
	// is the authority again; counted in recordsync_cluster_lock_expired_total)
	// and not above write_wait (writers queued behind a crashed instance's
	// lock then get it before they give up). Default: 10s.
	ClusterLockTimeout caddy.Duration `json:"cluster_lock_timeout,omitempty"`
	// ClusterTimeout is how long an instance may stay silent before the
	// others forget its presence members (their users leave) and its
	// sockets' entries in the cluster's socket registry expire (then no
	// instance signs channel authorisations for them); instances say they
	// are alive, and rewrite their socket entries, every fifth of it.
	// Default: 10s.
	ClusterTimeout caddy.Duration `json:"cluster_timeout,omitempty"`

	proxy  *proxy.Handler
	hub    *realtime.Hub
	kit    *browserKit
	engine *engine.Engine
	logger *zap.Logger
}

// Record is one record route.
type Record struct {
	// Type is the record type, e.g. "flow": it names the record in cache
	// keys, version polls and channels (private-record.{type}.{id}).
	Type string `json:"type"`
	// Pattern is the URL path pattern, e.g. "/api/v1/projects/{project}/tasks/{id}".
	// {id} is required; other {names} are captured for list channels.
	Pattern string `json:"pattern"`
	// Lists also publish each save of this record on a list channel.
	Lists []List `json:"lists,omitempty"`
}

// List is a list channel a record's saves are also published on.
type List struct {
	// Channel is the channel name without "private-", with {names} of the
	// pattern, e.g. "project.{project}".
	Channel string `json:"channel"`
	// Event is the event name, e.g. "task.updated".
	Event string `json:"event"`
	// IDKey is the payload key that carries the record id, e.g. "task_id".
	IDKey string `json:"id_key"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.recordsync",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision builds the proxy and the hub from the configuration, taking the
// version cache and the hub from the shared pool so that they survive reloads.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.Name == "" {
		h.Name = "default"
	}
	registerMetrics(ctx.GetMetricsRegistry())

	repl := caddy.NewReplacer()
	h.AppID = repl.ReplaceKnown(h.AppID, "")
	h.AppKey = repl.ReplaceKnown(h.AppKey, "")
	h.AppSecret = repl.ReplaceKnown(h.AppSecret, "")
	h.LaravelAppKey = repl.ReplaceKnown(h.LaravelAppKey, "")
	if h.AppKey != "" && h.AppSecret == "" {
		return errors.New("recordsync: app_secret is required with app_key")
	}

	hubOpts := h.hubOptions()
	eopts := engine.Options{Cache: h.cacheOptions()}
	if h.AppKey != "" {
		eopts.Hub = &hubOpts
	}
	eng, err := loadEngine(h.Name, eopts, h.logger)
	if err != nil {
		return err
	}
	h.engine = eng
	h.hub = eng.Hub()
	if h.hub == nil && h.AppKey != "" {
		return fmt.Errorf("recordsync: the state %q was made without a websocket hub; restart Caddy to add app_key, or use another name", h.Name)
	}
	cfg, err := h.engineConfig(ctx, hubOpts, eng)
	if err != nil {
		return err
	}
	if err := eng.Apply(cfg); err != nil {
		return fmt.Errorf("recordsync: %w", err)
	}
	h.proxy, err = eng.NewProxy(h.proxyOptions(eng), time.Duration(h.ClusterLockTimeout))
	if err != nil {
		return fmt.Errorf("recordsync: %w", err)
	}
	h.kit = newBrowserKit(h.AppKey, h.WSPath)
	h.logger.Info("recordsync provisioned",
		zap.String("name", h.Name),
		zap.Int("records", len(h.Records)),
		zap.Bool("tenanted", h.Tenant != ""),
		zap.Bool("websocket", h.hub != nil),
		zap.String("ws_path", hubOpts.WSPath))
	return nil
}

// engineConfig maps the config onto what the Engine applies: the hub's
// settings, auth_upstream, redis and cluster, with their metrics.
func (h *Handler) engineConfig(ctx caddy.Context, hubOpts realtime.Options, eng *engine.Engine) (engine.Config, error) {
	hubOpts.Observer = hubObserver{store: eng.Store()}
	redis, err := h.redisKey()
	if err != nil {
		return engine.Config{}, err
	}
	clus, err := h.clusterKey(ctx)
	if err != nil {
		return engine.Config{}, err
	}
	return engine.Config{
		Hub:           hubOpts,
		AuthUpstream:  h.authUpstreamOptions(),
		Redis:         redis,
		RedisObserver: ingressObserver{},
		Cluster:       clus,
		ClusterLink:   cluster.LinkOptions{BusObserver: clusterObserver{}, SocketsObserver: clusterObserver{}},
		Logger:        h.logger,
	}, nil
}

// proxyOptions maps the config onto the proxy's options; the Engine adds
// its parts (NewProxy).
func (h *Handler) proxyOptions(eng *engine.Engine) proxy.Options {
	routes := make([]proxy.RouteSpec, 0, len(h.Records))
	for _, rec := range h.Records {
		spec := proxy.RouteSpec{Type: rec.Type, Pattern: rec.Pattern}
		for _, l := range rec.Lists {
			spec.Lists = append(spec.Lists, proxy.ListSpec{Channel: l.Channel, Event: l.Event, IDKey: l.IDKey})
		}
		routes = append(routes, spec)
	}
	return proxy.Options{
		Routes:             routes,
		VersionField:       h.VersionField,
		UpdatedByIDField:   h.UpdatedByID,
		UpdatedByNameField: h.UpdatedByName,
		ClientVersionField: h.ClientVersion,
		VersionEndpoint:    h.VersionEndpoint,
		ConflictStatus:     h.ConflictStatus,
		MaxBodyBytes:       h.MaxBodySize,
		WriteWait:          time.Duration(h.WriteWait),
		AuthTTL:            time.Duration(h.AuthTTL),
		ImportHeader:       h.ImportHeader,
		SessionCookie:      h.SessionCookie,
		LaravelAppKey:      h.LaravelAppKey,
		AuthEndpoint:       h.AuthEndpoint,
		Observer:           proxyObserver{store: eng.Store()},
		Logger:             h.logger,
	}
}

func (h *Handler) hubOptions() realtime.Options {
	return realtime.Options{
		AppID:              h.AppID,
		AppKey:             h.AppKey,
		AppSecret:          h.AppSecret,
		WSPath:             h.WSPath,
		AllowedOrigins:     h.AllowedOrigins,
		ActivityTimeout:    time.Duration(h.ActivityTimeout),
		MaxMessageBytes:    h.MaxMessageSize,
		MaxConnsPerTenant:  h.MaxConnectionsPerTenant,
		MaxChannelsPerConn: h.MaxChannelsPerConnection,
		PresenceMaxMembers: h.PresenceMaxMembers,
		ClientEvents:       h.ClientEvents,
		ClientEventRate:    h.ClientEventRate,
		SendQueue:          h.SendQueue,
		Logger:             h.logger,
		Observer:           hubObserver{},
	}
}

// Validate checks what Provision could not: option values that have one
// right form.
func (h *Handler) Validate() error {
	if h.AuthUpstream != "" && (!strings.HasPrefix(h.AuthUpstream, "/") || strings.ContainsAny(h.AuthUpstream, "?#")) {
		return fmt.Errorf("recordsync: auth_upstream %q must be a path starting with /", h.AuthUpstream)
	}
	if h.AuthUpstream == "" && (h.AuthUpstreamURL != "" || h.AuthUpstreamTTL != 0 || h.AuthUpstreamConcurrency != 0 || h.AuthUpstreamTimeout != 0) {
		return errors.New("recordsync: auth_upstream_url, _ttl, _concurrency and _timeout need auth_upstream")
	}
	if h.WSPath != "" && (!strings.HasPrefix(h.WSPath, "/") || strings.HasSuffix(h.WSPath, "/")) {
		return fmt.Errorf("recordsync: ws_path %q must start with / and not end with /", h.WSPath)
	}
	return nil
}

// ServeHTTP dispatches a request: the browser kit's files, websocket upgrades
// to the hub, record routes and version polls to the proxy, everything else
// to next untouched.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.kit.serves(r) {
		h.kit.handler.ServeHTTP(w, r)
		return nil
	}
	// Before the websocket: {ws_path}/apps/{app_id}/... is under ws_path.
	if h.hub != nil && h.hub.IsHTTPAPIPath(r.URL.Path) {
		return h.serveHTTPAPI(w, r, h.requestInfo(r))
	}
	if h.hub != nil && h.hub.IsWebSocketPath(r.URL.Path) {
		return h.serveWebSocket(w, r, h.requestInfo(r))
	}
	if !h.proxy.Inspects(r) {
		return next.ServeHTTP(w, r)
	}
	return h.proxy.ServeHTTP(w, r, h.requestInfo(r), next.ServeHTTP)
}

// requestInfo evaluates the tenant and credential placeholders for r.
func (h *Handler) requestInfo(r *http.Request) proxy.RequestInfo {
	info := proxy.RequestInfo{Tenanted: h.Tenant != ""}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return info
	}
	if h.Tenant != "" {
		info.Tenant = repl.ReplaceAll(h.Tenant, "")
	}
	if h.Credential != "" {
		info.Credential = repl.ReplaceAll(h.Credential, "")
	}
	return info
}

func (h *Handler) serveWebSocket(w http.ResponseWriter, r *http.Request, info proxy.RequestInfo) error {
	if info.Tenanted && info.Tenant == "" {
		metrics.tenantMissing.Inc()
		return caddyhttp.Error(http.StatusForbidden, errors.New("recordsync: websocket request has no tenant key"))
	}
	if r.ProtoMajor > 1 {
		// coder/websocket speaks RFC 6455 over HTTP/1.1 only; RFC 8441/9220
		// extended CONNECT (HTTP/2 and 3) is not supported.
		return caddyhttp.Error(http.StatusHTTPVersionNotSupported, errors.New("recordsync: websockets need HTTP/1.1"))
	}
	return h.hub.ServeWebSocket(w, r, info.Tenant)
}

// Cleanup releases this config's hold on the shared state; the last holder
// closes the hub (clients get 4200 and reconnect) and the cache.
func (h *Handler) Cleanup() error {
	if h.proxy != nil {
		h.proxy.Close()
	}
	if h.engine == nil {
		return nil
	}
	_, err := pool.Delete(h.Name)
	return err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
