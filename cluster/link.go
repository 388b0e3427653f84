package cluster

import (
	"time"

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
	// BusObserver and SocketsObserver receive metrics. May be nil.
	BusObserver     BusObserver
	SocketsObserver SocketsObserver
}

// Link is one instance's membership of the cluster: it shares what the
// instance's version cache learns and what its hub publishes (events and
// presence) on the bus, applies what the other instances share to them,
// and keeps the hub's sockets in the cluster-wide socket registry. It is the
// hub's realtime.ClusterBus: the hub and the cache speak their own types,
// and only the Link turns them into bus messages and back.
type Link struct {
	bus     *Bus
	sockets *Sockets // nil without a hub
	hub     *realtime.Hub
	store   *versioncache.Store
}

// Join links store and hub (nil: versions only) to the cluster c. Close
// undoes it; c stays open.
func Join(c *Cluster, store *versioncache.Store, hub *realtime.Hub, opts LinkOptions) *Link {
	timeout := opts.InstanceTimeout
	l := &Link{store: store, hub: hub}
	l.bus = NewBus(c, BusOptions{
		Handler:           l.receive,
		Share:             l.sharePresence,
		InstanceGone:      l.instanceGone,
		InstanceTimeout:   timeout,
		HeartbeatInterval: timeout / 5,
		Observer:          opts.BusObserver,
	})
	store.SetOnAdvance(l.versionLearned)
	if hub != nil {
		hub.SetCluster(l)
		// Which tenant each open socket of the cluster belongs to, for the
		// /broadcasting/auth answers of sockets held elsewhere.
		l.sockets = NewSockets(c, SocketsOptions{
			TTL:      timeout,
			Refresh:  timeout / 5,
			Taken:    hub.SocketIDTaken,
			Observer: opts.SocketsObserver,
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
	l.store.SetOnAdvance(nil)
	if l.hub != nil {
		l.hub.SetSocketDirectory(nil)
		l.hub.SetCluster(nil)
	}
	if l.sockets != nil {
		l.sockets.Close()
	}
	l.bus.Close()
}

// versionLearned shares a version the cache advanced to.
func (l *Link) versionLearned(k versioncache.Key, e versioncache.Entry) {
	l.bus.Publish(Message{Kind: KindVersion, Tenant: k.Tenant, Type: k.Type, ID: k.ID,
		Version: e.Version, UpdatedByID: e.UpdatedByID, UpdatedByName: e.UpdatedByName})
}

// Publish shares an event the hub delivered itself (realtime.ClusterBus).
func (l *Link) Publish(ev realtime.Event) {
	l.bus.Publish(Message{Kind: KindEvent, Tenant: ev.Tenant, Channel: ev.Channel, Name: ev.Name,
		Data: string(ev.Data), ExceptSocket: ev.ExceptSocket, Version: ev.Version, Client: ev.ClientEvent, UserID: ev.UserID})
}

// PublishPresence shares a change of the hub's presence members
// (realtime.ClusterBus).
func (l *Link) PublishPresence(ch realtime.PresenceChange) {
	m := Message{Kind: KindPresence, Op: ch.Op, Tenant: ch.Tenant, Channel: ch.Channel, UserID: ch.UserID, Info: string(ch.Info)}
	if ch.Op == realtime.PresenceSync {
		m.Members = make([]Member, len(ch.Members))
		for i, mm := range ch.Members {
			m.Members[i] = Member{Tenant: mm.Tenant, Channel: mm.Channel, UserID: mm.UserID, Info: string(mm.Info)}
		}
	}
	l.bus.Publish(m)
}

// receive applies a message of another instance.
func (l *Link) receive(m Message) {
	switch m.Kind {
	case KindVersion:
		if m.Type == "" || m.ID == "" || m.Version == "" {
			return
		}
		// Quiet: learned from the cluster, not shared again.
		l.store.AdvanceQuiet(versioncache.Key{Tenant: m.Tenant, Type: m.Type, ID: m.ID},
			versioncache.Entry{Version: m.Version, UpdatedByID: m.UpdatedByID, UpdatedByName: m.UpdatedByName})
	case KindEvent:
		if l.hub != nil {
			l.hub.PublishLocal(realtime.Event{Tenant: m.Tenant, Channel: m.Channel, Name: m.Name, Data: []byte(m.Data),
				ExceptSocket: m.ExceptSocket, Version: m.Version, ClientEvent: m.Client, UserID: m.UserID})
		}
	case KindPresence:
		if l.hub == nil {
			return
		}
		ch := realtime.PresenceChange{Op: m.Op, Tenant: m.Tenant, Channel: m.Channel, UserID: m.UserID, Info: []byte(m.Info)}
		if m.Op == PresenceSync {
			ch.Members = make([]realtime.PresenceMember, len(m.Members))
			for i, mm := range m.Members {
				ch.Members[i] = realtime.PresenceMember{Tenant: mm.Tenant, Channel: mm.Channel, UserID: mm.UserID, Info: []byte(mm.Info)}
			}
		}
		l.hub.RemotePresence(m.Instance, ch)
	}
}

func (l *Link) sharePresence() {
	if l.hub != nil {
		l.hub.SharePresence()
	}
}

func (l *Link) instanceGone(instance string) {
	if l.hub != nil {
		l.hub.InstanceGone(instance)
	}
}

// Interface guards
var (
	_ realtime.ClusterBus      = (*Link)(nil)
	_ realtime.SocketDirectory = (*Sockets)(nil)
)
