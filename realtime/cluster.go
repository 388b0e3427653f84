package realtime

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/recordsync/recordsync/pusher"
	"github.com/recordsync/recordsync/versioncache"
)

// Broker carries what a Hub publishes, the saves it is told of, and its
// presence members, to the other instances of a cluster. Package cluster
// implements it over Redis; the hub knows nothing of Redis. Its methods
// must not block and must keep the order of their calls.
type Broker interface {
	// Publish shares an event this instance delivered itself: the others
	// deliver it with PublishLocal.
	Publish(Event)
	// Saved shares a save (or, VersionOnly, a version) this instance
	// learned: the others advance their version cache with it and deliver
	// it with RemoteSaved.
	Saved(versioncache.Saved)
	// PublishPresence shares a change of this instance's presence
	// members: the others apply it with RemotePresence.
	PublishPresence(PresenceChange)
}

// Presence operations of a PresenceChange.
const (
	// PresenceJoin: UserID got its first socket on the channel on the
	// sending instance (Info is its user_info).
	PresenceJoin = "join"
	// PresenceLeave: UserID's last socket on the channel on the sending
	// instance left.
	PresenceLeave = "leave"
	// PresenceSync: Members are all the sending instance's members; they
	// replace what was known of that instance.
	PresenceSync = "sync"
)

// PresenceChange is a change of one instance's presence members.
type PresenceChange struct {
	Op      string
	Tenant  string
	Channel string
	UserID  string
	// Info is the compact JSON of the member's user_info ("null" when none).
	Info []byte
	// Members are the whole state of the instance (PresenceSync only).
	Members []PresenceMember
}

// PresenceMember is one member of one presence channel of an instance.
type PresenceMember struct {
	Tenant, Channel, UserID string
	Info                    []byte
}

// brokerHolder lets an interface live in an atomic.Pointer.
type brokerHolder struct{ Broker }

// SetBroker makes the hub share its publishes, saves and presence through
// b; nil leaves the cluster (the remote members are forgotten: their users
// leave). Safe to call at any time.
func (h *Hub) SetBroker(b Broker) {
	if b == nil {
		h.broker.Store(nil)
		h.forgetRemote(func(string) bool { return true })
		return
	}
	h.broker.Store(&brokerHolder{b})
	h.SharePresence()
}

// clusterBroker returns the hub's broker, or nil.
func (h *Hub) clusterBroker() Broker {
	if b := h.broker.Load(); b != nil {
		return b.Broker
	}
	return nil
}

// share hands ev to the cluster, if any.
func (h *Hub) share(ev Event) {
	if b := h.clusterBroker(); b != nil {
		b.Publish(ev)
	}
}

// PublishLocal delivers ev to this instance's subscribers only, with the
// dedupe and version learning of Publish (but never learning a version from
// a client event). It is how events of other instances arrive, and how
// ingresses that every instance receives by itself (Laravel's Redis
// broadcaster) publish.
func (h *Hub) PublishLocal(ev Event) {
	if ev.ClientEvent || h.isClosed.Load() || ev.Name == "" || !pusher.ValidChannelName(ev.Channel) {
		h.publish(ev, recordRef{})
		return
	}
	h.publish(ev, h.learn(h.cfg.Load(), ev))
}

// RemotePresence applies a presence change of another instance: a user new
// to the cluster gets member_added on this instance's sockets of the
// channel, a user gone from the whole cluster member_removed.
func (h *Hub) RemotePresence(instance string, ch PresenceChange) {
	switch ch.Op {
	case PresenceJoin:
		info, ok := remoteInfo(ch.Info)
		if !ok || !validRemoteMember(ch.Channel, ch.UserID) {
			return
		}
		k := chanKey{ch.Tenant, ch.Channel}
		ps := h.presenceShardFor(k)
		ps.mu.Lock()
		ps.remoteJoinLocked(k, instance, ch.UserID, info)
		ps.mu.Unlock()
	case PresenceLeave:
		k := chanKey{ch.Tenant, ch.Channel}
		ps := h.presenceShardFor(k)
		ps.mu.Lock()
		ps.remoteLeaveLocked(k, instance, ch.UserID)
		ps.mu.Unlock()
	case PresenceSync:
		keep := make(map[chanKey]map[string][]byte)
		for _, m := range ch.Members {
			info, ok := remoteInfo(m.Info)
			if !ok || !validRemoteMember(m.Channel, m.UserID) {
				continue
			}
			k := chanKey{m.Tenant, m.Channel}
			if keep[k] == nil {
				keep[k] = make(map[string][]byte)
			}
			keep[k][m.UserID] = info
		}
		// First the members the instance no longer has, then its new ones.
		h.forgetRemoteMembers(func(id string) bool { return id == instance }, keep)
		for k, users := range keep {
			ps := h.presenceShardFor(k)
			ps.mu.Lock()
			for user, info := range users {
				ps.remoteJoinLocked(k, instance, user, info)
			}
			ps.mu.Unlock()
		}
	}
}

// validRemoteMember checks what another instance says about a member as
// the hub checks a subscription (a bus message is outside input too).
func validRemoteMember(channel, userID string) bool {
	return pusher.KindOf(channel) == pusher.KindPresence && pusher.ValidChannelName(channel) &&
		userID != "" && len(userID) <= pusher.MaxUserIDLength
}

// remoteInfo returns another instance's user_info compacted ("null" when
// empty); ok is false when it is not JSON, which would break every
// subscription_succeeded and member_added of its channel for pusher-js.
func remoteInfo(info []byte) (_ []byte, ok bool) {
	if len(bytes.TrimSpace(info)) == 0 {
		return []byte("null"), true
	}
	var b bytes.Buffer
	if json.Compact(&b, info) != nil {
		return nil, false
	}
	return b.Bytes(), true
}

// InstanceGone forgets the members of an instance that left the cluster or
// went silent: its users that are nowhere else get member_removed.
func (h *Hub) InstanceGone(instance string) {
	h.forgetRemote(func(id string) bool { return id == instance })
}

// forgetRemote forgets the remote members of the instances gone says.
func (h *Hub) forgetRemote(gone func(instance string) bool) {
	h.forgetRemoteMembers(gone, nil)
}

// forgetRemoteMembers removes, for the instances gone says, every remote
// member that keep does not list.
func (h *Hub) forgetRemoteMembers(gone func(instance string) bool, keep map[chanKey]map[string][]byte) {
	for i := range h.presence {
		ps := &h.presence[i]
		ps.mu.Lock()
		for k, pc := range ps.channels {
			for user, rm := range pc.remote {
				for inst := range rm.instances {
					if !gone(inst) {
						continue
					}
					if _, kept := keep[k][user]; kept {
						continue
					}
					ps.remoteLeaveLocked(k, inst, user)
				}
			}
		}
		ps.mu.Unlock()
	}
}

// SharePresence sends this instance's presence members to the cluster as
// one PresenceSync. Every presence shard is locked while the snapshot is
// taken and queued, so no join or leave of this instance can be queued out
// of order with it. Without a cluster it does nothing.
func (h *Hub) SharePresence() {
	b := h.clusterBroker()
	if b == nil {
		return
	}
	for i := range h.presence {
		h.presence[i].mu.Lock()
	}
	var members []PresenceMember
	for i := range h.presence {
		for k, pc := range h.presence[i].channels {
			for user, mem := range pc.members {
				members = append(members, PresenceMember{Tenant: k.tenant, Channel: k.name, UserID: user, Info: mem.info})
			}
		}
	}
	b.PublishPresence(PresenceChange{Op: PresenceSync, Members: members})
	for i := range h.presence {
		h.presence[i].mu.Unlock()
	}
}

// remoteMember is a user that is a member of a presence channel on other
// instances.
type remoteMember struct {
	// info is the user_info of the first instance that announced the user.
	info      []byte
	instances map[string]struct{}
}

// remoteJoinLocked notes that user is on k at instance; a user new to the
// cluster gets member_added on this instance's sockets there. ps.mu held.
func (ps *presenceShard) remoteJoinLocked(k chanKey, instance, user string, info []byte) {
	if len(info) == 0 {
		info = []byte("null")
	}
	pc := ps.channels[k]
	if pc == nil {
		pc = &presenceChannel{members: make(map[string]*presenceMember)}
		if ps.channels == nil {
			ps.channels = make(map[chanKey]*presenceChannel)
		}
		ps.channels[k] = pc
	}
	rm := pc.remote[user]
	if rm == nil {
		rm = &remoteMember{info: info, instances: make(map[string]struct{}, 1)}
		if pc.remote == nil {
			pc.remote = make(map[string]*remoteMember)
		}
		pc.remote[user] = rm
		if pc.members[user] == nil {
			pc.order = append(pc.order, user)
			pc.sendLocked(memberAddedFrame(k.name, user, info), nil)
		}
	}
	rm.instances[instance] = struct{}{}
}

// remoteLeaveLocked notes that user left k at instance; a user gone from
// the whole cluster gets member_removed on this instance's sockets there.
// ps.mu held.
func (ps *presenceShard) remoteLeaveLocked(k chanKey, instance, user string) {
	pc := ps.channels[k]
	if pc == nil {
		return
	}
	rm := pc.remote[user]
	if rm == nil {
		return
	}
	delete(rm.instances, instance)
	if len(rm.instances) > 0 {
		return
	}
	delete(pc.remote, user)
	if pc.members[user] != nil {
		return
	}
	pc.removeOrder(user)
	if pc.empty() {
		delete(ps.channels, k)
		return
	}
	pc.sendLocked(memberRemovedFrame(k.name, user), nil)
}

// SocketDirectory is the cluster-wide registry of open sockets:
// it lets Sign sign for a socket of another instance, when the app's
// /broadcasting/auth request and the websocket went to different instances
// behind the load balancer. Package cluster implements it over Redis.
type SocketDirectory interface {
	// SocketPrefix is the first number of this instance's socket ids,
	// chosen so that ids are unique across the cluster.
	SocketPrefix() uint32
	// Add records an open socket of this instance; Remove forgets it.
	// Both are called under the hub's connection lock: they must not block.
	Add(socketID, tenant string)
	Remove(socketID string)
	// Lookup returns the tenant of a socket another instance has open.
	// err is set when it could not tell (Redis unreachable, timeout).
	Lookup(socketID string) (tenant string, found bool, err error)
	// BindAPISignature binds a signed HTTP API request (its signature, hex)
	// to the tenant it was first used on anywhere in the cluster, for ttl:
	// ok is false when another tenant used it first. err is set when it
	// could not tell (Redis unreachable, timeout).
	BindAPISignature(sig, tenant string, ttl time.Duration) (ok bool, err error)
}

// dirHolder lets an interface live in an atomic.Pointer.
type dirHolder struct{ SocketDirectory }

// SetSocketDirectory makes the hub record its sockets in d and sign for
// the sockets d knows on other instances; nil stops both. The sockets
// already open are added to d. Safe to call at any time.
func (h *Hub) SetSocketDirectory(d SocketDirectory) {
	if d == nil {
		h.dir.Store(nil)
		return
	}
	// Stored before the snapshot: a socket registered after the snapshot
	// sees d (register reads it under connsMu).
	h.dir.Store(&dirHolder{d})
	h.connsMu.Lock()
	for id, c := range h.conns {
		d.Add(id, c.tenant)
	}
	h.connsMu.Unlock()
}

// socketDirectory returns the hub's directory, or nil.
func (h *Hub) socketDirectory() SocketDirectory {
	if d := h.dir.Load(); d != nil {
		return d.SocketDirectory
	}
	return nil
}

// SocketIDTaken closes the socket socketID with 4200 (reconnect) because
// another instance of the cluster holds the same id: its client reconnects
// and gets a new one. Unknown ids are ignored.
func (h *Hub) SocketIDTaken(socketID string) {
	h.connsMu.Lock()
	c := h.conns[socketID]
	h.connsMu.Unlock()
	if c != nil {
		c.stop(CodeReconnect, "socket id taken, reconnect")
	}
}
