package proxy

import (
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/recordsync/recordsync/versioncache"
	"go.uber.org/zap"
)

// Defaults applied by New when an Options field is zero.
const (
	// DefaultVersionField is the gjson path of a record's version in the
	// app's JSON (a successResponse shape, {"success":true,"data":{...}}).
	DefaultVersionField = "data.updated_at"
	// DefaultClientVersionField is the gjson path of the loaded version in a
	// PUT/PATCH JSON body (the app's client_version check, "Phase A" in
	// examples/laravel/README.md).
	DefaultClientVersionField = "client_version"
	// DefaultVersionEndpoint is the pattern of the version poll route.
	DefaultVersionEndpoint = "/api/v1/records/{type}/{id}/version"
	// VersionEndpointOff as Options.VersionEndpoint disables the endpoint.
	VersionEndpointOff = "off"
	// DefaultConflictStatus is the status of a conflict answered from the
	// cache (the app's contract); 412 is the other choice (RFC 9110 §13.1.1).
	DefaultConflictStatus = 409
	// DefaultMaxBodyBytes caps how much of a request or response body is
	// read for inspection.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultWriteWait bounds how long a conditional write waits for its
	// record's turn before it is answered 503.
	DefaultWriteWait = 10 * time.Second
	// DefaultAuthTTL is how long an allow/deny answer of the app is remembered.
	DefaultAuthTTL = 60 * time.Second
	// DefaultAuthEntries bounds the authorisation memory.
	DefaultAuthEntries = 100_000
	// DefaultSessionCookie is the session cookie used raw when neither
	// Options.SessionCookie nor Options.LaravelAppKey is set (with the key,
	// the session is found under any name).
	DefaultSessionCookie = "laravel_session"
	// DefaultAuthEndpoint are the paths of the app's channel authorisation:
	// Laravel's Broadcast::routes() at its default path, and under the
	// "api" prefix that Laravel 11+ apps give it for Sanctum tokens
	// (withBroadcasting(..., ['prefix' => 'api', ...]) in
	// bootstrap/app.php).
	DefaultAuthEndpoint = "/broadcasting/auth /api/broadcasting/auth"
	// AuthEndpointOff as Options.AuthEndpoint (or UserAuthEndpoint)
	// disables signing.
	AuthEndpointOff = "off"
	// DefaultUserAuthEndpoint are the paths of the app's user
	// authentication for pusher:signin: Laravel 11+'s
	// Broadcast::userRoutes() (BroadcastManager::userRoutes, path
	// /broadcasting/user-auth), and the same under the "api" prefix.
	DefaultUserAuthEndpoint = "/broadcasting/user-auth /api/broadcasting/user-auth"
)

// RouteSpec is one `record TYPE PATTERN { list CHANNEL EVENT IDKEY }` line.
type RouteSpec struct {
	// Type is the record type, e.g. "flow". Unique among routes.
	Type string
	// Pattern is the URL path pattern, e.g.
	// "/api/v1/projects/{project}/tasks/{id}". {id} is required; other
	// {names} are captured. A {name} matches one non-empty path segment and
	// must be a whole segment.
	Pattern string
	// Lists are the optional list channels a save of this record is also
	// announced on.
	Lists []ListSpec
	// Model, when set, also announces each save of this record the way
	// Laravel's model broadcasting does (ModelSpec).
	Model *ModelSpec
	// MergePatches lets a stale PATCH through when none of its body's
	// fields changed since the version it was loaded on (see
	// Handler.guard): it is forwarded as a write on the current version.
	// Needs a Printer. Off by default.
	MergePatches bool
	// Inertia, when set, reads the record also from Inertia pages
	// (InertiaSpec).
	Inertia *InertiaSpec
}

// InertiaSpec says where a record lives in the app's Inertia pages
// (https://inertiajs.com/the-protocol): the page object of an X-Inertia
// JSON answer, or of a first load's HTML (data-page), holds the record in
// its props.
type InertiaSpec struct {
	// Props is the dotted path of the record object inside the page's
	// props, e.g. "flow" for props.flow. The version and who-saved-it
	// fields are read there under the names they have in the record
	// object of a JSON answer (VersionField "data.updated_at" →
	// props.flow.updated_at).
	Props string
	// Patterns are more URL patterns whose answers are Inertia pages of
	// this record, e.g. "/flows/{id}"; each captures {id} and every name
	// the record's pattern captures. None: the record's own pattern
	// answers Inertia pages too.
	Patterns []string
}

// ModelSpec announces a record's saves as Laravel's model broadcasting
// does (Illuminate/Database/Eloquent/BroadcastsEvents.php and
// BroadcastableModelEventOccurred.php): the event class_basename.Updated
// ("FlowUpdated") on the model's private channel, its class with dots
// ("App.Models.Flow") and the id, with {"model":{...}}, so that Echo's
// useEchoModel("App.Models.Flow", id) hears saves made through the proxy.
type ModelSpec struct {
	// Class is the model's class with dots for backslashes, e.g.
	// "App.Models.Flow".
	Class string
	// Fields are the top-level fields of the record object copied into
	// "model" (the writer's answer may hold fields other users must not
	// see: only these go out). Default: "id" and the version field.
	Fields []string
}

// ListSpec is a list channel of a record route.
type ListSpec struct {
	// Channel is the Echo channel name template without "private-", e.g.
	// "project.{project}"; its {names} must be captured by the pattern.
	Channel string
	// Event is the event name, e.g. "task.updated".
	Event string
	// IDKey is the payload key the record id is added under, e.g. "task_id".
	IDKey string
}

// Options configure a Handler. Zero values mean the defaults.
type Options struct {
	// Routes are the record routes. Types must be unique.
	Routes []RouteSpec
	// VersionField is the gjson path of the version in a record's JSON.
	// Default: DefaultVersionField.
	VersionField string
	// UpdatedByIDField is the gjson path of who saved the record (its raw
	// JSON, a number or a string, is kept). Empty: not read.
	UpdatedByIDField string
	// UpdatedByNameField is the gjson path of the display name of who saved
	// the record. Empty: not read.
	UpdatedByNameField string
	// ClientVersionField is the gjson path of the loaded version in a
	// PUT/PATCH JSON body. Default: DefaultClientVersionField.
	ClientVersionField string
	// VersionEndpoint is the pattern of the version poll route, with {type}
	// and {id}. "off" disables it. Default: DefaultVersionEndpoint.
	VersionEndpoint string
	// ConflictStatus is the status of a conflict answered from the cache:
	// 409 or 412. Default: DefaultConflictStatus.
	ConflictStatus int
	// MaxBodyBytes caps the request and response bodies read for
	// inspection; larger ones pass through uninspected.
	// Default: DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// WriteWait bounds how long a conditional write waits for its record's
	// turn; then it is answered 503. Default: DefaultWriteWait.
	WriteWait time.Duration
	// TurnTimeout bounds how long a conditional write holds its record's
	// turn (taken once its body was read whole): after it the turn goes to
	// the next writer while the late write goes on, and between the two
	// the app's own check decides. Default: twice WriteWait, which is up
	// to WriteWait for the cluster-wide lock inside the turn and as long
	// again for the app's answer.
	TurnTimeout time.Duration
	// AuthTTL is how long an allow/deny answer of the app to a credential is
	// remembered. Default: DefaultAuthTTL.
	AuthTTL time.Duration
	// AuthEntries bounds the authorisation memory New makes when Memory is
	// nil. Default: DefaultAuthEntries.
	AuthEntries int64
	// Locker serialises conditional writes of one record across processes
	// (a cluster), inside this process's turn for the record; the guard then
	// also checks against the newest version learned under the lock. When it
	// cannot be asked, writes are serialised by this process only. Nil: this
	// process only.
	Locker Locker
	// Memory is the authorisation memory and write turns to use, shared
	// across configurations (see Memory). Default: New makes its own.
	Memory *Memory
	// ImportHeader is a request header that marks a write as an import: it
	// is learned from but not published. Empty: none.
	ImportHeader string
	// SessionCookie pins the name of the session cookie that, with a
	// Bearer token or alone, names the caller (see Handler.credentialID),
	// as PHP files it ("a.b" is "a_b"). Never XSRF-TOKEN. Empty: with
	// LaravelAppKey, the session is found among the request's cookies,
	// whatever its name (Handler.findSession); without it,
	// DefaultSessionCookie.
	SessionCookie string
	// LaravelAppKey is Laravel's APP_KEY ("base64:..." or the raw 16 or 32
	// bytes). When set, the session cookie is decrypted and verified
	// (AES-128/256-CBC or -GCM, as Laravel's Encrypter) and the session id
	// inside is the credential. Empty: the raw cookie is.
	LaravelAppKey string
	// LaravelPreviousKeys is Laravel's APP_PREVIOUS_KEYS (Laravel 11 and
	// later): previous keys, comma-separated, each as LaravelAppKey and of
	// its length, tried in order after it, as Laravel's Encrypter does, so
	// that sessions begun before a key rotation are still read. Needs
	// LaravelAppKey. Empty: none.
	LaravelPreviousKeys string
	// AuthEndpoint is the path of the app's channel authorisation
	// endpoint, or several separated by spaces (Laravel 11+ apps may put it
	// under /api). The proxy watches POSTs to it and, with a Signer, signs the
	// app's unsigned grants (Laravel's redis broadcaster) for the request's
	// socket and channel; see Handler.serveAuth. "off" disables it.
	// Default: DefaultAuthEndpoint.
	AuthEndpoint string
	// UserAuthEndpoint are the paths of the app's user authentication
	// (pusher:signin), space-separated, or AuthEndpointOff; its answers
	// are signed and bound to the tenant as the channel grants are.
	// Default: DefaultUserAuthEndpoint.
	UserAuthEndpoint string
	// Signer signs subscriptions for open sockets (the realtime hub). Nil:
	// auth answers pass through untouched.
	Signer Signer
	// Grants remembers the app's channel grants per caller, tenant and
	// channel, so that a caller's later auth request for the same channel
	// is answered without the app (GrantMemory). Needs a Signer. Nil: every
	// auth request goes to the app.
	Grants GrantMemory
	// CredentialConfigured says that a credential placeholder is
	// configured (RequestInfo.Credential may be set): the callers of
	// websocket upgrades, which recordsync cannot evaluate it for, are
	// then unknown to the grant memory (UpgradeCaller).
	CredentialConfigured bool
	// Store is the version memory. Required.
	Store *versioncache.Store
	// Printer fingerprints the fields of the record answers the proxy
	// learns from (versioncache.Fields), for changed_fields and conflict
	// details. Nil: no fingerprints.
	Printer *versioncache.Printer
	// Publisher is told of every learned save. Nil: nobody.
	Publisher Publisher
	// Observer receives metric events. Nil: none.
	Observer Observer
	// Edge is told which record each answer given at the edge was about
	// (the live console). Nil: nobody.
	Edge EdgeObserver
	// Logger receives debug decisions. Nil: no logs.
	Logger *zap.Logger
}

// ErrNoStore is returned by New when Options.Store is nil.
var ErrNoStore = errors.New("proxy: a version store is required")

// applyDefaults fills zero fields and validates the scalar ones.
func (o *Options) applyDefaults() error {
	if o.Store == nil {
		return ErrNoStore
	}
	if o.VersionField == "" {
		o.VersionField = DefaultVersionField
	}
	if o.ClientVersionField == "" {
		o.ClientVersionField = DefaultClientVersionField
	}
	if o.VersionEndpoint == "" {
		o.VersionEndpoint = DefaultVersionEndpoint
	}
	if o.AuthEndpoint == "" {
		o.AuthEndpoint = DefaultAuthEndpoint
	}
	if o.UserAuthEndpoint == "" {
		o.UserAuthEndpoint = DefaultUserAuthEndpoint
	}
	for _, e := range []struct{ name, paths string }{
		{"auth_endpoint", o.AuthEndpoint}, {"user_auth_endpoint", o.UserAuthEndpoint},
	} {
		if e.paths == AuthEndpointOff {
			continue
		}
		for _, p := range strings.Fields(e.paths) {
			if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#{}") {
				return fmt.Errorf("%s: want paths starting with / or %q, got %q", e.name, AuthEndpointOff, p)
			}
		}
		if len(strings.Fields(e.paths)) == 0 {
			return fmt.Errorf("%s: want paths starting with / or %q, got %q", e.name, AuthEndpointOff, e.paths)
		}
	}
	if o.AuthEndpoint != AuthEndpointOff && o.UserAuthEndpoint != AuthEndpointOff {
		for _, p := range strings.Fields(o.UserAuthEndpoint) {
			if slices.Contains(strings.Fields(o.AuthEndpoint), p) {
				return fmt.Errorf("user_auth_endpoint: %s is also an auth_endpoint path", p)
			}
		}
	}
	for _, f := range []struct{ name, path string }{
		{"version_field", o.VersionField},
		{"updated_by_id", o.UpdatedByIDField},
		{"updated_by_name", o.UpdatedByNameField},
		{"client_version", o.ClientVersionField},
	} {
		if f.path == "" {
			continue
		}
		if err := validPath(f.path); err != nil {
			return fmt.Errorf("%s: invalid gjson path %q: %w", f.name, f.path, err)
		}
	}
	if o.ConflictStatus == 0 {
		o.ConflictStatus = DefaultConflictStatus
	}
	if err := ValidateConflictStatus(o.ConflictStatus); err != nil {
		return fmt.Errorf("conflict_status: %w", err)
	}
	if o.MaxBodyBytes < 0 {
		return fmt.Errorf("max_body_bytes: must not be negative, got %d", o.MaxBodyBytes)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.WriteWait < 0 {
		return fmt.Errorf("write_wait: must not be negative, got %s", o.WriteWait)
	}
	if o.WriteWait == 0 {
		o.WriteWait = DefaultWriteWait
	}
	if o.TurnTimeout < 0 {
		return fmt.Errorf("turn_timeout: must not be negative, got %s", o.TurnTimeout)
	}
	if o.TurnTimeout == 0 {
		o.TurnTimeout = 2 * o.WriteWait
	}
	if o.AuthTTL < 0 {
		return fmt.Errorf("auth_ttl: must not be negative, got %s", o.AuthTTL)
	}
	if o.AuthTTL == 0 {
		o.AuthTTL = DefaultAuthTTL
	}
	if o.AuthEntries < 0 {
		return fmt.Errorf("auth_entries: must not be negative, got %d", o.AuthEntries)
	}
	if o.AuthEntries == 0 {
		o.AuthEntries = DefaultAuthEntries
	}
	if o.ImportHeader != "" {
		if !validToken(o.ImportHeader) {
			return fmt.Errorf("import_header: invalid header name %q", o.ImportHeader)
		}
		o.ImportHeader = textproto.CanonicalMIMEHeaderKey(o.ImportHeader)
	}
	if o.SessionCookie != "" && !validToken(o.SessionCookie) {
		return fmt.Errorf("session_cookie: invalid cookie name %q", o.SessionCookie)
	}
	if o.SessionCookie == XSRFCookie {
		return fmt.Errorf("session_cookie: %s is Laravel's CSRF cookie, readable by JavaScript, not the session", XSRFCookie)
	}
	return nil
}

// validPath checks a gjson path the way gjson v1.20 would read it, since the
// library has no ValidPath: not empty, no control characters or spaces, no
// empty component, no dangling escape.
func validPath(p string) error {
	if len(p) > 512 {
		return errors.New("too long")
	}
	if p[0] == '.' || p[len(p)-1] == '.' {
		return errors.New("starts or ends with '.'")
	}
	escaped := false
	prevDot := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < 0x20 || c == 0x7f || c == ' ' {
			return fmt.Errorf("has a control character or space at %d", i)
		}
		if escaped {
			escaped = false
			prevDot = false
			continue
		}
		switch c {
		case '\\':
			escaped = true
		case '.':
			if prevDot {
				return errors.New("has an empty component")
			}
			prevDot = true
			continue
		}
		prevDot = false
	}
	if escaped {
		return errors.New("ends with an escape")
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token (header or cookie name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c > unicode.MaxASCII || c <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", c) {
			return false
		}
	}
	return true
}

// ValidateConflictStatus reports whether status may answer a stale write:
// 409 Conflict or 412 Precondition Failed (RFC 9110 §15.5.10, §15.5.13).
// For config parsers that want to name the offending line before New runs.
func ValidateConflictStatus(status int) error {
	if status != 409 && status != 412 {
		return fmt.Errorf("must be 409 or 412, got %d", status)
	}
	return nil
}

// ValidateGJSONPath reports whether p is a usable gjson path (for config
// parsers that want to name the offending line before New runs).
func ValidateGJSONPath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	return validPath(p)
}

// ValidatePattern reports whether p is a valid URL pattern containing every
// placeholder in required (e.g. "id"), as New would read it.
func ValidatePattern(p string, required ...string) error {
	_, err := compilePattern(p, required...)
	return err
}
