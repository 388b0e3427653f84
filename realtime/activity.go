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

// Activities returns an Activity that tells each of as, in order; nil
// when as holds none. Pass no nil pointer in an interface: it would be
// called.
func Activities(as ...Activity) Activity {
	var list multiActivity
	for _, a := range as {
		if a != nil {
			list = append(list, a)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return list
}

type multiActivity []Activity

func (m multiActivity) Note(a ActivityEvent) {
	for _, x := range m {
		x.Note(a)
	}
}

// NoteState tells a of the hub's current state as if it were happening
// now: ActOccupied for each channel with subscribers on this instance
// (when channels is set) and ActMemberAdded for each local presence
// member (when members is set). Each shard is noted under its lock, the
// lock under which the hub notes its changes: an Activity already set
// (Update) gets every change of a channel either before its note here or
// after it, so an Activity that applies the notes as states (occupied,
// not "one more") ends with the hub's state.
func (h *Hub) NoteState(a Activity, channels, members bool) {
	if channels {
		for i := range h.shards {
			sh := &h.shards[i]
			sh.mu.RLock()
			for k, subs := range sh.channels {
				var socket string
				for c := range subs {
					socket = c.id
					break
				}
				a.Note(ActivityEvent{Kind: ActOccupied, Tenant: k.tenant, Channel: k.name, SocketID: socket})
			}
			sh.mu.RUnlock()
		}
	}
	if members {
		for i := range h.presence {
			ps := &h.presence[i]
			ps.mu.Lock()
			for k, pc := range ps.channels {
				for user, mem := range pc.members {
					var socket string
					for c := range mem.sockets {
						socket = c.id
						break
					}
					a.Note(ActivityEvent{Kind: ActMemberAdded, Tenant: k.tenant, Channel: k.name, UserID: user,
						Info: mem.info, SocketID: socket, ClusterWide: pc.remote[user] == nil})
				}
			}
			ps.mu.Unlock()
		}
	}
}
