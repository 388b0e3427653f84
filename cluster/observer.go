package cluster

// Observer receives the cluster's metrics: its bus and its socket registry.
// Its methods must be fast and safe for concurrent use.
type Observer interface {
	// Message counts a bus message sent ("out") or received from another
	// instance ("in"), by kind.
	Message(direction, kind string)
	// NotShared counts a bus message that could not be sent: published
	// while the bus was down (Redis unreachable, or this instance not
	// subscribed), lost with a PUBLISH that failed, or dropped with the
	// queue full.
	NotShared()
	// Up reports whether the bus is up: subscribed to the cluster's channel
	// and its last PUBLISH worked.
	Up(up bool)

	// Lookup counts one socket registry Lookup by result (LookupFound,
	// LookupUnknown, LookupError).
	Lookup(result string)
	// NotRegistered counts socket entries that could not be written or
	// removed (Redis unreachable): other instances cannot sign for those
	// sockets until the next refresh works.
	NotRegistered(n int)
	// Taken counts a new socket whose id another instance already holds.
	Taken()

	// Dropped counts something read back from Redis that was refused
	// before use: where it was read (DroppedBus, DroppedSocket,
	// DroppedLock) and why (ReasonOversized, ReasonUnauthenticated,
	// ReasonMalformed, ReasonReplayed). A refused bus message never
	// reaches the cluster's handlers; a refused socket entry is unknown
	// (never signed for); a refused lock version is not known.
	Dropped(from, reason string)
}

type nopObserver struct{}

func (nopObserver) Message(string, string) {}
func (nopObserver) NotShared()             {}
func (nopObserver) Up(bool)                {}
func (nopObserver) Lookup(string)          {}
func (nopObserver) NotRegistered(int)      {}
func (nopObserver) Taken()                 {}
func (nopObserver) Dropped(string, string) {}
