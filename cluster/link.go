package cluster

import (
	"encoding/json"
	"github.com/recordsync/recordsync/pusher"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/recordsync/recordsync/realtime"
	"github.com/recordsync/recordsync/versioncache"
)

// LinkOptions configure Join.
type LinkOptions struct {
	// InstanceTimeout is how long an instance may stay silent before the
	// others forget it (its presence members leave, its socket entries
	// expire); the heartbeat and the socket registry's refresh run at a
	// fifth of it. Default (0): the bus's and the registry's own defaults
	// (DefaultInstanceTimeout, DefaultSocketTTL).
	InstanceTimeout time.Duration
	// Observer receives the bus's and the socket registry's metrics. May
	// be nil.
	Observer Observer
}

// Link is one instance's membership of the cluster: it shares the saves the
// instance learns and what its hub publishes (events and presence) on the
// bus, applies what the other instances share to the version cache and the
// hub, and keeps the hub's sockets in the cluster-wide socket registry. It
// is the hub's realtime.Broker, and the proxy's Publisher when there is no
// hub: the hub, the proxy and the cache speak their own types, and only the
// Link turns them into bus messages and back.
type Link struct {
	bus     *Bus
	sockets *Sockets // nil without a hub
	hub     *realtime.Hub
	store   *versioncache.Store
	log     *zap.Logger

	// reannounceFor is how long after an outage its saves are re-announced
	// to instances that say hello (they came back later than this one).
	reannounceFor time.Duration
	// mu guards the last outage's saves and when it ended.
	mu          sync.Mutex
	outageSaves []versioncache.Saved
	outageEnded time.Time
}

// Join links store and hub (nil: versions only) to the cluster c. Close
// undoes it; c stays open.
func Join(c *Cluster, store *versioncache.Store, hub *realtime.Hub, opts LinkOptions) *Link {
	timeout := opts.InstanceTimeout
	l := &Link{store: store, hub: hub, log: c.log, reannounceFor: 2 * DefaultInstanceTimeout}
	if timeout > 0 {
		l.reannounceFor = 2 * timeout
	}
	// Nothing learned before the bus is up is vouched for: saves made
	// through the other instances meanwhile did not reach this one.
	store.Suspend()
	l.bus = newBus(c, busOptions{
		Handler:           l.receive,
		Share:             l.share,
		Down:              store.Suspend,
		Up:                l.reconcile,
		InstanceGone:      l.instanceGone,
		InstanceTimeout:   timeout,
		HeartbeatInterval: timeout / 5,
		Observer:          opts.Observer,
	})
	if hub != nil {
		hub.SetBroker(l)
		// Which tenant each open socket of the cluster belongs to, for the
		// /broadcasting/auth answers of sockets held elsewhere.
		l.sockets = NewSockets(c, SocketsOptions{
			TTL:      timeout,
			Refresh:  timeout / 5,
			Taken:    hub.SocketIDTaken,
			Observer: opts.Observer,
		})
		hub.SetSocketDirectory(l.sockets)
	}
	return l
}

// Bus is the link's bus.
func (l *Link) Bus() *Bus { return l.bus }

// Close stops sharing and closes the bus (the other instances are told, so
// this one's presence members leave at once) and the socket registry.
func (l *Link) Close() {
	if l.hub != nil {
		l.hub.SetSocketDirectory(nil)
		l.hub.SetBroker(nil)
	}
	if l.sockets != nil {
		l.sockets.Close()
	}
	l.bus.Close()
	// Out of the cluster, the store vouches for what it learns from now on
	// (what it holds may be superseded by saves it never heard of).
	l.store.Resume()
}

// maxSavedLists bounds the list channels of one save read from the bus.
const maxSavedLists = 64

// Saved shares a save this instance learned, once (realtime.Broker; also
// the proxy's Publisher when the instance has no hub).
func (l *Link) Saved(s versioncache.Saved) {
	m := message{Kind: kindSaved, Tenant: s.Key.Tenant, Type: s.Key.Type, ID: s.Key.ID,
		Version: s.Entry.Version, UpdatedByID: s.Entry.UpdatedByID, UpdatedByName: s.Entry.UpdatedByName,
		ExceptSocket: s.SocketID, TabID: s.TabID, VersionOnly: s.VersionOnly}
	if f := s.Entry.Fields; f.Known() {
		m.FieldNames, m.FieldPrints = make([]string, f.Len()), make([]uint64, f.Len())
		kinds := make([]byte, f.Len())
		for i := range f.Len() {
			m.FieldNames[i], m.FieldPrints[i], kinds[i] = f.Field(i)
		}
		m.FieldKinds = string(kinds)
	}
	if s.Entry.Changed != nil {
		m.Changed = &s.Entry.Changed
	}
	if s.Model != nil {
		m.ModelChannel, m.ModelEvent, m.ModelData = s.Model.Channel, s.Model.Event, string(s.Model.Data)
	}
	if len(s.Lists) > 0 {
		m.Lists = make([]busList, len(s.Lists))
		for i, li := range s.Lists {
			m.Lists[i] = busList{Channel: li.Channel, Event: li.Event, IDKey: li.IDKey}
		}
	}
	l.bus.Publish(m)
}

// boundedNames returns names when each is a field name within
// versioncache.MaxFieldNameBytes, else nil (unknown).
func boundedNames(names []string) []string {
	for _, n := range names {
		if n == "" || len(n) > versioncache.MaxFieldNameBytes {
			return nil
		}
	}
	if names == nil {
		return []string{}
	}
	return names
}

// Publish shares an event the hub delivered itself (realtime.Broker).
func (l *Link) Publish(ev realtime.Event) {
	l.bus.Publish(message{Kind: kindEvent, Tenant: ev.Tenant, Channel: ev.Channel, Name: ev.Name,
		Data: string(ev.Data), ExceptSocket: ev.ExceptSocket, Client: ev.ClientEvent, UserID: ev.UserID})
}

// PublishPresence shares a change of the hub's presence members
// (realtime.Broker).
func (l *Link) PublishPresence(ch realtime.PresenceChange) {
	m := message{Kind: kindPresence, Op: ch.Op, Tenant: ch.Tenant, Channel: ch.Channel, UserID: ch.UserID, Info: string(ch.Info)}
	if ch.Op == realtime.PresenceSync {
		m.Members = make([]member, len(ch.Members))
		for i, mm := range ch.Members {
			m.Members[i] = member{Tenant: mm.Tenant, Channel: mm.Channel, UserID: mm.UserID, Info: string(mm.Info)}
		}
	}
	l.bus.Publish(m)
}

// TerminateUser tells the other instances to close the sockets of tenant
// signed in as userID (realtime.UserTerminator).
func (l *Link) TerminateUser(tenant, userID string) {
	l.bus.Publish(message{Kind: kindTerminate, Tenant: tenant, UserID: userID})
}

// receive applies a message of another instance.
func (l *Link) receive(m message) {
	switch m.Kind {
	case kindSaved:
		if m.Type == "" || m.ID == "" || m.Version == "" {
			return
		}
		s := versioncache.Saved{
			Key:         versioncache.Key{Tenant: m.Tenant, Type: m.Type, ID: m.ID},
			Entry:       versioncache.Entry{Version: m.Version, UpdatedByID: m.UpdatedByID, UpdatedByName: m.UpdatedByName},
			TabID:       m.TabID,
			SocketID:    m.ExceptSocket,
			VersionOnly: m.VersionOnly,
		}
		if len(m.Lists) > maxSavedLists {
			return // not one of ours: a route has a handful of lists
		}
		if len(m.FieldNames) > 0 {
			// Out of bounds or malformed: the fields are unknown, the
			// version still counts.
			s.Entry.Fields, _ = versioncache.NewFields(m.FieldNames, m.FieldPrints, []byte(m.FieldKinds))
		}
		if m.Changed != nil && len(*m.Changed) <= versioncache.MaxFields {
			s.Entry.Changed = boundedNames(*m.Changed)
		}
		if m.ModelEvent != "" && len(m.ModelData) <= versioncache.MaxModelBytes && len(m.ModelEvent) <= realtime.MaxEventNameLength &&
			pusher.ValidChannelName(pusher.PrivatePrefix+m.ModelChannel) && json.Valid([]byte(m.ModelData)) {
			s.Model = &versioncache.ModelEvent{Channel: m.ModelChannel, Event: m.ModelEvent, Data: []byte(m.ModelData)}
		}
		for _, li := range m.Lists {
			s.Lists = append(s.Lists, versioncache.List{Channel: li.Channel, Event: li.Event, IDKey: li.IDKey})
		}
		// Applied here, not shared again.
		if l.hub != nil {
			l.hub.RemoteSaved(s)
		} else {
			l.store.Advance(s.Key, s.Entry)
		}
	case kindEvent:
		if l.hub != nil {
			l.hub.PublishLocal(realtime.Event{Tenant: m.Tenant, Channel: m.Channel, Name: m.Name, Data: []byte(m.Data),
				ExceptSocket: m.ExceptSocket, ClientEvent: m.Client, UserID: m.UserID, Source: realtime.SourceCluster})
		}
	case kindTerminate:
		if l.hub != nil && pusher.ValidUserID(m.UserID) {
			l.hub.TerminateLocalUser(m.Tenant, m.UserID)
		}
	case kindPresence:
		if l.hub == nil {
			return
		}
		ch := realtime.PresenceChange{Op: m.Op, Tenant: m.Tenant, Channel: m.Channel, UserID: m.UserID, Info: []byte(m.Info)}
		if m.Op == presenceSync {
			ch.Members = make([]realtime.PresenceMember, len(m.Members))
			for i, mm := range m.Members {
				ch.Members[i] = realtime.PresenceMember{Tenant: mm.Tenant, Channel: mm.Channel, UserID: mm.UserID, Info: []byte(mm.Info)}
			}
		}
		l.hub.RemotePresence(m.Instance, ch)
	}
}

// reconcile runs when the bus comes up: the store vouches again for what
// it learns from now on (Resume), and what it learned while the bus was
// down is re-announced to the others (by share, now and on the hellos of
// instances that come back a little later).
func (l *Link) reconcile() {
	noted, overflow := l.store.Resume()
	l.mu.Lock()
	l.outageSaves, l.outageEnded = noted, time.Now()
	l.mu.Unlock()
	if len(noted) > 0 || overflow > 0 {
		l.log.Info("cluster: bus up again; versions learned while it was down are re-announced, all older ones are unknown until learned again",
			zap.Int("re_announced", len(noted)), zap.Int("not_noted", overflow))
	}
}

// share sends this instance's state to the others: its presence members
// and, shortly after an outage, the versions it learned during it (as
// saves: the others apply them, monotonic as always, and their sockets get
// record.updated; list channels are not known any more). It runs when the
// bus comes up and when another instance says hello.
func (l *Link) share() {
	if l.hub != nil {
		l.hub.SharePresence()
	}
	l.mu.Lock()
	saves := l.outageSaves
	if time.Since(l.outageEnded) > l.reannounceFor {
		saves, l.outageSaves = nil, nil
	}
	l.mu.Unlock()
	for _, s := range saves {
		l.Saved(s)
	}
}

func (l *Link) instanceGone(instance string) {
	if l.hub != nil {
		l.hub.InstanceGone(instance)
	}
}

// Interface guards
var (
	_ realtime.Broker          = (*Link)(nil)
	_ realtime.UserTerminator  = (*Link)(nil)
	_ realtime.SocketDirectory = (*Sockets)(nil)
)
