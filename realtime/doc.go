// Package realtime hosts recordsync's websocket subscribers and speaks the
// Pusher Channels protocol v7 to them, so that pusher-js 8 and laravel-echo 2
// (broadcaster "reverb", wsPath "/ws") connect unchanged (the Pusher
// Channels protocol docs,
// https://pusher.com/docs/channels/library_auth_reference/pusher-websockets-protocol/).
//
// A Hub owns the sockets and their subscriptions. Every ingress hands it one
// type, Event; Saved turns what the proxy learned from a write (a versioncache.Saved) into
// record.updated (and list) events. The package does not import Caddy: the
// caddymodule package builds a Hub from its config, keeps it across reloads
// (Update) and calls ServeWebSocket for upgrade requests.
//
// # Tenancy
//
// A socket belongs to the tenant of its upgrade request. Channels are keyed by
// (tenant, channel name), so a socket only ever receives events published for
// its own tenant, whatever name it subscribes to; "since" reads the version
// cache under the socket's tenant too.
//
// # Delivery
//
// Subscriptions sit in 64 shards (RWMutex each) by hash of tenant and
// channel. Publish copies a channel's subscribers under the read lock (into a
// pooled slice), then, outside it, builds the whole websocket frame once
// (wsText: a 2-, 4- or 10-byte header and the Pusher message; a server's
// frames are unmasked and the hub negotiates no permessage-deflate, so the
// bytes are the same for every subscriber) and hands the same bytes to every
// subscriber without blocking (conn.push):
//
//   - to an idle socket (nothing queued, no writer) it writes them at once:
//     one non-blocking write(2) on the socket through syscall.RawConn, which
//     never waits for the poller (on Linux a raw system call, as the runtime
//     makes its own calls that cannot block). That is the whole cost of a
//     delivery in the common case: no goroutine, no queue, no allocation, no
//     coder/websocket frame path.
//   - whatever cannot leave at once is queued: when frames are already
//     queued (order), when the send buffer is full (nothing written), when
//     another write to the socket is in progress, on TLS connections
//     (tls.Conn has no non-blocking write) and on systems other than unix.
//     A writer goroutine then exists until the queue is empty; it writes
//     the queued frames in blocking writes of up to 16 KB (small frames
//     together) and exits, so a socket has that second goroutine only while
//     it is behind. When the send buffer took part of a frame, the rest goes
//     first, with the socket's write lock handed over to the writer, so no
//     other frame can start in the middle.
//
// A fan-out visits its sockets in the order of their conns' addresses,
// roughly the order they were opened, so that their Go and kernel
// structures are touched in allocation order: in map order, cache and TLB
// misses cost about a third more CPU per delivery at 10k sockets. A fan-out
// to more than 512 sockets is split among GOMAXPROCS goroutines (runs of
// whole subscribers) and Publish returns when all are done, so each
// socket's deliveries keep their order; the caller waits for the writes (a
// few tens of milliseconds for 10k sockets on two cores). Each socket's
// queue is bounded (a slice, swapped with a spare by its writer); a queue
// that overflows closes its socket with 4100 and the other subscribers are
// not delayed. realtime's BenchmarkFanout measures the CPU per delivery and
// BenchmarkFanoutFloor, in the same binary, a bare write(2) per socket.
//
// coder/websocket keeps the read side (frames, masks, ping and close
// handling, read limits) and writes only control frames: its pongs and the
// close frame. The hub hijacks the connection itself (sockHijacker), so the
// library's bufio.Writer flushes into the socket's sockWriter; its 160
// bytes hold a whole control frame, so each control frame arrives as one
// write, and sockWriter's mutex keeps them and the hub's frames whole and in
// order. The writer lets that mutex go between its writes: the library
// closes a connection whose pong waits 5 seconds. After the library's close
// frame nothing more is written.
//
// A socket has one goroutine while idle and at most two: its reader
// (handles the client's messages, owns its subscription set) and, only
// while frames wait, its writer. Whoever queues the first frame for an idle
// socket starts the writer (a flag under the queue's mutex); the writer
// clears it only after finding the queue empty under the same mutex, so no
// frame is left without a writer.
//
// No per-socket timer: one sweeper goroutine per hub walks the sockets
// every quarter of the shortest timeout (5 ms to 1 s, so 1 s with the
// defaults, and each timeout fires up to that late). It queues pusher:ping
// to a socket silent for ActivityTimeout, closes with 4201 one still silent
// PongTimeout after the ping, and closes (without a close frame) one whose
// writer has been in a write for WriteTimeout.
//
// # Memory per socket
//
// An idle subscribed socket costs about 10 KB of process memory at 10k
// sockets (heap ~4.6 KB, stack 4 KB; realtime's BenchmarkIdleConns):
//   - one goroutine: its stack keeps the deepest size it reached unless it
//     uses under a quarter of it when parked, and the parked read alone
//     uses ~2.5 KB (coder/websocket's frames), so a reader that once grew
//     to 8 KB (a subscribe parses JSON and checks an HMAC) would keep 8 KB.
//     So the reader relays: after each message it hands the socket to a
//     fresh goroutine and returns, and every reader parks in 4 KB.
//   - the hijack keeps 512- and 160-byte bufio buffers instead of
//     net/http's 4 KiB + 4 KiB; batch buffers are pooled while a writer
//     drains; inbound message buffers are pooled; subscription and presence
//     maps are made on first use.
//   - ServeWebSocket returns as soon as the socket is handed to its
//     goroutines, so Caddy's deep handler stack is not kept per socket.
//
// # Protocol
//
// Handshake: pusher:connection_established with socket_id "N.N" (two random
// uint32s, unique among open sockets) and activity_timeout in whole seconds.
// pusher:subscribe for public and private- channels (auth =
// key:hex(hmac_sha256(secret, socket_id:channel)), compared in constant
// time), pusher:unsubscribe (no reply), pusher:ping → pusher:pong, pusher:pong.
// Server frames carry "data" as a JSON string (double encoded), as Reverb does.
// Channel names and kinds, socket ids, signatures, channel_data and JSON
// string encoding are the pusher package's; this package applies them.
//
// # Presence
//
// presence- channels: auth is signed over socket_id:channel:channel_data, the
// exact string the client sent; channel_data is a JSON object with user_id (a
// string, or a number kept as its literal text: 2 → "2") and optional
// user_info (pusher.ParseChannelData). subscription_succeeded carries
// {"presence":{"ids":[...],"hash":{"id":user_info},"count":N}} (members in
// join order, the socket's own user included). One user is one member however
// many sockets they have on the channel: member_added goes to the channel's
// other sockets on the user's first socket, member_removed when the last one
// leaves (unsubscribe or disconnect); the socket that caused it is not told.
// A user's user_info is that of their first socket. Members live per
// (tenant, channel) in sharded maps (presence.go); a join's snapshot and its
// member_added are queued under the channel's lock, so no socket sees a
// member_added before its own snapshot. Options.PresenceMaxMembers (default
// 100, Pusher's limit) bounds distinct users per channel. PresenceUsers lists
// the members for the HTTP API.
//
// # Client events
//
// client-* events (Echo's whisper) are off unless Options.ClientEvents is
// ClientEventsMembers: then a socket subscribed to a private- or presence-
// channel may send them; they go to every other socket of the channel (never
// back to the sender), data as a JSON string, and on presence channels with a
// top-level "user_id" of the sender. Each socket has a token bucket of
// ClientEventRate per second (default 10). The message bound MaxMessageBytes
// bounds the data.
//
// # Signing for the app
//
// Sign makes the auth string an app's pusher broadcaster would, for an open
// socket of the given tenant only; the proxy uses it to complete the unsigned
// answers of Laravel's redis broadcaster. In a cluster the socket may be open
// on another instance (see Cluster).
//
// Extension "since": a pusher:subscribe to private-record.{type}.{id} may
// carry "since":"<version>" (a string, or a number for lock_version columns).
// When Options.Versions holds a version of that record newer than since (or
// different, for versions without an order), the socket gets a record.updated
// for it right after subscription_succeeded (tab_id null; tenant_id the
// socket's tenant, null when empty). The channel splits at its last dot: the
// type may contain dots, the id may not.
//
// # Pusher HTTP API
//
// ServeHTTPAPI answers what Laravel's pusher/reverb broadcaster and the npm
// pusher SDK call, at /apps/{app_id}/... and {ws_path}/apps/{app_id}/...
// for the configured AppID only (IsHTTPAPIPath; other app ids belong to the
// application): POST events and batch_events, GET channels,
// channels/{name} and channels/{name}/users. Requests are signed (auth_key,
// auth_timestamp within HTTPAPITimestampWindow, body_md5, auth_signature
// over METHOD\nPATH\nQUERY, with or without the {ws_path} prefix) or get
// 401 (pusher.SignAPIRequest signs one the same way); bodies over
// MaxHTTPAPIBodyBytes and event data over MaxEventDataBytes get 413; more
// than MaxEventChannels channels, bad names or bad JSON get 400; success is
// 200 {}. Errors are {"error":"..."}. The caller gives the tenant (the
// tenant of the publishing request); socket_id excludes that socket. A
// signature names no tenant, so each one the hub accepts is bound to the
// tenant of its first use until its timestamp leaves the window (per hub,
// at most maxAPISignatures): on another tenant it gets 401 (counted as
// RefusedAPITenant; other 401s as RefusedAPISignature), on its own it
// passes again, as on Pusher's servers.
//
// # Laravel's redis broadcaster
//
// Package laravel's RedisIngress reads what Laravel's redis broadcaster
// publishes and hands it to PublishLocal; this package imports no Redis
// client.
//
// # Record events and dedupe
//
// An event named record.updated, or whose data carries record_type,
// record_id and updated_at_iso, from any ingress (the proxy's saves, the HTTP
// API, Redis) advances Options.Versions (monotonic, tenant-scoped; counted by
// Observer.Learned) and reaches a channel only when its version is newer
// than the last one delivered there for that event and record: the proxy's
// broadcast of a PUT and the app's observer broadcasting the same save
// reach each subscriber once, and a late, older event never follows a newer
// one (Drop reasons DropDuplicate, DropStale). What such an event teaches
// is bounded: a version over 64 bytes, or a type or id over 200, makes it
// no record event; an updated_by_id over 64 bytes is left out; a name is cut
// at 120 bytes.
//
// A save's events carry as tab_id not the saving tab's X-Tab-ID but its
// TabTag (the first 32 hex digits of its SHA-256), which the browser kit
// computes for its own id: a subscriber learns tags only, and a tag sent
// back as X-Tab-ID is tagged again, so only the tab that holds an id can
// make itself ignore a save.
//
// # Authorisation by the app
//
// With Options.Authorizer (laravel.UpstreamAuthorizer: auth_upstream), a private-
// or presence- subscription without "auth" is decided by the app: the hub
// keeps each socket's upgrade Host, local address, Cookie and Authorization
// (UpgradeRequest; never logged) and the authorizer POSTs socket_id and
// channel_name to the app's auth endpoint with those headers, back to the
// address the upgrade came in on (or a configured URL). Only a 2xx that is
// a grant as Laravel's broadcasters write one grants: true (private), a
// signed {"auth":...}, or {"channel_data":...} (presence: the answer's
// channel_data, read by pusher.ParseAuthAnswer as the proxy reads the
// answers it signs, whatever the client sent); a 2xx that is none (the
// null and log broadcasters' empty 200, HTML, false, {}) is AuthError 502;
// any other status is AuthError with the app's status, 503 when the app
// could not be asked in time. Answers are cached per (tenant, Host,
// credentials, channel) for a short TTL, concurrent asks for one key share
// a request, and a semaphore bounds the requests in flight (queued asks
// time out): a reconnect storm costs one request per user and channel, a
// few at a time. The socket's reader waits for the answer, so its later
// messages queue behind it (bounded by the timeout, below the pong
// timeout).
//
// # Codes
//
// Before the upgrade (HTTP): an Origin not allowed → 403; not a websocket
// upgrade, or HTTP/2 / HTTP/3 → 426; hub closed → ServeWebSocket returns
// ErrClosed and writes nothing.
//
// After the upgrade, pusher:error {"code","message"} and then a close frame
// with the same code:
//   - 4001 "Application does not exist": unknown app key in the path or in
//     ?app_key=.
//   - 4004 "Over connection quota": the tenant has MaxConnsPerTenant sockets.
//   - 4005 "Path not found": a path under WSPath that is not /app/{key}.
//   - 4007 "Unsupported protocol version": ?protocol= below 5.
//
// Close codes of a running socket: 4100 over capacity (slow consumer), 4200
// server shutting down (Close), 4201 pong not received, 1009 a message beyond
// the hard read limit (16 × MaxMessageBytes, at least 64 KiB), 1001 a write
// failed or timed out (usually not seen by the peer).
//
// pusher:error without a close, the socket stays up:
//   - 4200 for any bad inbound message: malformed JSON, a missing event, bad
//     subscribe data, an unknown pusher: (or any non-client) event, a binary
//     message, a message over MaxMessageBytes (read to its end and dropped).
//     4200 is Reverb's code for "Invalid message format"; a 40xx code would
//     tell pusher-js never to reconnect, wrong for a recoverable error.
//   - 4009 for a pusher:signin refused (signin.go): a signature or user_data
//     that does not verify, or another user than the one the socket is
//     signed in as. terminate_connections closes a socket with 4009.
//   - 4301 for a client-* event refused: "client events are not enabled"
//     (ClientEventsOff), a public channel, a channel the socket is not
//     subscribed to, a name over 200 characters, or over the socket's rate.
//
// pusher:subscription_error {"type","error","status"} on the channel (what
// Echo's .error() receives), the socket stays up:
//   - AuthError 401: missing or bad signature on a private- or presence-
//     channel; a presence- subscription without channel_data.
//   - InvalidChannel 400: a name outside ^[-a-zA-Z0-9_=@,.;]{1,200}$; signed
//     channel_data without a usable user_id.
//   - LimitReached 429: over MaxChannelsPerConn; a new member of a presence
//     channel that has PresenceMaxMembers members.
//   - AuthError 401 also for a user channel (#server-to-user-{id}) of a
//     socket not signed in as that user (signin.go).
//
// private-encrypted- channels are subscribed as private ones and their
// events relayed as published: the hub never sees the key; client events
// on them are refused (4301), as Pusher refuses them. Cache channels
// replay their last event on subscribe (cachechannels.go).
//
// # Cluster
//
// With SetBroker, every event this hub publishes itself (Publish, client
// events) also goes to a Broker, and the other instances deliver it with
// PublishLocal, which never shares again: each instance serves its own
// sockets once. A save the proxy hands to Saved goes to the Broker once, as
// the versioncache.Saved it is (its record and list events are built by each
// instance from it); the other instances advance their version cache with
// it and deliver it with RemoteSaved, which drops it when the cache already
// holds a newer version. A VersionOnly save (a version learned from a read)
// is shared the same way and reaches no socket. Remote record events still
// go through the version cache and the per-channel dedupe; a remote client
// event is never read as a record version. The Redis broadcaster ingress
// publishes with PublishLocal, since every instance subscribes to the app's
// Redis by itself. ExceptSocket travels with the event and the save (socket
// ids are unique cluster-wide, so one instance's id excludes nobody
// elsewhere).
//
// Socket ids and signing: with SetSocketDirectory (cluster.Sockets over
// Redis) the hub records every socket it opens (id → tenant) before the
// handshake is queued, and forgets it when it closes; the first number of
// its socket ids is the directory's SocketPrefix (the instance's), so ids
// stay "N.N" and are unique across the cluster, and an id that another
// instance holds anyway is closed with 4200 (SocketIDTaken) so that its
// client reconnects with a new one. Sign, asked for a socket that is not
// open here, asks the directory (Lookup): it signs only when another
// instance has the socket open in the same tenant, and never when the
// directory cannot answer (Redis unreachable or slow). A local socket never
// costs a lookup. What another instance says about presence members is
// checked like a subscription (channel, user id, user_info must be JSON).
//
// Presence is cluster-wide: each instance announces a user's first and
// last socket on a channel (PresenceJoin, PresenceLeave) and, when asked, its
// whole state (PresenceSync, taken under all presence locks so that it is
// ordered with the joins and leaves). RemotePresence keeps the other
// instances' members beside the local ones: member_added and member_removed
// go out for users new to, or gone from, the whole cluster;
// subscription_succeeded, PresenceUsers and PresenceMaxMembers count the
// cluster's members. InstanceGone drops a silent or departed instance's
// members. A member_added may race a new socket's snapshot on another
// instance and reach it for a member its snapshot already listed.
//
// # Reloads
//
// Update swaps an immutable config snapshot (atomic pointer): new credentials,
// origins and limits apply to new sockets and new subscriptions; open sockets
// keep their queue size, timeouts and announced activity_timeout.
//
// # Caveats
//
//   - Subscribing twice is acknowledged twice and counted once.
//   - A socket stopped for overflow does not receive what is already queued:
//     the close frame follows the batch being written.
//   - Ping, pong and write timeouts fire up to one sweep period late (1 s
//     with the default timeouts).
//   - A peer that never answers the close handshake holds its writer for up to
//     10 s (coder/websocket's close timeouts); Close waits at most
//     DefaultCloseWait.
//   - A repeated presence subscribe is answered with the current members and
//     keeps the user the socket first joined as.
//   - auth_upstream forwards Cookie and Authorization only: a tenant read
//     from another request header is not on the auth request (a host or
//     cookie tenant is). Sockets opened before an Authorizer was configured
//     kept no credentials and still need "auth".
//   - The dedupe remembers at most 1024 (event, record) versions per
//     channel; past that an arbitrary one is forgotten, which at worst lets
//     one duplicate through.
package realtime
