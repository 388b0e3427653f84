// Package proxy is recordsync's request logic in plain net/http: it learns
// record versions from the application's JSON responses, stops stale writes
// at the edge, and answers version polls from its memory.
//
// A Handler is built once per configuration with New and is safe for
// concurrent use. Its ServeHTTP takes the rest of the middleware chain as a
// Next func and a RequestInfo that the Caddy glue resolved (tenant,
// credential), so the package never imports Caddy.
//
// What it does per request:
//
//   - Record routes (GET/PUT/PATCH on a configured pattern such as
//     /api/v1/flows/{id}): the request goes upstream without Accept-Encoding,
//     the response is buffered by a bounded recorder when it is JSON and
//     small enough, the version at VersionField is read with gjson and
//     advanced into the versioncache.Store, an ETag is added when the app set
//     none, and the response is written unchanged otherwise.
//   - The guard: a PUT/PATCH that carries the version its client loaded
//     (If-Match, else the client_version field of its JSON body) takes the
//     record's turn once its whole body has been read (within MaxBodyBytes;
//     a larger body takes none and passes unguarded), so conditional writes
//     to one record are serialised through this process, and is answered
//     with ConflictStatus from the cache when the cache holds a newer
//     version — only for a caller the app has already authorised for that
//     record. A turn is held until the answer is learned or known not to
//     be, and at most TurnTimeout (twice WriteWait by default).
//   - The version endpoint (GET /api/v1/records/{type}/{id}/version):
//     answered from the cache for an authorised caller (200 or 304), with the
//     remembered 401/403 for a denied one, else passed upstream and learned.
//   - After a successful, learned write the Publisher is told (Save), unless
//     the request was an import or the app answered
//     X-Recordsync-Broadcast: skip.
//   - The channel authorisation endpoint (POST /broadcasting/auth, with a
//     Signer): the app decides as always; when it grants a
//     channel without signing (Laravel's redis broadcaster answers `true` or
//     {"channel_data":{...}}), the answer is replaced by the signed one
//     pusher-js needs, for the request's socket_id and channel_name, and only
//     when that socket is open in the request's tenant (authsign.go).
//     With a GrantMemory (Options.Grants), a grant the app gave a known
//     caller is remembered, and that caller's later request for the same
//     channel and tenant is answered signed for its new socket without the
//     app; the app's 403 and 401 and a session it ended (WatchSession) end
//     grants early (grants.go).
//
// The authorisation memory maps (tenant, type, id, credential hash) to
// allowed/denied for AuthTTL. Only an answer that is the record (2xx JSON
// with the version at VersionField) allows; a 401/403 denies. The
// credential is the caller as the app authenticates it: the
// RequestInfo.Credential when set, else the Bearer token Laravel reads and
// the session cookie, both together when both are sent; with a Laravel
// APP_KEY (and APP_PREVIOUS_KEYS) the session cookie is decrypted and
// verified as Laravel does and its session id is the credential (the raw
// cookie changes on every response). The session cookie is found among
// the request's cookies, whatever the name the app gives it, unless
// SessionCookie names it; XSRF-TOKEN never is (session.go). Basic credentials and Bearer values that are not tokens
// (null, undefined, empty) are never a credential (auth.go). Credentials
// are only ever kept as SHA-256 hashes. Versions and names learned from
// answers are bounded (versioncache.MaxVersionBytes, MaxByIDBytes and
// MaxNameBytes).
//
// The authorisation memory and the write turns live in a Memory that the
// Caddy glue keeps across config reloads, so a reload neither forgets who was
// authorised nor lets two writes of one record through side by side.
//
// With a Locker (Options.Locker: the cluster's Redis lock, cluster.Locker)
// the turn also takes the record's cluster-wide lock, inside the local turn
// so that one process sends one waiter at a time, and the guard checks
// against the newest version learned under that lock by any process, even one
// the event bus has not brought here yet (locker.go). When the lock cannot be
// asked, the write goes on serialised by this process only (counted as a
// fallback).
//
// Caveats: without a Locker, or while it is unavailable, the guard
// serialises writers of one Caddy process only; across processes the
// application's own check stays the authority, as it does for a write that
// overran the lock's fencing timeout.
// Responses that are compressed, not JSON, larger than MaxBodyBytes, event
// streams, upgrades or marked "Incremental: ?1" are passed through and not
// learned from. While a response is being buffered, flushes are held (Caddy's
// reverse_proxy flushes every write of a response without Content-Length);
// the buffer never exceeds MaxBodyBytes.
package proxy
