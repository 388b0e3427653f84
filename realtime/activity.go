package realtime

// Activity is told what happens on the hub: sockets coming and going,
// channels gaining their first subscriber on this instance and losing their
// last, presence members joining and leaving, client events relayed and
// events published. Webhooks and the live console are built on it.
//
// Note is called on the hub's hot paths, some of them under the hub's locks
// (so that the notes of one channel arrive in the order they happened): it
// must never block and must do no I/O. An implementation queues what it
// needs and does the work on its own goroutines. The ActivityEvent's byte
// slices (Data, Info) belong to the hub and are never modified: keep them,
// but do not write to them.
//
// Options.Activity nil (the default) costs one nil check per call site.
type Activity interface {
	Note(ActivityEvent)
}

// ActivityKind says what an ActivityEvent reports.
type ActivityKind uint8

// Kinds of ActivityEvent. New kinds may be added: an Activity ignores the
// kinds it does not know.
const (
	// ActConnected: a socket was accepted (Tenant, SocketID).
	ActConnected ActivityKind = iota + 1
	// ActDisconnected: a socket is gone (Tenant, SocketID), after the
	// unsubscriptions (and their ActVacated) it caused.
	ActDisconnected
	// ActOccupied: a channel of a tenant got its first subscriber on this
	// instance (Tenant, Channel, SocketID of that subscriber). Local: other
	// instances of a cluster may have subscribers already.
	ActOccupied
	// ActVacated: a channel of a tenant lost its last subscriber on this
	// instance (Tenant, Channel, SocketID of that subscriber). Local.
	ActVacated
	// ActMemberAdded: a user got their first socket on a presence channel
	// on this instance (Tenant, Channel, UserID, Info, SocketID).
	// ClusterWide says the user was new to the whole cluster as far as this
	// instance knew (its own members and those the other instances
	// announced): the sockets got pusher_internal:member_added.
	ActMemberAdded
	// ActMemberRemoved: a user's last socket on a presence channel on this
	// instance left (Tenant, Channel, UserID, SocketID). ClusterWide says the
	// user is on no other instance as far as this one knows: the sockets got
	// pusher_internal:member_removed.
	ActMemberRemoved
	// ActClientEvent: a client event (Echo's whisper) a socket of this
	// instance sent was relayed to the others (Tenant, Channel, Event, Data,
	// SocketID of the sender, UserID of the sender on a presence channel, ""
	// elsewhere; Source is SourceWhisper). A client event is reported once,
	// by the sender's instance: the other instances of a cluster report it
	// as ActPublished with SourceCluster.
	ActClientEvent
	// ActPublished: an event was handed to the hub for delivery (Tenant,
	// Channel, Event, Data, Size, Source, SocketID = the socket excluded,
	// "" for none). Reported whether or not a socket here subscribes, once
	// per channel; not for events refused before delivery (invalid, stale,
	// hub closed).
	ActPublished
)

// String names the kind (for logs and the console).
func (k ActivityKind) String() string {
	switch k {
	case ActConnected:
		return "connected"
	case ActDisconnected:
		return "disconnected"
	case ActOccupied:
		return "occupied"
	case ActVacated:
		return "vacated"
	case ActMemberAdded:
		return "member_added"
	case ActMemberRemoved:
		return "member_removed"
	case ActClientEvent:
		return "client_event"
	case ActPublished:
		return "published"
	}
	return "unknown"
}

// Source says where a published event came from (Event.Source).
type Source uint8

// Sources of events.
const (
	// SourceUnknown: a caller that did not say.
	SourceUnknown Source = iota
	// SourceProxy: a save the proxy saw (record.updated, list and model
	// events).
	SourceProxy
	// SourceAPI: the Pusher HTTP API (POST /apps/{id}/events, batch_events).
	SourceAPI
	// SourceRedis: Laravel's Redis broadcaster (the Redis ingress).
	SourceRedis
	// SourceWhisper: a client event a socket of this instance sent.
	SourceWhisper
	// SourceCluster: another instance of the cluster published it (whatever
	// its origin there).
	SourceCluster
	// SourceConsole: a test event sent from the live console.
	SourceConsole
)

// String names the source: proxy, api, redis, whisper, cluster, console,
// unknown.
func (s Source) String() string {
	switch s {
	case SourceProxy:
		return "proxy"
	case SourceAPI:
		return "api"
	case SourceRedis:
		return "redis"
	case SourceWhisper:
		return "whisper"
	case SourceCluster:
		return "cluster"
	case SourceConsole:
		return "console"
	}
	return "unknown"
}

// ActivityEvent is one note to an Activity; which fields are set depends on
// Kind (see the kinds).
type ActivityEvent struct {
	Kind     ActivityKind
	Tenant   string
	Channel  string
	SocketID string
	UserID   string
	// Event is the event name (ActClientEvent, ActPublished).
	Event string
	// Data is the event's JSON payload (ActClientEvent, ActPublished):
	// read-only.
	Data []byte
	// Size is len(Data).
	Size int
	// Source is where an ActPublished or ActClientEvent came from.
	Source Source
	// Info is a new member's user_info, compact JSON ("null" when none):
	// read-only (ActMemberAdded).
	Info []byte
	// ClusterWide: the member is new to (ActMemberAdded) or gone from
	// (ActMemberRemoved) the whole cluster, as this instance knows it.
	ClusterWide bool
}
