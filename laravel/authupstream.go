package laravel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/recordsync/recordsync/pusher"
	"github.com/recordsync/recordsync/realtime"
)

// Defaults of UpstreamAuthOptions.
const (
	// DefaultAuthUpstreamTTL is how long an answer of the app is reused for
	// the same credentials and channel.
	DefaultAuthUpstreamTTL = 30 * time.Second
	// DefaultAuthUpstreamConcurrency bounds the auth requests in flight.
	DefaultAuthUpstreamConcurrency = 16
	// DefaultAuthUpstreamTimeout bounds one authorisation: the wait for a
	// free slot plus the app's answer. It stays under realtime.DefaultPongTimeout,
	// since the socket's reader waits for it (realtime.DefaultPongTimeout).
	DefaultAuthUpstreamTimeout = 10 * time.Second
	// DefaultAuthUpstreamMaxEntries bounds the cached answers.
	DefaultAuthUpstreamMaxEntries = 100_000
)

// maxAuthUpstreamAnswer bounds the app's answer read.
const maxAuthUpstreamAnswer = 64 << 10

// AuthUpstreamUserAgent is the User-Agent of auth_upstream's requests to
// the app. recordsync's own auth endpoint, which such a request passes
// through when it is sent back to the site, neither recalls nor remembers
// grants for it: the authoriser in front of UpstreamAuthorizer does.
const AuthUpstreamUserAgent = "recordsync-auth-upstream"

// Results passed to UpstreamAuthOptions.OnResult.
const (
	AuthUpstreamAllowed = "allowed" // the app granted: a 2xx that is a grant (grantOf)
	AuthUpstreamRefused = "refused" // the app answered a status other than 2xx
	AuthUpstreamError   = "error"   // the app could not be asked, or its answer could not be read
	AuthUpstreamBusy    = "busy"    // no free slot within the timeout
	// AuthUpstreamNotGrant: the app answered 2xx with something that grants
	// nothing (an empty body, HTML, false, {}, a presence answer without
	// channel_data): refused with 502.
	AuthUpstreamNotGrant = "not_a_grant"
)

// UpstreamAuthOptions configure an UpstreamAuthorizer. Zero values mean the
// defaults.
type UpstreamAuthOptions struct {
	// Path is the app's channel authorisation path, e.g.
	// "/broadcasting/auth". Required.
	Path string
	// URL, when set, is the base URL ("http://127.0.0.1:8080") the auth
	// requests go to, with the upgrade's Host header. Default: back to the
	// address the upgrade came in on (its local address and Host, over TLS
	// when the upgrade was), so the request takes the site's own route to
	// the app.
	URL string
	// TTL is how long an answer (a grant, or a 401/403/404 refusal) is
	// reused for the same credentials and channel. Default:
	// DefaultAuthUpstreamTTL.
	TTL time.Duration
	// Concurrency bounds the auth requests in flight; others queue.
	// Default: DefaultAuthUpstreamConcurrency.
	Concurrency int
	// Timeout bounds one authorisation, queueing included; past it the
	// subscription is refused with 503. Default: DefaultAuthUpstreamTimeout.
	Timeout time.Duration
	// MaxEntries bounds the cached answers. Default:
	// DefaultAuthUpstreamMaxEntries.
	MaxEntries int
	// NoGrantCache: grants are not cached here, only refusals; the
	// caller remembers grants itself (the engine's grant memory, which
	// ends them early on a refusal or a logout seen anywhere).
	NoGrantCache bool
	// Transport makes the requests. Default: an http.Transport of its own.
	Transport http.RoundTripper
	// Logger receives debug logs (never credentials). Default: none.
	Logger *zap.Logger
	// OnResult, when set, is called once per request made to the app with
	// its result (AuthUpstream*); cache hits are not requests.
	OnResult func(result string)
}

// UpstreamAuthorizer is the Authorizer of auth_upstream: it POSTs
// socket_id and channel_name (form-encoded) to the app's auth endpoint with
// the socket's upgrade Cookie and Authorization headers, as pusher-js would
// from the page. A 2xx grants only when its body is a grant as Laravel's
// broadcasters write one (grantOf: true, a signed answer, channel_data); a
// 2xx that is none (an empty body, which Laravel's null and log
// broadcasters answer to every channel, HTML, false, {}) is refused with
// 502, and any other status is refused with the app's status.
//
// Answers are cached per (tenant, Host, credentials, channel) for TTL, and
// concurrent asks for the same key share one request; at most Concurrency
// requests are in flight, others queue up to Timeout. This is what keeps a
// reconnect storm (every socket resubscribing at once, laravel-echo-server's
// failure) to one request per user and channel, Concurrency at a time.
// With NoGrantCache only refusals are cached: the engine's grant memory,
// in front, remembers the grants (cluster-wide, ended early by refusals
// and logouts).
// Safe for concurrent use.
type UpstreamAuthorizer struct {
	opts   UpstreamAuthOptions
	base   *url.URL // nil: loopback to the upgrade's local address
	client *http.Client
	sem    chan struct{}
	now    func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards cache and inflight.
	mu       sync.Mutex
	cache    map[authKey]authEntry
	inflight map[authKey]*authCall

	// warnedEmpty is set once an empty 2xx answer was logged as a warning.
	warnedEmpty atomic.Bool
}

type authKey struct {
	cred    [sha256.Size]byte
	channel string
}

type authEntry struct {
	res     realtime.AuthResult
	expires time.Time
}

type authCall struct {
	done chan struct{}
	res  realtime.AuthResult
}

// dialAddrKey carries the address a loopback auth request dials.
type dialAddrKey struct{}

// NewUpstreamAuthorizer builds an UpstreamAuthorizer. Close it when done.
func NewUpstreamAuthorizer(opts UpstreamAuthOptions) (*UpstreamAuthorizer, error) {
	if !strings.HasPrefix(opts.Path, "/") || strings.ContainsAny(opts.Path, "?#") {
		return nil, fmt.Errorf("realtime: auth_upstream: want a path starting with /, got %q", opts.Path)
	}
	a := &UpstreamAuthorizer{now: time.Now}
	if opts.URL != "" {
		u, err := url.Parse(opts.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("realtime: auth_upstream_url: want http(s)://host[:port], got %q", opts.URL)
		}
		u.Path = ""
		a.base = u
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultAuthUpstreamTTL
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultAuthUpstreamConcurrency
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultAuthUpstreamTimeout
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultAuthUpstreamMaxEntries
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Transport == nil {
		dialer := &net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}
		tr := &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if to, ok := ctx.Value(dialAddrKey{}).([2]string); ok {
					network, addr = to[0], to[1]
				}
				return dialer.DialContext(ctx, network, addr)
			},
			MaxIdleConnsPerHost: opts.Concurrency,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   false,
		}
		if a.base == nil {
			// Loopback: the peer is this server's own listener (the
			// address the upgrade was accepted on), whose certificate
			// may come from an internal CA; SNI is still the Host.
			tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // our own listener
		}
		opts.Transport = tr
	}
	a.opts = opts
	a.client = &http.Client{
		Transport: opts.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect (to a login page) is a refusal
		},
	}
	a.sem = make(chan struct{}, opts.Concurrency)
	a.cache = make(map[authKey]authEntry)
	a.inflight = make(map[authKey]*authCall)
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

// Close stops the requests in flight and waits for them. Authorize refuses
// with 503 afterwards. Idempotent.
func (a *UpstreamAuthorizer) Close() {
	a.cancel()
	a.wg.Wait()
	if tr, ok := a.opts.Transport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
}

// Authorize implements Authorizer.
func (a *UpstreamAuthorizer) Authorize(ctx context.Context, req realtime.AuthRequest) realtime.AuthResult {
	if a.ctx.Err() != nil {
		return realtime.AuthResult{Status: http.StatusServiceUnavailable, Message: "auth upstream closed"}
	}
	if req.Upgrade == nil {
		return realtime.AuthResult{Status: http.StatusUnauthorized, Message: "no credentials for the auth upstream"}
	}
	k := authKey{cred: credentialHash(req), channel: req.Channel}
	a.mu.Lock()
	if e, ok := a.cache[k]; ok {
		if a.now().Before(e.expires) {
			a.mu.Unlock()
			res := e.res
			res.Cached = true
			return res
		}
		delete(a.cache, k)
	}
	call := a.inflight[k]
	if call == nil {
		call = &authCall{done: make(chan struct{})}
		a.inflight[k] = call
		a.wg.Add(1)
		go a.fetch(k, call, req)
	}
	a.mu.Unlock()
	select {
	case <-call.done:
		return call.res
	case <-ctx.Done():
		return realtime.AuthResult{Status: http.StatusServiceUnavailable, Message: "socket closed"}
	}
}

// credentialHash names the caller of req: its tenant, Host and credential
// headers, hashed (the cache holds no secrets).
func credentialHash(req realtime.AuthRequest) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range []string{req.Tenant, req.Upgrade.Host, req.Upgrade.Cookie, req.Upgrade.Authorization} {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{0})
		h.Write([]byte(s))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// fetch asks the app for k on a goroutine owned by a (wg; a.ctx stops it),
// then caches and publishes the answer.
func (a *UpstreamAuthorizer) fetch(k authKey, call *authCall, req realtime.AuthRequest) {
	defer a.wg.Done()
	ctx, cancel := context.WithTimeout(a.ctx, a.opts.Timeout)
	defer cancel()
	var res realtime.AuthResult
	var result string
	select {
	case a.sem <- struct{}{}:
		res, result = a.ask(ctx, req)
		<-a.sem
	case <-ctx.Done():
		res = realtime.AuthResult{Status: http.StatusServiceUnavailable, Message: "auth upstream busy"}
		result = AuthUpstreamBusy
	}
	if a.opts.OnResult != nil {
		a.opts.OnResult(result)
	}
	a.mu.Lock()
	delete(a.inflight, k)
	if (cacheable(res.Status) || result == AuthUpstreamNotGrant) && !(res.Allowed && a.opts.NoGrantCache) {
		if len(a.cache) >= a.opts.MaxEntries {
			a.evictLocked()
		}
		a.cache[k] = authEntry{res: res, expires: a.now().Add(a.opts.TTL)}
	}
	a.mu.Unlock()
	call.res = res
	close(call.done)
}

// cacheable reports whether an answer with status is the app's decision
// (a grant, or a refusal that the same credentials will get again), not a
// passing failure. A 2xx that grants nothing (AuthUpstreamNotGrant) is
// cached too: the same credentials get it again.
func cacheable(status int) bool {
	switch {
	case status >= 200 && status < 300:
		return true
	case status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusNotFound:
		return true
	}
	return false
}

// evictLocked drops expired entries and, when none was, an arbitrary one.
// a.mu held.
func (a *UpstreamAuthorizer) evictLocked() {
	now := a.now()
	n := len(a.cache)
	for k, e := range a.cache {
		if !now.Before(e.expires) {
			delete(a.cache, k)
		}
	}
	if len(a.cache) < n {
		return
	}
	for k := range a.cache {
		delete(a.cache, k)
		return
	}
}

// authForm is the body of an auth request for socketID and channel, as
// pusher-js sends it; php_differential_test.go holds that PHP and Laravel
// read back exactly these two values.
func authForm(socketID, channel string) string {
	return url.Values{"socket_id": {socketID}, "channel_name": {channel}}.Encode()
}

// ask makes one auth request.
func (a *UpstreamAuthorizer) ask(ctx context.Context, req realtime.AuthRequest) (realtime.AuthResult, string) {
	up := req.Upgrade
	u := url.URL{Path: a.opts.Path}
	if a.base != nil {
		u.Scheme, u.Host = a.base.Scheme, a.base.Host
	} else {
		if up.LocalAddr == "" || up.Host == "" {
			return realtime.AuthResult{Status: http.StatusServiceUnavailable, Message: "auth upstream: the upgrade's address is unknown"}, AuthUpstreamError
		}
		u.Scheme, u.Host = "http", up.Host
		if up.TLS {
			u.Scheme = "https"
		}
		ctx = context.WithValue(ctx, dialAddrKey{}, [2]string{up.LocalNetwork, up.LocalAddr})
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(authForm(req.SocketID, req.Channel)))
	if err != nil {
		return realtime.AuthResult{Status: http.StatusServiceUnavailable, Message: "auth upstream: bad request"}, AuthUpstreamError
	}
	hr.Host = up.Host
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("X-Requested-With", "XMLHttpRequest")
	hr.Header.Set("User-Agent", AuthUpstreamUserAgent)
	if up.Cookie != "" {
		hr.Header.Set("Cookie", up.Cookie)
	}
	if up.Authorization != "" {
		hr.Header.Set("Authorization", up.Authorization)
	}
	resp, err := a.client.Do(hr)
	if err != nil {
		if ce := a.opts.Logger.Check(zap.DebugLevel, "realtime: auth upstream request failed"); ce != nil {
			ce.Write(zap.String("channel", req.Channel), zap.Error(err))
		}
		return realtime.AuthResult{Status: http.StatusServiceUnavailable, Message: "auth upstream unavailable"}, AuthUpstreamError
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthUpstreamAnswer+1))
	if err != nil || len(body) > maxAuthUpstreamAnswer {
		return realtime.AuthResult{Status: http.StatusServiceUnavailable, Message: "auth upstream: unreadable answer"}, AuthUpstreamError
	}
	if ce := a.opts.Logger.Check(zap.DebugLevel, "realtime: auth upstream answered"); ce != nil {
		ce.Write(zap.String("channel", req.Channel), zap.Int("status", resp.StatusCode))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return realtime.AuthResult{Status: resp.StatusCode, Message: "the app refused the channel (HTTP " + strconv.Itoa(resp.StatusCode) + ")"}, AuthUpstreamRefused
	}
	cd, err := grantOf(req.Channel, body)
	if err != nil {
		if errors.Is(err, errEmptyAnswer) && a.warnedEmpty.CompareAndSwap(false, true) {
			a.opts.Logger.Warn("auth_upstream: the app answered its auth endpoint with an empty 2xx, which grants nothing; "+
				"Laravel's null and log broadcasters answer so to every channel: use the redis, pusher or reverb broadcaster",
				zap.String("path", a.opts.Path), zap.Int("status", resp.StatusCode))
		}
		if ce := a.opts.Logger.Check(zap.DebugLevel, "realtime: auth upstream answer is not a grant"); ce != nil {
			ce.Write(zap.String("channel", req.Channel), zap.Int("status", resp.StatusCode), zap.Error(err))
		}
		return realtime.AuthResult{Status: http.StatusBadGateway, Message: "auth upstream: the app's HTTP " + strconv.Itoa(resp.StatusCode) + " answer is not a grant: " + err.Error()}, AuthUpstreamNotGrant
	}
	return realtime.AuthResult{Allowed: true, Status: resp.StatusCode, ChannelData: cd}, AuthUpstreamAllowed
}

// Why an app's 2xx answer grants nothing.
var (
	errEmptyAnswer   = errors.New("an empty answer (Laravel's null and log broadcasters answer so to every channel)")
	errNotAGrant     = errors.New(`want true, {"auth":"key:signature"} or {"channel_data":...}`)
	errNoChannelData = errors.New(`the app's presence grant has no channel_data object`)
)

// grantOf reads the app's 2xx answer to an auth request for channel and
// returns a presence grant's channel_data ("" for a private grant), or why
// the answer grants nothing. It takes only what Laravel's broadcasters
// answer when routes/channels.php grants: Broadcaster::verifyUserCanAccessChannel
// (Illuminate/Broadcasting/Broadcasters/Broadcaster.php) calls
// validAuthenticationResponse only for a truthy result of the channel's
// callback and throws AccessDeniedHttpException (a 403) otherwise, and
// validAuthenticationResponse answers
//   - true: RedisBroadcaster's json_encode of a boolean result, the grant
//     of a private channel (on a presence channel it names no member, so
//     it is no grant there);
//   - {"auth":"key:signature"[,"channel_data":"..."]}: PusherBroadcaster's
//     decodePusherResponse (Reverb's and Ably's are the same shape, and
//     recordsync's own auth endpoint answers so when it signs a redis
//     grant on the way back); on a presence channel its channel_data
//     string must be there;
//   - {"channel_data":{"user_id":...,"user_info":...}}: RedisBroadcaster's
//     answer to any other truthy result, read by pusher.ParseAuthAnswer as
//     the proxy reads the answers it signs (an object compacted, a string
//     holding one taken as it is, no key twice); on a private channel it
//     grants too, its channel_data unused.
//
// NullBroadcaster and LogBroadcaster answer every request with nothing
// (their auth() returns null: an empty 200), which grants nothing; nor does
// an HTML page, false, null, {}, or any other JSON.
func grantOf(channel string, body []byte) (channelData string, err error) {
	presence := pusher.KindOf(channel) == pusher.KindPresence
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return "", errEmptyAnswer
	case string(body) == "true":
		if presence {
			return "", errNoChannelData
		}
		return "", nil
	}
	ans, ok := pusher.ParseAuthAnswer(body)
	if !ok {
		return "", errNotAGrant
	}
	if ans.Signed {
		// "" when auth is not a string, or channel_data not one.
		if key, sig, _ := strings.Cut(ans.Auth, ":"); key == "" || sig == "" {
			return "", errNotAGrant
		}
	}
	if !presence {
		return "", nil
	}
	if ans.ChannelData == "" {
		return "", errNoChannelData
	}
	return ans.ChannelData, nil
}
