package versioncache

// Saved is one save of a record on its way from where it was learned (an
// app's answer through the proxy) to the sockets and to the other instances
// of a cluster: the record, its new version, the list channels that also
// hear of it, and the tab that made it. It is the one form in which a
// version travels: the proxy hands it to its Publisher (the hub, or the
// cluster without a hub), the hub delivers it to its sockets and hands it to
// the cluster, and the cluster carries it, once, to the other instances,
// which advance their Store with it and deliver it to their sockets.
type Saved struct {
	Key   Key
	Entry Entry
	// VersionOnly marks a version learned without a write to announce (from
	// a read, a poll, the app's own conflict answer, an import, or an answer
	// the app asked not to broadcast): the other instances' caches learn it,
	// no socket hears of it.
	VersionOnly bool
	// Lists are the list channels that also get an event.
	Lists []List
	// TabID is the saving browser tab's X-Tab-ID, "" if unknown.
	TabID string
	// SocketID is the saving tab's websocket (Echo's X-Socket-ID): it gets
	// no copy. "" if unknown.
	SocketID string
	// Model, when set, is the save as Laravel's model broadcasting
	// announces it too (Illuminate/Database/Eloquent/BroadcastsEvents.php).
	Model *ModelEvent
}

// ModelEvent is a save announced as Laravel's model broadcasting does:
// Event ("FlowUpdated") on "private-"+Channel ("App.Models.Flow.1") with
// Data {"model":{...}} holding only the fields the configuration names.
type ModelEvent struct {
	Channel string
	Event   string
	Data    []byte
}

// MaxModelBytes bounds a ModelEvent's Data.
const MaxModelBytes = 1000

// List is a list channel of a record type (a table of records, such as a
// project's tasks): it gets Event on "private-"+Channel, with the record's
// id also under IDKey, whenever one of its records is saved.
type List struct {
	Channel string // e.g. "project.5"
	Event   string // e.g. "task.updated"
	IDKey   string // e.g. "task_id"
}
