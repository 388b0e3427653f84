package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/versioncache"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// RequestInfo is what the Caddy glue resolved for one request.
type RequestInfo struct {
	// Tenant is the tenant key; "" for a site without tenancy.
	Tenant string
	// Tenanted is true when a tenant placeholder is configured: then an
	// empty Tenant means the request passes through uninspected.
	Tenanted bool
	// Credential is the configured credential placeholder's value, taken
	// as it is; "" means the default: who Laravel authenticates (a Bearer
	// token and the session cookie; see Handler.credentialID).
	Credential string
}

// Next calls the rest of the chain (Caddy's next handler).
type Next func(w http.ResponseWriter, r *http.Request) error

// Handler is recordsync's request logic for one configuration. Build it with
// New; all its methods are safe for concurrent use. Close it when the
// configuration is retired.
type Handler struct {
	opts Options
	// json reads a record from a JSON answer (Options.VersionField, ...).
	json   *reader
	routes []route
	// follows are the turns kept for Inertia's redirects.
	follows *follows
	types   map[string]*route
	poll    *pattern // nil: version endpoint off
	// keys are the Laravel keys (APP_KEY, then APP_PREVIOUS_KEYS); nil: the
	// session cookie, rawSessionCookie, is used raw.
	keys             [][]byte
	rawSessionCookie string
	// sessions remembers verified cookies; nil without keys.
	sessions *sessionCache
	// warnedSession: the cookies that do not verify were logged once.
	warnedSession atomic.Bool
	store         *versioncache.Store
	auth          *authMemory
	turns         *turns
	own           *Memory // made by New when Options.Memory is nil; closed by Close
	obs           Observer
	log           *zap.Logger

	// authPaths are the auth endpoints whose answers are signed, and
	// userAuthPaths the user authentication endpoints; none when off or
	// without a Signer.
	authPaths, userAuthPaths []string
}

// New validates opts, applies the defaults and builds a Handler. Errors name
// the configuration key at fault.
func New(opts Options) (*Handler, error) {
	if err := opts.applyDefaults(); err != nil {
		return nil, err
	}
	h := &Handler{
		opts:  opts,
		types: make(map[string]*route, len(opts.Routes)),
		store: opts.Store,
		obs:   opts.Observer,
		log:   opts.Logger,
	}
	h.json = newReader(opts.VersionField, opts.UpdatedByIDField, opts.UpdatedByNameField)
	h.follows = newFollows()
	if h.obs == nil {
		h.obs = nopObserver{}
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	// Own copies, so that RouteMatch.Spec points at stable memory and the
	// caller's later edits change nothing.
	specs := make([]RouteSpec, len(opts.Routes))
	h.routes = make([]route, len(opts.Routes))
	for i, rs := range opts.Routes {
		if rs.Type == "" || strings.ContainsAny(rs.Type, " \t/{}") {
			return nil, fmt.Errorf("record %q: invalid record type", rs.Type)
		}
		if _, dup := h.types[rs.Type]; dup {
			return nil, fmt.Errorf("record %s: type defined twice", rs.Type)
		}
		pt, err := compilePattern(rs.Pattern, "id")
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", rs.Type, err)
		}
		rs.Lists = append([]ListSpec(nil), rs.Lists...)
		if rs.Model, err = compileModel(rs.Model, opts.VersionField); err != nil {
			return nil, fmt.Errorf("record %s: %w", rs.Type, err)
		}
		specs[i] = rs
		rt := route{spec: &specs[i], pat: pt}
		if rs.Inertia != nil {
			in := *rs.Inertia
			in.Patterns = slices.Clone(in.Patterns)
			specs[i].Inertia = &in
			if rt.inertia, err = h.json.inertia(in.Props); err != nil {
				return nil, fmt.Errorf("record %s: %w", rs.Type, err)
			}
			for _, p := range in.Patterns {
				ipt, err := compilePattern(p, pt.names...)
				if err != nil {
					return nil, fmt.Errorf("record %s: inertia: %w", rs.Type, err)
				}
				rt.inertiaPats = append(rt.inertiaPats, ipt)
			}
		}
		for _, l := range rs.Lists {
			lt, err := compileList(l, pt)
			if err != nil {
				return nil, fmt.Errorf("record %s: %w", rs.Type, err)
			}
			rt.lists = append(rt.lists, lt)
		}
		h.routes[i] = rt
		h.types[rs.Type] = &h.routes[i]
	}
	h.opts.Routes = specs
	if opts.Signer != nil && opts.AuthEndpoint != AuthEndpointOff {
		h.authPaths = strings.Fields(opts.AuthEndpoint)
	}
	if opts.Signer != nil && opts.UserAuthEndpoint != AuthEndpointOff {
		h.userAuthPaths = strings.Fields(opts.UserAuthEndpoint)
	}
	if opts.VersionEndpoint != VersionEndpointOff {
		pt, err := compilePattern(opts.VersionEndpoint, "type", "id")
		if err != nil {
			return nil, fmt.Errorf("version_endpoint: %w", err)
		}
		h.poll = pt
	}
	h.rawSessionCookie = opts.SessionCookie
	if h.rawSessionCookie == "" {
		h.rawSessionCookie = DefaultSessionCookie
	}
	if opts.LaravelAppKey != "" {
		key, err := laravel.ParseAppKey(opts.LaravelAppKey)
		if err != nil {
			return nil, fmt.Errorf("laravel_app_key: %w", err)
		}
		previous, err := laravel.ParsePreviousKeys(opts.LaravelPreviousKeys, len(key))
		if err != nil {
			return nil, fmt.Errorf("laravel_previous_keys: %w", err)
		}
		h.keys = append([][]byte{key}, previous...)
		h.sessions = newSessionCache()
	} else if opts.LaravelPreviousKeys != "" {
		return nil, errors.New("laravel_previous_keys: needs laravel_app_key, the current key")
	}
	mem := opts.Memory
	if mem == nil {
		var err error
		if mem, err = NewMemory(opts.AuthEntries); err != nil {
			return nil, err
		}
		h.own = mem
	}
	h.auth, h.turns = mem.auth, mem.turns
	return h, nil
}

// Close releases the Memory New made itself (none when Options.Memory was
// given). The Store and a given Memory are the caller's and stay open. The
// Handler must not be used after.
func (h *Handler) Close() {
	if h.own != nil {
		h.own.Close()
	}
}

// Inspects reports whether ServeHTTP would handle r itself (a record route
// or a version poll) rather than pass it straight to next. The Caddy glue
// asks first so that pass-through requests cost no placeholder work.
func (h *Handler) Inspects(r *http.Request) bool {
	t := h.classify(r)
	return t.auth || t.userAuth || t.rt != nil
}

// target is what a request is to the proxy.
type target struct {
	// auth: Laravel routes it to the channel authorisation endpoint;
	// userAuth, to the user authentication endpoint.
	auth, userAuth bool
	// rt is the record route it is for (nil: none); poll, a version poll
	// of it.
	rt   *route
	pat  *pattern // the pattern of rt that matched
	poll bool
	// path is the path Laravel's router matches (laravel.RoutePath).
	path string
}

// classify finds what r is to the proxy, reading its path once, as
// Laravel's router matches it (laravel.RoutePath): "/api/v1/flows/1/" is
// flow 1. Laravel routes GET and POST to the auth endpoint
// (Broadcast::routes registers both) while signing is on. A POST to a
// record route is a candidate: Laravel may route it as a PUT or PATCH
// (laravel.Method), which ServeHTTP reads.
func (h *Handler) classify(r *http.Request) (t target) {
	switch r.Method {
	case http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodPost:
	default:
		return t
	}
	t.path = laravel.RoutePath(r.URL)
	switch {
	case len(h.authPaths) > 0 && (r.Method == http.MethodPost || r.Method == http.MethodGet) && slices.Contains(h.authPaths, t.path):
		t.auth = true
	case len(h.userAuthPaths) > 0 && (r.Method == http.MethodPost || r.Method == http.MethodGet) && slices.Contains(h.userAuthPaths, t.path):
		t.userAuth = true
	case r.Method == http.MethodGet && h.poll != nil && h.poll.match(r.URL.Path):
		t.rt, t.poll = h.types[h.poll.param(r.URL.Path, "type")], true
	default:
		t.rt, t.pat = h.matchRoute(t.path)
	}
	return t
}

// Outcomes passed to Observer.MethodOverride.
const (
	// OverrideWrite: a POST that Laravel routes as PUT or PATCH, handled as
	// the write it is.
	OverrideWrite = "write"
	// OverrideUnread: a POST to a record route whose method could not be
	// read as Laravel reads it (a body over max_body_bytes, an unusual
	// multipart body, an ambiguous header); it passed through unguarded.
	OverrideUnread = "unread"
)

// ServeHTTP handles record routes, the version endpoint and the auth
// endpoint's answers, and passes everything else to next untouched. Errors of next are returned unchanged.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, info RequestInfo, next Next) error {
	t := h.classify(r)
	if h.WatchesSession(r) {
		w = h.WatchSession(w, r, func() RequestInfo { return info })
	}
	if t.auth || t.userAuth {
		return h.serveAuth(w, r, info, next, t.userAuth)
	}
	rt := t.rt
	if rt == nil {
		return next(w, r)
	}
	if info.Tenanted && info.Tenant == "" {
		h.obs.TenantMissing()
		h.debug("no tenant key: passed through", zap.String("type", rt.spec.Type))
		return next(w, r)
	}
	if t.poll {
		return h.servePoll(w, r, info, next, rt)
	}
	method := r.Method
	if r.Method == http.MethodPost {
		var certain bool
		method, certain = laravel.Method(r, h.opts.MaxBodyBytes)
		switch {
		case method == http.MethodPut || method == http.MethodPatch:
			h.obs.MethodOverride(OverrideWrite)
		case !certain:
			h.obs.MethodOverride(OverrideUnread)
			h.debug("POST to a record route whose method override could not be read: passed through", zap.String("type", rt.spec.Type))
			return next(w, r)
		default:
			return next(w, r)
		}
	}
	return h.serveRecord(w, r, info, next, rt, t.pat, t.path, method)
}

// debug logs a decision when debug logging is on. Never pass cookies,
// credentials or bodies.
func (h *Handler) debug(msg string, fields ...zapcore.Field) {
	if ce := h.log.Check(zap.DebugLevel, msg); ce != nil {
		ce.Write(fields...)
	}
}
