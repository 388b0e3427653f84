package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/recordsync/recordsync/realtime"
	"github.com/recordsync/recordsync/versioncache"
)

// monitor is the Engine's tap for the live console (console.go): the hub's
// realtime.Activity and the proxy's EdgeObserver. It hands what happens to
// the console's open streams, each filtered by its viewer's tenants and
// bounded. It lives as long as the Engine, so that a reload keeps the
// console's sessions.
//
// Its Note and Edge* methods run on the hub's and the proxy's hot paths
// (some under the hub's locks): with no stream open they cost one atomic
// load; with streams open, a tenant match and a non-blocking send per
// stream, never a wait. A stream that cannot keep up loses events, counted
// and told to its viewer.
type monitor struct {
	// streams are the open streams, copy-on-write under mu.
	streams atomic.Pointer[[]*stream]
	mu      sync.Mutex
	// sessions are the console's signed-in viewers (console.go), by the
	// session cookie's value; mu guards them.
	sessions map[string]*session
	// failures counts failed sign-ins per remote address in the current
	// minute (console.go); mu guards it.
	failures      map[string]int
	failuresSince time.Time
	// perViewer counts each viewer's open streams; mu guards it.
	perViewer map[string]int
}

func newMonitor() *monitor {
	return &monitor{sessions: map[string]*session{}, failures: map[string]int{}, perViewer: map[string]int{}}
}

// consoleEvent is one thing the console shows in its live stream.
type consoleEvent struct {
	Time time.Time
	Kind string
	// Note is the hub's (Kind published, client_event, connected, ...).
	Note realtime.ActivityEvent
	// Record, Loaded, Current, By and FromCache are the proxy's (Kind
	// conflict, poll).
	Record    versioncache.Key
	Loaded    string
	Current   string
	By        string
	FromCache bool
}

// Stream bounds.
const (
	// streamQueue is how many events wait for one viewer's stream.
	streamQueue = 256
	// streamBurst events per streamRefill are let into one stream; past
	// them events are dropped (counted) until the next refill: a viewer is
	// shown at most ten times this per second, whatever the publish rate.
	streamBurst  = 50
	streamRefill = 100 * time.Millisecond
)

// stream is one open live stream of a viewer.
type stream struct {
	allow func(tenant string) bool
	ch    chan consoleEvent
	// budget is how many more events may enter before the next refill.
	budget atomic.Int64
	// dropped counts events lost since the viewer was last told.
	dropped atomic.Int64
}

func newStream(allow func(string) bool) *stream {
	s := &stream{allow: allow, ch: make(chan consoleEvent, streamQueue)}
	s.budget.Store(streamBurst)
	return s
}

// offer hands ev to s unless s is full or over its budget (then counts it
// dropped). It never blocks.
func (s *stream) offer(ev *consoleEvent) {
	if !s.allow(ev.tenant()) {
		return
	}
	if s.budget.Add(-1) < 0 {
		s.dropped.Add(1)
		return
	}
	select {
	case s.ch <- *ev:
	default:
		s.dropped.Add(1)
	}
}

func (ev *consoleEvent) tenant() string {
	if ev.Kind == kindConflict || ev.Kind == kindPoll {
		return ev.Record.Tenant
	}
	return ev.Note.Tenant
}

// Kinds of consoleEvent besides the hub's (realtime.ActivityKind.String).
const (
	kindConflict = "conflict"
	kindPoll     = "poll"
)

// open adds s to the streams.
func (m *monitor) open(s *stream) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next []*stream
	if cur := m.streams.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, s)
	m.streams.Store(&next)
}

// close removes s from the streams.
func (m *monitor) close(s *stream) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.streams.Load()
	if cur == nil {
		return
	}
	next := make([]*stream, 0, len(*cur))
	for _, o := range *cur {
		if o != s {
			next = append(next, o)
		}
	}
	m.streams.Store(&next)
}

// openStreams counts the open streams.
func (m *monitor) openStreams() int {
	if cur := m.streams.Load(); cur != nil {
		return len(*cur)
	}
	return 0
}

// emit offers ev to every open stream.
func (m *monitor) emit(streams []*stream, ev *consoleEvent) {
	ev.Time = time.Now()
	for _, s := range streams {
		s.offer(ev)
	}
}

// Note implements realtime.Activity.
func (m *monitor) Note(n realtime.ActivityEvent) {
	cur := m.streams.Load()
	if cur == nil || len(*cur) == 0 {
		return
	}
	ev := consoleEvent{Kind: n.Kind.String(), Note: n}
	m.emit(*cur, &ev)
}

// EdgeConflict implements proxy.EdgeObserver.
func (m *monitor) EdgeConflict(key versioncache.Key, loaded string, cur versioncache.Entry) {
	streams := m.streams.Load()
	if streams == nil || len(*streams) == 0 {
		return
	}
	ev := consoleEvent{Kind: kindConflict, Record: key, Loaded: loaded, Current: cur.Version, By: cur.UpdatedByName}
	m.emit(*streams, &ev)
}

// EdgePoll implements proxy.EdgeObserver.
func (m *monitor) EdgePoll(key versioncache.Key, fromCache bool) {
	streams := m.streams.Load()
	if streams == nil || len(*streams) == 0 {
		return
	}
	ev := consoleEvent{Kind: kindPoll, Record: key, FromCache: fromCache}
	m.emit(*streams, &ev)
}

// withMonitor returns the Activity that tells both act (the configured
// one, nil for none) and m.
func withMonitor(act realtime.Activity, m *monitor) realtime.Activity {
	return realtime.Activities(act, m)
}
