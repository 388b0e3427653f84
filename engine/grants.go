package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/recordsync/recordsync/cluster"
	"github.com/recordsync/recordsync/proxy"
	"github.com/recordsync/recordsync/realtime"
)

// The grant memory: one memory of the app's channel grants for both ways a
// socket is authorised — the app's auth endpoint, which pusher-js asks
// (the proxy), and auth_upstream, which recordsync asks for a socket that
// subscribes without auth (the hub's Authorizer). A grant is remembered
// for the caller (the proxy's hashed credential: a Bearer token or a
// verified Laravel session, never a raw cookie), the tenant and the
// channel, within this Engine's state (its name) and app credentials, for
// grant_ttl; a caller's later auth request for the same channel, for an
// open socket of the tenant, is then answered without the app. In a
// cluster the grants live in its Redis (cluster.Grants) with a local
// cache in front, so that a reconnect storm after an instance died costs
// the app nothing for grants given before; out of one, in this process.
//
// Ends: grant_ttl from the app's answer (recalls never extend it); the
// app's 403 for the channel and 401 for the caller; the caller's session
// changed or cleared by the app (proxy.WatchSession); another app key,
// secret or id (the site's fingerprint changes, and with it every key);
// grant_ttl off. In a cluster an end reaches every instance's local cache
// through cluster.Grants; a local cache is used only while the instance
// hears every end (subscribed), and is emptied whenever that is in doubt.

// Defaults of the grant memory.
const (
	// DefaultGrantTTL is how long a grant is remembered: well within
	// Laravel's default session lifetime (SESSION_LIFETIME, 120 minutes),
	// so that a grant never outlives the session the app gave it to.
	DefaultGrantTTL = 10 * time.Minute
	// DefaultGrantEntries bounds the grants held in this process.
	DefaultGrantEntries = 100_000
)

// Where a grant was looked for, passed to GrantObserver.Grant.
const (
	GrantSourceEndpoint = "auth_endpoint" // the app's auth endpoint (pusher-js)
	GrantSourceUpstream = "auth_upstream" // auth_upstream (a socket without auth)
)

// Results passed to GrantObserver.Grant.
const (
	// GrantRemembered: answered from the memory, without the app.
	GrantRemembered = "remembered"
	// GrantAsked: a known caller with no grant remembered (or the memory
	// could not be asked): the app decides.
	GrantAsked = "asked"
	// GrantNoCaller: no caller recordsync can vouch for: the app decides.
	GrantNoCaller = "no_caller"
	// GrantUnavailable: the cluster's Redis could not be asked in time
	// (cluster.DefaultGrantOpTimeout): the app decides.
	GrantUnavailable = "unavailable"
	// GrantNotStored: the app's grant could not be stored in the cluster's
	// Redis (no answer in time, or over cluster.MaxGrantBytes), so it is
	// not remembered (counted when remembering).
	GrantNotStored = "not_stored"
)

// GrantObserver counts what the grant memory does. Calls must not block.
type GrantObserver interface {
	// Grant counts one authorisation looked for in the memory.
	Grant(source, result string)
	// GrantEnded counts an early end of a grant, or of a caller's grants,
	// for why (proxy.GrantEnd*), whether or not one was remembered.
	GrantEnded(why string)
}

type nopGrantObserver struct{}

func (nopGrantObserver) Grant(string, string) {}
func (nopGrantObserver) GrantEnded(string)    {}

// grantStore is the cluster-wide store (cluster.Grants).
type grantStore interface {
	Subscribed() bool
	CallerKey(site, caller string) string
	Get(callerKey, field string) (channelData string, expires time.Time, ok bool, err error)
	Put(callerKey, field, channelData string, expires time.Time) error
	Forget(callerKey, field string, until time.Time) error
}

// localGrant is one grant held in this process.
type localGrant struct {
	data    string
	expires time.Time
}

// grantMemory is the Engine's grant memory. Safe for concurrent use.
type grantMemory struct {
	name string // the Engine's state

	mu     sync.Mutex
	on     bool
	ttl    time.Duration
	maxTTL time.Duration // the longest ttl ever used: how long an end matters
	site   string        // name and the app credentials' fingerprint
	obs    GrantObserver
	remote grantStore // nil out of a cluster
	// local: callerKey → field → grant; n counts them, at most max.
	local map[string]map[string]localGrant
	n     int
	max   int
	// gen changes with every end and reset: a grant read from Redis before
	// one is not put in the local cache after it.
	gen uint64

	// caller names a websocket upgrade's caller (the newest proxy's
	// UpgradeCaller).
	caller atomic.Pointer[func(cookie, authorization string) string]
	now    func() time.Time
}

func newGrantMemory(name string) *grantMemory {
	return &grantMemory{
		name:  name,
		obs:   nopGrantObserver{},
		local: make(map[string]map[string]localGrant),
		max:   DefaultGrantEntries,
		now:   time.Now,
	}
}

// siteOf is the memory's site: the state's name and a fingerprint of the
// app credentials, so that other credentials find none of the grants
// given under the old ones.
func siteOf(name, appID, appKey, appSecret string) string {
	d := sha256.New()
	for _, s := range []string{appID, appKey, appSecret} {
		d.Write([]byte(strconv.Itoa(len(s))))
		d.Write([]byte{':'})
		d.Write([]byte(s))
	}
	return name + "\x00" + hex.EncodeToString(d.Sum(nil)[:16])
}

// configure applies a configuration: ttl (0 the default, < 0 off), the
// app credentials (in site) and the observer. Another site or turning the
// memory off empties the local cache.
func (m *grantMemory) configure(ttl time.Duration, site string, obs GrantObserver) {
	if obs == nil {
		obs = nopGrantObserver{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	on := ttl >= 0
	if ttl == 0 {
		ttl = DefaultGrantTTL
	}
	if site != m.site || !on {
		m.clearLocked()
	}
	m.on, m.site, m.obs = on, site, obs
	if on {
		m.ttl = ttl
		m.maxTTL = max(m.maxTTL, ttl)
	}
}

func (m *grantMemory) enabled() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.on
}

// setRemote makes r (nil: none) the cluster-wide store; the local cache is
// emptied.
func (m *grantMemory) setRemote(r grantStore) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remote = r
	m.clearLocked()
}

// dropRemote forgets r when it is the store in use.
func (m *grantMemory) dropRemote(r grantStore) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.remote == r {
		m.remote = nil
		m.clearLocked()
	}
}

func (m *grantMemory) clearLocked() {
	clear(m.local)
	m.n = 0
	m.gen++
}

// keyLocked names caller in the store and the local cache.
func (m *grantMemory) keyLocked(caller string) string {
	if m.remote != nil {
		return m.remote.CallerKey(m.site, caller)
	}
	d := sha256.New()
	d.Write([]byte(strconv.Itoa(len(m.site))))
	d.Write([]byte{':'})
	d.Write([]byte(m.site))
	d.Write([]byte(caller))
	return hex.EncodeToString(d.Sum(nil))
}

// localUsable reports whether the local cache may answer: out of a
// cluster always, in one only while every end is heard.
func (m *grantMemory) localUsableLocked() bool {
	return m.remote == nil || m.remote.Subscribed()
}

// recall returns the grant remembered for k, looked for from source.
func (m *grantMemory) recall(source string, k proxy.GrantKey) (string, bool) {
	m.mu.Lock()
	if !m.on {
		m.mu.Unlock()
		return "", false
	}
	obs := m.obs
	if k.Caller == "" {
		m.mu.Unlock()
		obs.Grant(source, GrantNoCaller)
		return "", false
	}
	now := m.now()
	ck, field := m.keyLocked(k.Caller), cluster.GrantField(k.Tenant, k.Channel)
	if m.localUsableLocked() {
		if g, ok := m.local[ck][field]; ok {
			if now.Before(g.expires) {
				m.mu.Unlock()
				obs.Grant(source, GrantRemembered)
				return g.data, true
			}
			m.deleteLocked(ck, field)
		}
	}
	remote, gen, ttl := m.remote, m.gen, m.ttl
	m.mu.Unlock()
	if remote == nil {
		obs.Grant(source, GrantAsked)
		return "", false
	}
	data, expires, ok, err := remote.Get(ck, field)
	switch {
	case err != nil:
		obs.Grant(source, GrantUnavailable)
		return "", false
	case !ok:
		obs.Grant(source, GrantAsked)
		return "", false
	}
	m.mu.Lock()
	if m.gen == gen && m.remote == remote && m.localUsableLocked() {
		m.putLocked(ck, field, localGrant{data: data, expires: minTime(expires, now.Add(ttl))})
	}
	m.mu.Unlock()
	obs.Grant(source, GrantRemembered)
	return data, true
}

// remember stores the app's grant of k, given for a request from source,
// until grant_ttl from now. In a cluster a grant Redis did not take is not
// remembered at all (counted GrantNotStored).
func (m *grantMemory) remember(source string, k proxy.GrantKey, data string) {
	m.mu.Lock()
	if !m.on || k.Caller == "" {
		m.mu.Unlock()
		return
	}
	ck, field := m.keyLocked(k.Caller), cluster.GrantField(k.Tenant, k.Channel)
	g := localGrant{data: data, expires: m.now().Add(m.ttl)}
	remote, gen, obs := m.remote, m.gen, m.obs
	if remote == nil {
		m.putLocked(ck, field, g)
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	if err := remote.Put(ck, field, data, g.expires); err != nil {
		obs.Grant(source, GrantNotStored)
		return
	}
	m.mu.Lock()
	if m.gen == gen && m.remote == remote && m.localUsableLocked() {
		m.putLocked(ck, field, g)
	}
	m.mu.Unlock()
}

// forget ends k's grant (field "" in the store: all of the caller's).
func (m *grantMemory) forget(k proxy.GrantKey, all bool, why string) {
	m.mu.Lock()
	if k.Caller == "" || m.site == "" {
		m.mu.Unlock()
		return
	}
	ck, field := m.keyLocked(k.Caller), ""
	if all {
		m.n -= len(m.local[ck])
		delete(m.local, ck)
	} else {
		field = cluster.GrantField(k.Tenant, k.Channel)
		m.deleteLocked(ck, field)
	}
	m.gen++
	remote, obs, until := m.remote, m.obs, m.now().Add(max(m.maxTTL, time.Second))
	m.mu.Unlock()
	obs.GrantEnded(why)
	if remote != nil {
		_ = remote.Forget(ck, field, until) // retried by the store until until
	}
}

// forgotten drops the local copy of a grant another instance (or this
// one) ended: field "" is all of callerKey's.
func (m *grantMemory) forgotten(callerKey, field string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if field == "" {
		m.n -= len(m.local[callerKey])
		delete(m.local, callerKey)
	} else {
		m.deleteLocked(callerKey, field)
	}
	m.gen++
}

// reset empties the local cache: an end may have been missed.
func (m *grantMemory) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.clearLocked()
}

func (m *grantMemory) deleteLocked(ck, field string) {
	if fields, ok := m.local[ck]; ok {
		if _, had := fields[field]; had {
			delete(fields, field)
			m.n--
		}
		if len(fields) == 0 {
			delete(m.local, ck)
		}
	}
}

// putLocked holds g locally, within max: expired grants go first, then
// whole callers, any.
func (m *grantMemory) putLocked(ck, field string, g localGrant) {
	fields := m.local[ck]
	if _, had := fields[field]; !had && m.n >= m.max {
		now := m.now()
		for c, fs := range m.local {
			for f, x := range fs {
				if !now.Before(x.expires) {
					delete(fs, f)
					m.n--
				}
			}
			if len(fs) == 0 {
				delete(m.local, c)
			}
		}
		for c, fs := range m.local {
			if m.n < m.max {
				break
			}
			if c != ck {
				m.n -= len(fs)
				delete(m.local, c)
			}
		}
		fields = m.local[ck]
		if m.n >= m.max {
			return
		}
	}
	if fields == nil {
		fields = make(map[string]localGrant, 1)
		m.local[ck] = fields
	}
	if _, had := fields[field]; !had {
		m.n++
	}
	fields[field] = g
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// setCaller makes fn name the callers of websocket upgrades.
func (m *grantMemory) setCaller(fn func(cookie, authorization string) string) {
	m.caller.Store(&fn)
}

// upgradeCaller names the caller of an upgrade that carried these
// credentials ("" when no proxy said how).
func (m *grantMemory) upgradeCaller(u *realtime.UpgradeRequest) string {
	fn := m.caller.Load()
	if fn == nil || u == nil {
		return ""
	}
	return (*fn)(u.Cookie, u.Authorization)
}

// proxyGrants is the memory as the proxy sees it (the auth endpoint).
type proxyGrants struct{ m *grantMemory }

func (p proxyGrants) Recall(k proxy.GrantKey) (string, bool) {
	return p.m.recall(GrantSourceEndpoint, k)
}
func (p proxyGrants) Remember(k proxy.GrantKey, data string) {
	p.m.remember(GrantSourceEndpoint, k, data)
}
func (p proxyGrants) Forget(k proxy.GrantKey, why string) { p.m.forget(k, false, why) }
func (p proxyGrants) ForgetCaller(caller, why string) {
	p.m.forget(proxy.GrantKey{Caller: caller}, true, why)
}

// grantAuthorizer is auth_upstream's Authorizer with the grant memory in
// front: a remembered grant of the upgrade's caller for the channel in the
// socket's tenant grants without asking the app; the app's answers are
// remembered (grants) or end grants (a 403 the channel's, a 401 all of the
// caller's), as at the auth endpoint. The inner authoriser caches only
// refusals (laravel.UpstreamAuthOptions.NoGrantCache).
type grantAuthorizer struct {
	inner realtime.Authorizer
	m     *grantMemory
}

func (g *grantAuthorizer) Authorize(ctx context.Context, req realtime.AuthRequest) realtime.AuthResult {
	if !g.m.enabled() {
		return g.inner.Authorize(ctx, req)
	}
	k := proxy.GrantKey{Tenant: req.Tenant, Caller: g.m.upgradeCaller(req.Upgrade), Channel: req.Channel}
	if data, ok := g.m.recall(GrantSourceUpstream, k); ok {
		return realtime.AuthResult{Allowed: true, Status: 200, ChannelData: data, Cached: true}
	}
	res := g.inner.Authorize(ctx, req)
	if k.Caller == "" || res.Cached {
		return res
	}
	switch {
	case res.Allowed:
		g.m.remember(GrantSourceUpstream, k, res.ChannelData)
	case res.Status == 401:
		g.m.forget(k, true, proxy.GrantEndUnauthenticated)
	case res.Status == 403:
		g.m.forget(k, false, proxy.GrantEndRefused)
	}
	return res
}
