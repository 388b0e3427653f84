// Package pusher holds the primitives of the Pusher Channels protocol that
// recordsync's packages share: channel names and kinds, socket ids, the
// signatures of channel subscriptions and of HTTP API requests, presence
// channel_data and authorisation answers, and JSON string encoding, each
// defined once as pusher-js, pusher-http-php and the Pusher Channels
// protocol docs define it.
//
// It is pure functions and values over strings and bytes: it knows nothing
// of hubs, sockets, HTTP handlers, tenants or Redis, and imports nothing of
// recordsync.
package pusher
