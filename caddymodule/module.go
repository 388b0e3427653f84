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
// Its JSON is grouped as its Caddyfile is: a few top-level keys and one
// object per concern (fields, cache, guard, callers, websocket,
// auth_upstream, redis, cluster). The flat keys of the first configuration
// ("cache_size", "ws_path", "redis": "<url>", ...; see flatNames) are still
// accepted (UnmarshalJSON); what Caddy emits is the grouped form.
//
// Placeholders: tenant and callers.credential are evaluated per request;
// the websocket app credentials, callers.laravel_app_key and the redis and
// cluster URLs are evaluated once at provisioning (so `{env.X}` works
// there).
type Handler struct {
	// Name names the state (version cache, authorisation memory, write
	// turns, websocket hub, Redis ingress, cluster membership) this handler
	// uses; the state survives config reloads. Handlers with the same name
	// share one state, across sites too: sharing between sites is only ever
	// explicit. Handlers that share a state must set tenant, cache,
	// websocket, auth_upstream, redis and cluster alike (else the config
	// fails to load, naming both). Default: the state of the handler's Site
	// (every recordsync block of one site shares it, and no other site's
	// block does); without a site either, "default".
	Name string `json:"name,omitempty"`

	// Site is the site this handler serves: the Caddyfile adapter sets it
	// to the addresses of the site block the directive is in (sorted,
	// separated by spaces). A handler without name uses its site's state.
	// A JSON config may set it; a handler with neither name nor site uses
	// the state "default", shared with every other such handler, since
	// JSON does not say which site a handler serves. Default: none.
	Site string `json:"site,omitempty"`

	// Tenant is a placeholder giving the tenant key of a request, e.g.
	// "{http.request.host}". Every cache entry, authorisation, socket and
	// channel is scoped by it. When it is exactly the host
	// ({http.request.host} or {http.request.hostport}, the Caddyfile's
	// {host} and {hostport}), the key is the host in ASCII lower case,
	// without port and without a trailing dot, so that every spelling of
	// one host is one tenant (internationalised names are not converted:
	// a Unicode name and its xn-- form stay two); any other tenant is used
	// as the placeholder gives it. A request whose tenant key comes out
	// empty is passed through uninspected. Default: none (the site is one
	// tenant).
	Tenant string `json:"tenant,omitempty"`

	// Records are the record routes: a type and a URL pattern with {id}.
	Records []Record `json:"records,omitempty"`

	// VersionEndpoint is the URL pattern of version polls, with {type} and
	// {id}; "off" disables them. Default: "/api/v1/records/{type}/{id}/version".
	VersionEndpoint string `json:"version_endpoint,omitempty"`

	// AuthEndpoint is the path of the app's channel authorisation
	// (Broadcast::routes()). With the hub on, a 2xx answer there passes only
	// for an open socket of the request's tenant (else 403, whoever signed
	// it), and a grant the app gave without signing (Laravel's redis
	// broadcaster answers `true` or {"channel_data":{...}}) is signed for the
	// socket_id and channel_name, when recordsync read them exactly as PHP
	// did (see the README). Refusals pass untouched. "off" disables it.
	// Space-separated paths. Default: "/broadcasting/auth
	// /api/broadcasting/auth".
	AuthEndpoint string `json:"auth_endpoint,omitempty"`

	// UserAuthEndpoint are the paths of the app's user authentication for
	// pusher:signin (Broadcast::userRoutes()), under the same rules as
	// AuthEndpoint: an unsigned answer (the user's info) is signed for the
	// socket_id, any 2xx passes only for an open socket of the tenant.
	// Default: "/broadcasting/user-auth /api/broadcasting/user-auth".
	UserAuthEndpoint string `json:"user_auth_endpoint,omitempty"`

	// ImportHeader names a request header marking writes that are learned
	// but not broadcast. Default: none.
	ImportHeader string `json:"import_header,omitempty"`

	// Fields says where the version and its author are in a record's JSON.
	Fields FieldsConfig `json:"fields,omitzero"`
	// Cache bounds the version cache.
	Cache CacheConfig `json:"cache,omitzero"`
	// Guard tunes how stale writes are answered.
	Guard GuardConfig `json:"guard,omitzero"`
	// Callers says how callers are recognised.
	Callers CallersConfig `json:"callers,omitzero"`
	// WebSocket is the websocket hub; off without websocket.app_key.
	WebSocket WebSocketConfig `json:"websocket,omitzero"`
	// AuthUpstream lets recordsync ask the app to authorise subscriptions
	// that come without "auth"; off without auth_upstream.path.
	AuthUpstream AuthUpstreamConfig `json:"auth_upstream,omitzero"`
	// Redis is the Redis ingress (Laravel's redis broadcaster); off without
	// redis.url.
	Redis RedisConfig `json:"redis,omitzero"`
	// Cluster joins this instance to the others sharing its Redis; off
	// without cluster.url.
	Cluster ClusterConfig `json:"cluster,omitzero"`
	// Console is the live console; off without it.
	Console *ConsoleConfig `json:"console,omitempty"`
	// Webhooks send what happens on the hub to the app, in Pusher's
	// webhook format; none by default.
	Webhooks []WebhookConfig `json:"webhooks,omitempty"`

	proxy   *proxy.Handler
	hub     *realtime.Hub
	kit     *browserKit
	console *engine.Console // nil without Console
	engine  *engine.Engine
	logger  *zap.Logger
	// hostTenant: Tenant is one host placeholder, normalised per request.
	hostTenant bool
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
	// MergePatches forwards a stale PATCH on the current version when none
	// of its body's fields changed since the version it was loaded on
	// (README, "Disjoint PATCHes"). It overrides the app's own version
	// check for that write. Default: off.
	MergePatches bool `json:"merge_patches,omitempty"`
	// Model also announces each save as Laravel's model broadcasting does
	// (README, "Model broadcasting"). Default: none.
	Model *Model `json:"model,omitempty"`
	// Inertia reads the record also from the app's Inertia pages (README,
	// "Inertia"). Default: none.
	Inertia *Inertia `json:"inertia,omitempty"`
}

// Inertia says where a record lives in the app's Inertia pages.
type Inertia struct {
	// Props is the dotted path of the record in the page's props, e.g.
	// "flow" for props.flow.
	Props string `json:"props"`
	// Patterns are more URL patterns of Inertia pages of this record, e.g.
	// "/flows/{id}". Default: the record's own pattern.
	Patterns []string `json:"patterns,omitempty"`
}

// Model is a record type's Eloquent model, for model broadcasting.
type Model struct {
	// Class is the model's class with dots for backslashes, e.g.
	// "App.Models.Flow".
	Class string `json:"class"`
	// Fields are the record's fields the announced "model" holds. Default:
	// id and the version field.
	Fields []string `json:"fields,omitempty"`
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
	registerMetrics(ctx.GetMetricsRegistry())
	h.hostTenant = isHostTenant(h.Tenant)

	repl := caddy.NewReplacer()
	h.WebSocket.AppID = repl.ReplaceKnown(h.WebSocket.AppID, "")
	h.WebSocket.AppKey = repl.ReplaceKnown(h.WebSocket.AppKey, "")
	h.WebSocket.AppSecret = repl.ReplaceKnown(h.WebSocket.AppSecret, "")
	h.Callers.LaravelAppKey = repl.ReplaceKnown(h.Callers.LaravelAppKey, "")
	h.Callers.LaravelPreviousKeys = repl.ReplaceKnown(h.Callers.LaravelPreviousKeys, "")
	if h.WebSocket.AppKey != "" && h.WebSocket.AppSecret == "" {
		return errors.New("recordsync: app_secret is required with app_key")
	}
	// Checked before Name is set to the state's name: errors tell a name
	// given from a site's.
	if err := h.checkState(ctx); err != nil {
		return err
	}
	h.Name = h.stateName()

	hubOpts := h.hubOptions()
	eopts := engine.Options{Name: h.Name, Cache: h.cacheOptions()}
	if h.WebSocket.AppKey != "" {
		eopts.Hub = &hubOpts
	}
	eng, err := loadEngine(h.Name, eopts, h.logger)
	if err != nil {
		return err
	}
	h.engine = eng
	h.hub = eng.Hub()
	if h.hub == nil && h.WebSocket.AppKey != "" {
		return fmt.Errorf("recordsync: the state %q was made without a websocket hub; restart Caddy to add app_key, or use another name", h.Name)
	}
	cfg, err := h.engineConfig(ctx, hubOpts, eng)
	if err != nil {
		return err
	}
	if err := eng.Apply(cfg); err != nil {
		return fmt.Errorf("recordsync: %w", err)
	}
	h.proxy, err = eng.NewProxy(h.proxyOptions(eng), time.Duration(h.Cluster.LockTimeout))
	if err != nil {
		return fmt.Errorf("recordsync: %w", err)
	}
	h.kit = newBrowserKit(h.WebSocket.AppKey, h.WebSocket.Path, h.Records)
	if err := h.provisionConsole(eng); err != nil {
		return err
	}
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
	hooks, err := h.webhookOptions()
	if err != nil {
		return engine.Config{}, err
	}
	return engine.Config{
		Webhooks:      hooks,
		Hub:           hubOpts,
		AuthUpstream:  h.authUpstreamOptions(),
		Redis:         redis,
		RedisObserver: ingressObserver{},
		Cluster:       clus,
		ClusterLink:   cluster.LinkOptions{Observer: clusterObserver{}},
		GrantTTL:      h.grantTTL(),
		GrantObserver: grantObserver{},
		Logger:        h.logger,
	}, nil
}

// proxyOptions maps the config onto the proxy's options; the Engine adds
// its parts (NewProxy).
func (h *Handler) proxyOptions(eng *engine.Engine) proxy.Options {
	routes := make([]proxy.RouteSpec, 0, len(h.Records))
	for _, rec := range h.Records {
		spec := proxy.RouteSpec{Type: rec.Type, Pattern: rec.Pattern, MergePatches: rec.MergePatches}
		if rec.Model != nil {
			spec.Model = &proxy.ModelSpec{Class: rec.Model.Class, Fields: rec.Model.Fields}
		}
		if rec.Inertia != nil {
			spec.Inertia = &proxy.InertiaSpec{Props: rec.Inertia.Props, Patterns: rec.Inertia.Patterns}
		}
		for _, l := range rec.Lists {
			spec.Lists = append(spec.Lists, proxy.ListSpec{Channel: l.Channel, Event: l.Event, IDKey: l.IDKey})
		}
		routes = append(routes, spec)
	}
	o := proxy.Options{
		Routes:              routes,
		VersionField:        h.Fields.Version,
		UpdatedByIDField:    h.Fields.UpdatedByID,
		UpdatedByNameField:  h.Fields.UpdatedByName,
		ClientVersionField:  h.Fields.ClientVersion,
		VersionEndpoint:     h.VersionEndpoint,
		ConflictStatus:      h.Guard.ConflictStatus,
		MaxBodyBytes:        h.Guard.MaxBodySize,
		WriteWait:           time.Duration(h.Guard.WriteWait),
		TurnTimeout:         time.Duration(h.Guard.TurnTimeout),
		AuthTTL:             time.Duration(h.Callers.AuthTTL),
		ImportHeader:        h.ImportHeader,
		SessionCookie:       h.Callers.SessionCookie,
		LaravelAppKey:       h.Callers.LaravelAppKey,
		LaravelPreviousKeys: h.Callers.LaravelPreviousKeys,
		AuthEndpoint:        h.AuthEndpoint,
		UserAuthEndpoint:    h.UserAuthEndpoint,
		Observer:            proxyObserver{store: eng.Store()},
		Logger:              h.logger,
	}
	o.CredentialConfigured = h.Callers.Credential != ""
	return o
}

// modelRoutes maps the record types with a model onto the hub's
// ModelRoutes: the model's fields that hold the version and who saved it
// are the last keys of the version and updated_by fields' paths.
func (h *Handler) modelRoutes() []realtime.ModelRoute {
	leaf := func(path string) string { _, key := proxy.SplitPath(path); return key }
	version := h.Fields.Version
	if version == "" {
		version = proxy.DefaultVersionField
	}
	var out []realtime.ModelRoute
	for _, rec := range h.Records {
		if rec.Model == nil {
			continue
		}
		m := realtime.ModelRoute{Class: rec.Model.Class, Type: rec.Type, VersionKey: leaf(version)}
		if h.Fields.UpdatedByID != "" {
			m.ByIDKey = leaf(h.Fields.UpdatedByID)
		}
		if h.Fields.UpdatedByName != "" {
			m.ByNameKey = leaf(h.Fields.UpdatedByName)
		}
		out = append(out, m)
	}
	return out
}

func (h *Handler) hubOptions() realtime.Options {
	ws := h.WebSocket
	return realtime.Options{
		AppID:              ws.AppID,
		AppKey:             ws.AppKey,
		AppSecret:          ws.AppSecret,
		WSPath:             ws.Path,
		AllowedOrigins:     ws.AllowedOrigins,
		ActivityTimeout:    time.Duration(ws.ActivityTimeout),
		MaxMessageBytes:    ws.MaxMessageSize,
		MaxConnsPerTenant:  ws.MaxConnectionsPerTenant,
		MaxChannelsPerConn: ws.MaxChannelsPerConnection,
		PresenceMaxMembers: ws.PresenceMaxMembers,
		ClientEvents:       ws.ClientEvents,
		ClientEventRate:    ws.ClientEventRate,
		SendQueue:          ws.SendQueue,
		Models:             h.modelRoutes(),
		Logger:             h.logger,
		Observer:           hubObserver{},
	}
}

// Validate checks what Provision could not: option values that have one
// right form.
func (h *Handler) Validate() error {
	au := h.AuthUpstream
	if au.Path != "" && (!strings.HasPrefix(au.Path, "/") || strings.ContainsAny(au.Path, "?#")) {
		return fmt.Errorf("recordsync: auth_upstream path %q must be a path starting with /", au.Path)
	}
	if au.Path == "" && (au.URL != "" || au.TTL != 0 || au.Concurrency != 0 || au.Timeout != 0) {
		return errors.New("recordsync: auth_upstream's url, ttl, concurrency and timeout need its path (auth_upstream <path>)")
	}
	if p := h.WebSocket.Path; p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/")) {
		return fmt.Errorf("recordsync: websocket path (ws_path) %q must start with / and not end with /", p)
	}
	return h.validateConsole()
}

// ServeHTTP dispatches a request: the live console, the browser kit's files, websocket upgrades
// to the hub, record routes and version polls to the proxy, everything else
// to next untouched.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.console.Serves(r.URL.Path) {
		h.serveConsole(w, r)
		return nil
	}
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
		return h.passOn(w, r, next)
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
		if h.hostTenant {
			info.Tenant = normalizeHost(info.Tenant)
		}
	}
	if h.Callers.Credential != "" {
		info.Credential = repl.ReplaceAll(h.Callers.Credential, "")
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
