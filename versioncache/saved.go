package versioncache

// Saved is one save of a record on its way from where it was learned (an
// app's answer through the proxy) to the sockets: the record, its new
// version, the list channels that also hear of it, and the tab that made it.
type Saved struct {
	Key   Key
	Entry Entry
	// Lists are the list channels that also get an event.
	Lists []List
	// TabID is the saving browser tab's X-Tab-ID, "" if unknown.
	TabID string
	// SocketID is the saving tab's websocket (Echo's X-Socket-ID): it gets
	// no copy. "" if unknown.
	SocketID string
}

// List is a list channel of a record type (a table of records, such as a
// project's tasks): it gets Event on "private-"+Channel, with the record's
// id also under IDKey, whenever one of its records is saved.
type List struct {
	Channel string // e.g. "project.5"
	Event   string // e.g. "task.updated"
	IDKey   string // e.g. "task_id"
}
