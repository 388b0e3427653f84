package realtime

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Limits of the Pusher HTTP API (shared/design/pusher-protocol.md, "HTTP API").
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

// apiError is an HTTP API refusal: its status and the message of the JSON
// body {"error": "..."}.
type apiError struct {
	status int
	msg    string
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
//
// Every request must be signed (auth_key, auth_timestamp within
// HTTPAPITimestampWindow, auth_version 1.0, body_md5 for a body,
// auth_signature over "METHOD\nPATH\nQUERY"): 401 otherwise. 413 for a body
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
	if strings.HasSuffix(p, "/events") || strings.HasSuffix(p, "/batch_events") {
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
	if err := h.verifyAPIRequest(cfg, r.Method, signPaths, r.URL.RawQuery, body); err != nil {
		return nil, err
	}
	query, _ := url.ParseQuery(r.URL.RawQuery) // verifyAPIRequest has checked it
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
		return h.listChannels(tenant, query.Get("filter_by_prefix"), query.Get("info"))
	case strings.HasPrefix(rest, "channels/"):
		if err := method(http.MethodGet); err != nil {
			return nil, err
		}
		name, users := strings.CutSuffix(rest[len("channels/"):], "/users")
		if !validChannelName(name) {
			return nil, apiErrorf(http.StatusBadRequest, "invalid channel name %s", quoteForMsg(name))
		}
		if users {
			return h.channelUsers(tenant, name)
		}
		return h.channelInfo(tenant, name, query.Get("info"))
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
// hex(hmac_sha256(secret, METHOD\nPATH\nQUERY)) where QUERY is every
// parameter but auth_signature, keys lowercased and sorted, values not
// escaped. PATH may be any of paths. Compared in constant time.
func (h *Hub) verifyAPIRequest(cfg *config, method string, paths []string, rawQuery string, body []byte) error {
	unauthorized := func(format string, args ...any) error {
		return apiErrorf(http.StatusUnauthorized, format, args...)
	}
	params := make(map[string]string)
	for _, pair := range strings.Split(rawQuery, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return unauthorized("malformed query string")
		}
		key = strings.ToLower(key)
		if _, dup := params[key]; dup {
			return unauthorized("query parameter %s given twice", quoteForMsg(key))
		}
		params[key] = val
	}
	sig := params["auth_signature"]
	if sig == "" {
		return unauthorized("missing auth_signature")
	}
	if !hmac.Equal([]byte(params["auth_key"]), []byte(cfg.AppKey)) {
		return unauthorized("unknown auth_key")
	}
	if v := params["auth_version"]; v != "1.0" {
		return unauthorized("auth_version must be 1.0")
	}
	ts, err := strconv.ParseInt(params["auth_timestamp"], 10, 64)
	if err != nil {
		return unauthorized("missing or malformed auth_timestamp")
	}
	now := time.Now
	if h.clock != nil {
		now = h.clock
	}
	if d := now().Sub(time.Unix(ts, 0)); d > HTTPAPITimestampWindow || d < -HTTPAPITimestampWindow {
		return unauthorized("auth_timestamp is more than %d s from the server's time", int(HTTPAPITimestampWindow.Seconds()))
	}
	md5Param, hasMD5 := params["body_md5"]
	if len(body) > 0 || hasMD5 {
		sum := md5.Sum(body)
		if !hmac.Equal([]byte(strings.ToLower(md5Param)), []byte(hex.EncodeToString(sum[:]))) {
			return unauthorized("body_md5 does not match the body")
		}
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return unauthorized("invalid auth_signature")
	}
	q := apiQuery(params, nil)
	ok := false
	for _, p := range paths {
		// Every candidate is computed and compared, so that the time taken
		// does not tell which path matched.
		if hmac.Equal(apiSignature(cfg.AppSecret, method, p, q), got) {
			ok = true
		}
	}
	if !ok {
		return unauthorized("invalid auth_signature")
	}
	return nil
}

// SignAPIRequest signs a Pusher HTTP API request as pusher-http-php and the
// npm SDK do, and as ServeHTTPAPI verifies it: it returns the whole query
// string to send with method to path, without the leading "?": params (keys
// lowercased), auth_key=key, auth_timestamp=now's Unix seconds,
// auth_version=1.0, body_md5=hex(md5(body)) when body is not empty, all
// sorted by key and escaped, then auth_signature =
// hex(hmac_sha256(secret, METHOD\nPATH\nQUERY)), where QUERY is the same
// parameters sorted and joined unescaped (apiQuery, apiSignature: the
// verifier's own). The auth_* parameters and body_md5 it sets win over the
// same keys in params. path is the path signed, which is the request's path
// or, for pusher-http-php's path option, that path without the ws_path
// prefix.
func SignAPIRequest(method, path string, params map[string]string, body []byte, key, secret string, now time.Time) string {
	p := make(map[string]string, len(params)+4)
	for k, v := range params {
		p[strings.ToLower(k)] = v
	}
	p["auth_key"] = key
	p["auth_timestamp"] = strconv.FormatInt(now.Unix(), 10)
	p["auth_version"] = "1.0"
	if len(body) > 0 {
		sum := md5.Sum(body)
		p["body_md5"] = hex.EncodeToString(sum[:])
	}
	sig := apiSignature(secret, method, path, apiQuery(p, nil))
	return apiQuery(p, url.QueryEscape) + "&auth_signature=" + hex.EncodeToString(sig)
}

// apiQuery is every parameter of params but auth_signature as key=value,
// sorted by key, joined with &, keys and values passed through escape. With
// a nil escape (nothing escaped) it is the QUERY of the string to sign.
func apiQuery(params map[string]string, escape func(string) string) string {
	if escape == nil {
		escape = func(s string) string { return s }
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "auth_signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var q strings.Builder
	for i, k := range keys {
		if i > 0 {
			q.WriteByte('&')
		}
		q.WriteString(escape(k))
		q.WriteByte('=')
		q.WriteString(escape(params[k]))
	}
	return q.String()
}

// apiSignature is hmac_sha256(secret, method\npath\nquery), query being
// apiQuery's unescaped.
func apiSignature(secret, method, path, query string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(method))
	mac.Write([]byte{'\n'})
	mac.Write([]byte(path))
	mac.Write([]byte{'\n'})
	mac.Write([]byte(query))
	return mac.Sum(nil)
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
		if !validChannelName(c) {
			return ev, apiErrorf(http.StatusBadRequest, "invalid channel name %s: 1–200 characters of [-a-zA-Z0-9_=@,.;]", quoteForMsg(c))
		}
	}
	slices.Sort(chans)
	ev.Channels = slices.Compact(slices.Clone(chans))
	if ev.SocketID != "" && !validSocketID(ev.SocketID) {
		return ev, apiErrorf(http.StatusBadRequest, "invalid socket_id %s", quoteForMsg(ev.SocketID))
	}
	return ev, nil
}

// validSocketID reports whether s has the form ^\d+\.\d+$.
func validSocketID(s string) bool {
	a, b, ok := strings.Cut(s, ".")
	if !ok || a == "" || b == "" || len(s) > 41 {
		return false
	}
	for _, part := range []string{a, b} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

// publishAPIEvents publishes validated events to tenant's channels.
func (h *Hub) publishAPIEvents(tenant string, evs []apiEvent) {
	for _, ev := range evs {
		for _, c := range ev.Channels {
			h.Publish(Event{Tenant: tenant, Channel: c, Name: ev.Name, Data: ev.Data, ExceptSocket: ev.SocketID})
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
	users, withSubs, err := infoFields(info, strings.HasPrefix(prefix, "presence-"))
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
		users, withSubs, err := infoFields(info, kindOf(name) == kindPresence)
		if err != nil {
			return nil, err
		}
		out[name] = h.attrs(tenant, name, h.subscriptionCount(tenant, name), users, withSubs)
	}
	return json.Marshal(map[string]any{"channels": out})
}

// channelInfo answers GET channels/{name}.
func (h *Hub) channelInfo(tenant, name, info string) ([]byte, error) {
	users, withSubs, err := infoFields(info, kindOf(name) == kindPresence)
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
	if kindOf(name) != kindPresence {
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
