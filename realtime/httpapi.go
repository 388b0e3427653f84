package realtime

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/recordsync/recordsync/pusher"
)

// Limits of the Pusher HTTP API (the Pusher docs, "REST API": 10 KB of data, 100 channels).
const (
	// MaxHTTPAPIBodyBytes bounds a request body; a longer one is refused
	// with 413 before it is parsed.
	MaxHTTPAPIBodyBytes = 64 << 10
	// MaxEventDataBytes bounds the data of one event (Pusher's 10 KB); an
	// event over it makes the request 413.
	MaxEventDataBytes = 10 << 10
	// MaxEventChannels bounds the channels of one event (400 past it).
	MaxEventChannels = 100
	// MaxBatchEvents bounds the events of one batch_events (400 past it).
	MaxBatchEvents = 100
	// MaxEventNameLength bounds an event name (400 past it).
	MaxEventNameLength = 200
	// HTTPAPITimestampWindow is how far auth_timestamp may be from the
	// server's clock (401 past it).
	HTTPAPITimestampWindow = 600 * time.Second
)

// Reasons passed to Observer.Refused by the HTTP API, for its 401s.
const (
	// RefusedAPISignature: a request without a valid signature: missing
	// or wrong auth_signature, an unknown auth_key, auth_timestamp out of
	// the window, a body_md5 that does not match.
	RefusedAPISignature = "api_signature"
	// RefusedAPITenant: a validly signed request whose signature this hub
	// accepted on another tenant within its timestamp window (a publish or
	// a query replayed to another tenant's host): see apiSignatures.
	RefusedAPITenant = "api_tenant"
)

// maxAPISignatures bounds the signatures apiSignatures remembers: some 160
// signed requests a second, each held for the 600 s of its window. Past it
// the oldest is forgotten (logged once).
const maxAPISignatures = 100_000

// apiError is an HTTP API refusal: its status and the message of the JSON
// body {"error": "..."}; reason, for a 401, is what Observer.Refused counts
// (RefusedAPISignature when empty).
type apiError struct {
	status int
	msg    string
	reason string
}

func (e *apiError) Error() string { return e.msg }

func apiErrorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// IsHTTPAPIPath reports whether p is the hub's Pusher HTTP API:
// /apps/{app_id}/... (where Laravel's pusher driver and the npm SDK send it)
// or {ws_path}/apps/{app_id}/... (pusher-php-server's path option), for the
// configured app id only. Without an app id there is no HTTP API, and every
// other path (another app id included) belongs to the application.
func (h *Hub) IsHTTPAPIPath(p string) bool {
	_, _, ok := apiPath(h.cfg.Load(), p)
	return ok
}

// apiPath splits an HTTP API path into what follows /apps/{id}/ and the
// path the request may have been signed with (pusher-http-php signs without
// the ws_path prefix; accept both).
func apiPath(cfg *config, p string) (rest string, signPaths []string, ok bool) {
	id := cfg.AppID
	if id == "" || strings.ContainsAny(id, "/?#") {
		return "", nil, false
	}
	apps := "/apps/" + id + "/"
	if rest, ok := strings.CutPrefix(p, apps); ok {
		return rest, []string{p}, true
	}
	if cfg.wsBase != "" {
		if rest, ok := strings.CutPrefix(p, cfg.wsBase+apps); ok {
			return rest, []string{p, p[len(cfg.wsBase):]}, true
		}
	}
	return "", nil, false
}

// ServeHTTPAPI answers a Pusher HTTP API request (IsHTTPAPIPath) for
// tenant, the tenant of the publishing request: the events it publishes
// reach that tenant's sockets only, and its channel queries see that
// tenant's channels only.
//
//   - POST events {"name","data","channel"|"channels","socket_id"?,"info"?}
//   - POST batch_events {"batch":[event, ...]}
//   - GET channels ?filter_by_prefix=&info=user_count,subscription_count
//   - GET channels/{name} ?info=user_count,subscription_count
//   - GET channels/{name}/users (presence channels only)
//   - POST users/{user_id}/terminate_connections (signin.go)
//
// Every request must be signed (auth_key, auth_timestamp within
// HTTPAPITimestampWindow, auth_version 1.0, body_md5 for a body,
// auth_signature over "METHOD\nPATH\nQUERY"): 401 otherwise, and 401 for
// a signature this hub accepted on another tenant within its window
// (apiSignatures; both counted by Observer.Refused). 413 for a body
// over MaxHTTPAPIBodyBytes or event data over MaxEventDataBytes; 400 for
// malformed JSON, bad channel or event names, more than MaxEventChannels
// channels, a bad socket_id; 200 with a JSON body on success. Errors are
// JSON {"error":"..."}.
func (h *Hub) ServeHTTPAPI(w http.ResponseWriter, r *http.Request, tenant string) {
	cfg := h.cfg.Load()
	body, err := h.serveHTTPAPI(cfg, r, tenant)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{status: http.StatusInternalServerError, msg: err.Error()}
		}
		if ae.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", allowedMethod(r.URL.Path))
		}
		if ae.status == http.StatusUnauthorized {
			reason := ae.reason
			if reason == "" {
				reason = RefusedAPISignature
			}
			cfg.Observer.Refused(reason)
		}
		body, _ = json.Marshal(map[string]string{"error": ae.msg})
		writeAPI(w, ae.status, body)
		return
	}
	writeAPI(w, http.StatusOK, body)
}

func writeAPI(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func allowedMethod(p string) string {
	if strings.HasSuffix(p, "/events") || strings.HasSuffix(p, "/batch_events") || strings.HasSuffix(p, "/terminate_connections") {
		return http.MethodPost
	}
	return http.MethodGet
}

func (h *Hub) serveHTTPAPI(cfg *config, r *http.Request, tenant string) ([]byte, error) {
	rest, signPaths, ok := apiPath(cfg, r.URL.Path)
	if !ok {
		return nil, apiErrorf(http.StatusNotFound, "not found")
	}
	if h.isClosed.Load() {
		return nil, apiErrorf(http.StatusServiceUnavailable, "server shutting down")
	}
	body, err := readAPIBody(r)
	if err != nil {
		return nil, err
	}
	query, err := h.verifyAPIRequest(cfg, r.Method, signPaths, r.URL.RawQuery, body)
	if err != nil {
		return nil, err
	}
	if err := h.bindAPIRequest(cfg, query, tenant); err != nil {
		return nil, err
	}
	method := func(m string) error {
		if r.Method != m {
			return apiErrorf(http.StatusMethodNotAllowed, "method %s not allowed, use %s", r.Method, m)
		}
		return nil
	}
	switch {
	case rest == "events":
		if err := method(http.MethodPost); err != nil {
			return nil, err
		}
		ev, err := parseEventsBody(body)
		if err != nil {
			return nil, err
		}
		h.publishAPIEvents(tenant, []apiEvent{ev})
		if ev.Info != "" {
			return h.channelsInfo(tenant, ev.Channels, ev.Info)
		}
		return []byte("{}"), nil
	case rest == "batch_events":
		if err := method(http.MethodPost); err != nil {
			return nil, err
		}
		evs, err := parseBatchBody(body)
		if err != nil {
			return nil, err
		}
		h.publishAPIEvents(tenant, evs)
		return []byte("{}"), nil
	case rest == "channels":
		if err := method(http.MethodGet); err != nil {
			return nil, err
		}
		return h.listChannels(tenant, query["filter_by_prefix"], query["info"])
	case strings.HasPrefix(rest, "users/"):
		if user, ok := terminatePath(rest); ok { // signin.go
			return h.terminateConnections(r.Method, user, tenant)
		}
		return nil, apiErrorf(http.StatusNotFound, "unknown HTTP API path %s", quoteForMsg(rest))
	case strings.HasPrefix(rest, "channels/"):
		if err := method(http.MethodGet); err != nil {
			return nil, err
		}
		name, users := strings.CutSuffix(rest[len("channels/"):], "/users")
		if !pusher.ValidChannelName(name) {
			return nil, apiErrorf(http.StatusBadRequest, "invalid channel name %s", quoteForMsg(name))
		}
		if users {
			return h.channelUsers(tenant, name)
		}
		return h.channelInfo(tenant, name, query["info"])
	default:
		return nil, apiErrorf(http.StatusNotFound, "unknown HTTP API path %s", quoteForMsg(rest))
	}
}

// readAPIBody reads a request body of at most MaxHTTPAPIBodyBytes (413
// beyond).
func readAPIBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > MaxHTTPAPIBodyBytes {
		return nil, apiErrorf(http.StatusRequestEntityTooLarge, "body over %d bytes", MaxHTTPAPIBodyBytes)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxHTTPAPIBodyBytes+1))
	if err != nil {
		return nil, apiErrorf(http.StatusBadRequest, "reading body: %v", err)
	}
	if len(b) > MaxHTTPAPIBodyBytes {
		return nil, apiErrorf(http.StatusRequestEntityTooLarge, "body over %d bytes", MaxHTTPAPIBodyBytes)
	}
	return b, nil
}

// verifyAPIRequest checks a request's signature (pusher docs,
// rest-api.md "Authentication"): the app key, the timestamp window, the
// auth version, body_md5 when there is a body, and auth_signature =
// hex(hmac_sha256(secret, METHOD\nPATH\nQUERY)) (pusher.APIStringToSign
// over the parameters of pusher.ParseAPIQuery). PATH may be any of paths.
// Compared in constant time. It returns the parameters, which the handlers
// read too: what was signed is what is used.
func (h *Hub) verifyAPIRequest(cfg *config, method string, paths []string, rawQuery string, body []byte) (map[string]string, error) {
	unauthorized := func(format string, args ...any) error {
		return apiErrorf(http.StatusUnauthorized, format, args...)
	}
	params, err := pusher.ParseAPIQuery(rawQuery)
	if err != nil {
		var dup *pusher.DuplicateParamError
		if errors.As(err, &dup) {
			return nil, unauthorized("query parameter %s given twice", quoteForMsg(dup.Key))
		}
		return nil, unauthorized("malformed query string")
	}
	sig := params["auth_signature"]
	if sig == "" {
		return nil, unauthorized("missing auth_signature")
	}
	if !hmac.Equal([]byte(params["auth_key"]), []byte(cfg.AppKey)) {
		return nil, unauthorized("unknown auth_key")
	}
	if v := params["auth_version"]; v != pusher.APIAuthVersion {
		return nil, unauthorized("auth_version must be " + pusher.APIAuthVersion)
	}
	ts, err := strconv.ParseInt(params["auth_timestamp"], 10, 64)
	if err != nil {
		return nil, unauthorized("missing or malformed auth_timestamp")
	}
	if d := h.apiNow().Sub(time.Unix(ts, 0)); d > HTTPAPITimestampWindow || d < -HTTPAPITimestampWindow {
		return nil, unauthorized("auth_timestamp is more than %d s from the server's time", int(HTTPAPITimestampWindow.Seconds()))
	}
	md5Param, hasMD5 := params["body_md5"]
	if len(body) > 0 || hasMD5 {
		if !hmac.Equal([]byte(strings.ToLower(md5Param)), []byte(pusher.BodyMD5(body))) {
			return nil, unauthorized("body_md5 does not match the body")
		}
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return nil, unauthorized("invalid auth_signature")
	}
	ok := false
	for _, p := range paths {
		// Every candidate is computed and compared, so that the time taken
		// does not tell which path matched.
		if hmac.Equal(pusher.APISignature(cfg.AppSecret, pusher.APIStringToSign(method, p, params)), got) {
			ok = true
		}
	}
	if !ok {
		return nil, unauthorized("invalid auth_signature")
	}
	return params, nil
}

// apiNow is the wall clock of the HTTP API: h.clock, else time.Now.
func (h *Hub) apiNow() time.Time {
	if h.clock != nil {
		return h.clock()
	}
	return time.Now()
}

// bindAPIRequest binds the signature of a request verifyAPIRequest
// accepted to tenant (apiSignatures): 401 when it was first used on
// another tenant within its window.
func (h *Hub) bindAPIRequest(cfg *config, params map[string]string, tenant string) error {
	sig, err := hex.DecodeString(params["auth_signature"])
	ts, tsErr := strconv.ParseInt(params["auth_timestamp"], 10, 64)
	if err != nil || tsErr != nil || len(sig) != sha256.Size {
		return apiErrorf(http.StatusUnauthorized, "invalid auth_signature") // verified already
	}
	expires := ts + int64(HTTPAPITimestampWindow/time.Second)
	refused := &apiError{status: http.StatusUnauthorized, msg: "auth_signature was already used for another tenant", reason: RefusedAPITenant}
	// In a cluster the signature is bound cluster-wide first: a replay to
	// another tenant's host may land on another instance. When the cluster
	// cannot tell (Redis unreachable), this instance's binding stands alone.
	if d := h.socketDirectory(); d != nil {
		if ttl := time.Duration(expires-h.apiNow().Unix()) * time.Second; ttl > 0 {
			if bound, err := d.BindAPISignature(hex.EncodeToString(sig), tenant, ttl); err == nil && !bound {
				return refused
			}
		}
	}
	ok, forgot := h.apiSigs.bind([sha256.Size]byte(sig), tenant, h.apiNow().Unix(), expires)
	if forgot {
		cfg.Logger.Warn("realtime: HTTP API: more signed requests within the timestamp window than are remembered; "+
			"the oldest signatures are forgotten and could be replayed to another tenant until their window ends",
			zap.Int("remembered", maxAPISignatures), zap.Duration("window", HTTPAPITimestampWindow))
	}
	if !ok {
		return refused
	}
	return nil
}

// apiSignatures binds the signed HTTP API requests to their tenants. A
// signature covers the method, the path and the query, auth_timestamp
// among them (the Pusher HTTP API's "Authentication": auth_signature is
// the HMAC-SHA256 of "METHOD\nPATH\nQUERY"), not the host, while the tenant
// of a request is read from its host (or whatever the tenant placeholder
// reads): a request signed for one tenant is as valid on every other one
// for as long as its timestamp is within the window. So the hub remembers
// every signature it accepts (its 32 bytes: however its hex is written,
// the same key) with the tenant of its first use, until its timestamp
// leaves the window, and refuses it on any other tenant.
//
// The same request again on the same tenant passes: Pusher's servers do not
// refuse duplicates, and the PHP SDK (pusher-http-php, Laravel's pusher
// driver) signs with a timestamp in whole seconds, so two identical
// broadcasts within one second carry one signature and are both meant. A
// repeat reaches only the tenant the app published to, and a record event
// seen before is dropped by the dedupe.
//
// Per instance: in a cluster a replay that reaches another instance is not
// recognised there. At most maxAPISignatures are remembered; past it the
// oldest are forgotten first. Queries (GET channels, users) are bound too:
// replayed to another tenant they would list its channels and members.
type apiSignatures struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]apiSigUse
	// queue holds the signatures in the order first seen, from head on.
	queue  []apiSigQueued
	head   int
	warned bool
}

type apiSigUse struct {
	tenant  string
	expires int64 // unix seconds: the last second of the timestamp's window
}

type apiSigQueued struct {
	sig     [sha256.Size]byte
	expires int64
}

// bind reports whether the signature sig may be used on tenant at now
// (unix seconds): it binds it to tenant until expires at its first use; a
// later use passes on that tenant only. forgot is true, once per
// apiSignatures, when the bound made it forget a signature whose window had
// not ended.
func (s *apiSignatures) bind(sig [sha256.Size]byte, tenant string, now, expires int64) (ok, forgot bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, seen := s.seen[sig]; seen && u.expires >= now {
		return u.tenant == tenant, false
	}
	if s.seen == nil {
		s.seen = make(map[[sha256.Size]byte]apiSigUse)
	}
	// Forget what has expired, and the oldest while full. Entries expire
	// about in the order they came (a timestamp is close to its arrival),
	// and one that expired behind a later one is harmless until it goes:
	// its timestamp is refused before it is looked up.
	for s.head < len(s.queue) {
		q := s.queue[s.head]
		live := q.expires >= now
		if live && len(s.seen) < maxAPISignatures {
			break
		}
		if live && !s.warned {
			s.warned, forgot = true, true
		}
		if u, ok := s.seen[q.sig]; ok && u.expires == q.expires {
			delete(s.seen, q.sig)
		}
		s.head++
	}
	if s.head > 1024 && s.head > len(s.queue)/2 {
		s.queue = s.queue[:copy(s.queue, s.queue[s.head:])]
		s.head = 0
	}
	s.seen[sig] = apiSigUse{tenant: tenant, expires: expires}
	s.queue = append(s.queue, apiSigQueued{sig: sig, expires: expires})
	return true, forgot
}

// apiEvent is one event of POST events or batch_events, validated.
type apiEvent struct {
	Name     string
	Data     []byte
	Channels []string
	SocketID string
	Info     string
}

// rawAPIEvent is the wire form of an event.
type rawAPIEvent struct {
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channel  string          `json:"channel"`
	Channels []string        `json:"channels"`
	SocketID string          `json:"socket_id"`
	Info     string          `json:"info"`
}

// parseEventsBody parses and validates the body of POST events.
func parseEventsBody(body []byte) (apiEvent, error) {
	var raw rawAPIEvent
	if err := decodeAPIJSON(body, &raw); err != nil {
		return apiEvent{}, err
	}
	return raw.validate()
}

// parseBatchBody parses and validates the body of POST batch_events.
func parseBatchBody(body []byte) ([]apiEvent, error) {
	var raw struct {
		Batch []rawAPIEvent `json:"batch"`
	}
	if err := decodeAPIJSON(body, &raw); err != nil {
		return nil, err
	}
	if len(raw.Batch) == 0 {
		return nil, apiErrorf(http.StatusBadRequest, `"batch" must be a non-empty list of events`)
	}
	if len(raw.Batch) > MaxBatchEvents {
		return nil, apiErrorf(http.StatusBadRequest, "batch of %d events: the limit is %d", len(raw.Batch), MaxBatchEvents)
	}
	evs := make([]apiEvent, len(raw.Batch))
	for i, r := range raw.Batch {
		ev, err := r.validate()
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				return nil, apiErrorf(ae.status, "batch[%d]: %s", i, ae.msg)
			}
			return nil, err
		}
		evs[i] = ev
	}
	return evs, nil
}

func decodeAPIJSON(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return apiErrorf(http.StatusBadRequest, "the body must be a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return apiErrorf(http.StatusBadRequest, "malformed JSON body: %v", err)
	}
	return nil
}

func (r rawAPIEvent) validate() (apiEvent, error) {
	ev := apiEvent{Name: r.Name, SocketID: r.SocketID, Info: r.Info}
	if r.Name == "" || len(r.Name) > MaxEventNameLength {
		return ev, apiErrorf(http.StatusBadRequest, `"name" must be 1–%d characters`, MaxEventNameLength)
	}
	// data is a JSON string holding the payload (Pusher's SDKs); an object
	// is taken as the payload itself.
	data := bytes.TrimSpace(r.Data)
	switch {
	case len(data) == 0 || string(data) == "null":
		data = nil
	case data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return ev, apiErrorf(http.StatusBadRequest, `"data" is not a valid JSON string`)
		}
		data = []byte(s)
	case data[0] == '{' || data[0] == '[':
	default:
		return ev, apiErrorf(http.StatusBadRequest, `"data" must be a string`)
	}
	if len(data) > MaxEventDataBytes {
		return ev, apiErrorf(http.StatusRequestEntityTooLarge, "event data is %d bytes: the limit is %d", len(data), MaxEventDataBytes)
	}
	ev.Data = data
	chans := r.Channels
	if r.Channel != "" {
		if len(chans) > 0 {
			return ev, apiErrorf(http.StatusBadRequest, `give "channel" or "channels", not both`)
		}
		chans = []string{r.Channel}
	}
	if len(chans) == 0 {
		return ev, apiErrorf(http.StatusBadRequest, `missing "channel" or "channels"`)
	}
	if len(chans) > MaxEventChannels {
		return ev, apiErrorf(http.StatusBadRequest, "%d channels: the limit is %d", len(chans), MaxEventChannels)
	}
	for _, c := range chans {
		if !validEventChannel(c) { // or a user's channel (signin.go)
			return ev, apiErrorf(http.StatusBadRequest, "invalid channel name %s: 1–200 characters of [-a-zA-Z0-9_=@,.;]", quoteForMsg(c))
		}
		if len(chans) > 1 && pusher.KindOf(c) == pusher.KindPrivateEncrypted {
			// Each encrypted channel has its own key (the Pusher docs,
			// "End-to-end encrypted channels", Limitations).
			return ev, apiErrorf(http.StatusBadRequest, "an event for %s must name that channel alone: its data is encrypted for it", quoteForMsg(c))
		}
	}
	slices.Sort(chans)
	ev.Channels = slices.Compact(slices.Clone(chans))
	if ev.SocketID != "" && !pusher.ValidSocketID(ev.SocketID) {
		return ev, apiErrorf(http.StatusBadRequest, "invalid socket_id %s", quoteForMsg(ev.SocketID))
	}
	return ev, nil
}

// publishAPIEvents publishes validated events to tenant's channels.
func (h *Hub) publishAPIEvents(tenant string, evs []apiEvent) {
	for _, ev := range evs {
		for _, c := range ev.Channels {
			h.Publish(Event{Tenant: tenant, Channel: c, Name: ev.Name, Data: ev.Data, ExceptSocket: ev.SocketID, Source: SourceAPI})
		}
	}
}

// infoFields parses the info parameter: "user_count", "subscription_count"
// (comma-separated). user_count is for presence channels only.
func infoFields(info string, presence bool) (users, subs bool, err error) {
	for _, f := range strings.Split(info, ",") {
		switch strings.TrimSpace(f) {
		case "":
		case "user_count":
			if !presence {
				return false, false, apiErrorf(http.StatusBadRequest, "info=user_count is for presence channels only")
			}
			users = true
		case "subscription_count":
			subs = true
		default:
			return false, false, apiErrorf(http.StatusBadRequest, "unknown info attribute %s", quoteForMsg(f))
		}
	}
	return users, subs, nil
}

// channelAttrs is the info of one channel in the HTTP API's answers.
type channelAttrs struct {
	UserCount         *int `json:"user_count,omitempty"`
	SubscriptionCount *int `json:"subscription_count,omitempty"`
}

func (h *Hub) attrs(tenant, name string, subs int, users, withSubs bool) channelAttrs {
	var a channelAttrs
	if users {
		n := len(h.PresenceUsers(tenant, name))
		a.UserCount = &n
	}
	if withSubs {
		a.SubscriptionCount = &subs
	}
	return a
}

// listChannels answers GET channels: the occupied channels of tenant whose
// names start with prefix.
func (h *Hub) listChannels(tenant, prefix, info string) ([]byte, error) {
	users, withSubs, err := infoFields(info, pusher.KindOf(prefix) == pusher.KindPresence)
	if err != nil {
		return nil, err
	}
	out := make(map[string]channelAttrs)
	for name, n := range h.channelsOf(tenant, prefix) {
		out[name] = h.attrs(tenant, name, n, users, withSubs)
	}
	return json.Marshal(map[string]any{"channels": out})
}

// channelsInfo answers POST events with info: the info of its channels.
func (h *Hub) channelsInfo(tenant string, names []string, info string) ([]byte, error) {
	out := make(map[string]channelAttrs, len(names))
	for _, name := range names {
		users, withSubs, err := infoFields(info, pusher.KindOf(name) == pusher.KindPresence)
		if err != nil {
			return nil, err
		}
		out[name] = h.attrs(tenant, name, h.subscriptionCount(tenant, name), users, withSubs)
	}
	return json.Marshal(map[string]any{"channels": out})
}

// channelInfo answers GET channels/{name}.
func (h *Hub) channelInfo(tenant, name, info string) ([]byte, error) {
	users, withSubs, err := infoFields(info, pusher.KindOf(name) == pusher.KindPresence)
	if err != nil {
		return nil, err
	}
	n := h.subscriptionCount(tenant, name)
	return json.Marshal(struct {
		Occupied bool `json:"occupied"`
		channelAttrs
	}{n > 0, h.attrs(tenant, name, n, users, withSubs)})
}

// channelUsers answers GET channels/{name}/users (presence channels only).
func (h *Hub) channelUsers(tenant, name string) ([]byte, error) {
	if pusher.KindOf(name) != pusher.KindPresence {
		return nil, apiErrorf(http.StatusBadRequest, "users are only available for presence channels")
	}
	users := h.PresenceUsers(tenant, name)
	if users == nil {
		users = []PresenceUser{}
	}
	return json.Marshal(map[string]any{"users": users})
}

// subscriptionCount returns how many sockets of tenant are subscribed to name.
func (h *Hub) subscriptionCount(tenant, name string) int {
	k := chanKey{tenant, name}
	sh := h.shardFor(k)
	sh.mu.RLock()
	n := len(sh.channels[k])
	sh.mu.RUnlock()
	return n
}

// channelsOf returns the occupied channels of tenant whose names start with
// prefix, with their subscription counts.
func (h *Hub) channelsOf(tenant, prefix string) map[string]int {
	out := make(map[string]int)
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for k, subs := range sh.channels {
			if k.tenant == tenant && len(subs) > 0 && strings.HasPrefix(k.name, prefix) {
				out[k.name] = len(subs)
			}
		}
		sh.mu.RUnlock()
	}
	return out
}
