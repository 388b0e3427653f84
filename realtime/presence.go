package realtime

import (
	"strconv"
	"sync"

	"github.com/recordsync/recordsync/pusher"
)

// PresenceUser is one member of a presence channel: one user, however many
// sockets (tabs) they have on the channel.
type PresenceUser struct {
	// ID is the user_id of the member's channel_data, as a string.
	ID string `json:"id"`
}

// presenceShard holds the presence channels whose chanKey hashes to its
// index (the same index as their subscribers' shard).
type presenceShard struct {
	// mu guards channels. It is taken before the subscribers' shard lock
	// (addSub and removeSub run under it), never while that lock is held.
	mu       sync.Mutex
	channels map[chanKey]*presenceChannel
}

// presenceChannel is the member map of one (tenant, presence channel).
type presenceChannel struct {
	members map[string]*presenceMember // this instance's, by user id
	// remote are the members on other instances of a cluster (cluster.go),
	// by user id; a user may be in both maps.
	remote map[string]*remoteMember
	order  []string // user ids of both maps, once each, in join order
}

// info is the user_info of a member of the cluster, local or remote.
func (pc *presenceChannel) info(userID string) []byte {
	if m := pc.members[userID]; m != nil {
		return m.info
	}
	if rm := pc.remote[userID]; rm != nil {
		return rm.info
	}
	return []byte("null")
}

// removeOrder takes userID out of the join order.
func (pc *presenceChannel) removeOrder(userID string) {
	for i, id := range pc.order {
		if id == userID {
			pc.order = append(pc.order[:i], pc.order[i+1:]...)
			return
		}
	}
}

// empty reports whether no member is left, here or elsewhere.
func (pc *presenceChannel) empty() bool { return len(pc.members) == 0 && len(pc.remote) == 0 }

// presenceMember is one user on a presence channel and their sockets there.
type presenceMember struct {
	// info is the compact JSON of user_info of the member's first socket
	// ("null" when absent).
	info    []byte
	sockets map[*conn]struct{}
}

func (h *Hub) presenceShardFor(k chanKey) *presenceShard { return &h.presence[h.shardIndex(k)] }

// presenceJoin subscribes c to the presence channel k as the member m and,
// in one critical section, queues for c subscription_succeeded with the
// members (c's own user included) and, when this is m's first socket there,
// member_added for every other socket of the channel. Doing both under the
// channel's lock keeps each socket's view consistent: a socket never gets a
// member_added before its own snapshot, nor one that its snapshot already
// holds. It reports false, changing nothing, when m would be a new member
// of a channel that already has max members (max <= 0: no limit).
//
// In a cluster, members are counted and listed cluster-wide: member_added
// goes out only for a user new to the whole cluster, and the user's first
// socket on this instance is shared (PresenceJoin).
func (h *Hub) presenceJoin(c *conn, k chanKey, m pusher.Member, max int) bool {
	ps := h.presenceShardFor(k)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pc := ps.channels[k]
	mem := pc.member(m.UserID)
	elsewhere := pc != nil && pc.remote[m.UserID] != nil
	if mem == nil && !elsewhere && max > 0 && pc != nil && len(pc.order) >= max {
		return false
	}
	if pc == nil {
		pc = &presenceChannel{members: make(map[string]*presenceMember, 1)}
		if ps.channels == nil {
			ps.channels = make(map[chanKey]*presenceChannel)
		}
		ps.channels[k] = pc
	}
	h.addSub(c, k)
	first := mem == nil
	if first {
		mem = &presenceMember{info: m.Info, sockets: make(map[*conn]struct{}, 1)}
		pc.members[m.UserID] = mem
		if !elsewhere {
			pc.order = append(pc.order, m.UserID)
		}
		if b := h.clusterBroker(); b != nil {
			b.PublishPresence(PresenceChange{Op: PresenceJoin, Tenant: k.tenant, Channel: k.name, UserID: m.UserID, Info: m.Info})
		}
	}
	mem.sockets[c] = struct{}{}
	if first {
		if act := h.cfg.Load().Activity; act != nil {
			act.Note(ActivityEvent{Kind: ActMemberAdded, Tenant: k.tenant, Channel: k.name, UserID: m.UserID,
				Info: mem.info, SocketID: c.id, ClusterWide: !elsewhere})
		}
	}
	c.enqueue(presenceSucceededFrame(k.name, pc))
	h.replayCache(c, k) // presence-cache- channels (cachechannels.go)
	if first && !elsewhere {
		pc.sendLocked(memberAddedFrame(k.name, m.UserID, m.Info), c)
	}
	return true
}

// presenceResend queues again, for c already on k, subscription_succeeded
// with the current members (a repeated pusher:subscribe).
func (h *Hub) presenceResend(c *conn, k chanKey) {
	ps := h.presenceShardFor(k)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if pc := ps.channels[k]; pc != nil {
		c.enqueue(presenceSucceededFrame(k.name, pc))
	}
}

// presenceLeave unsubscribes c, the member userID, from the presence channel
// k; when c was that member's last socket there, the other sockets get
// member_removed.
func (h *Hub) presenceLeave(c *conn, k chanKey, userID string) {
	ps := h.presenceShardFor(k)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	// Still under the lock, after member_removed: the channel's last
	// subscriber leaves after its last member (Activity's order).
	defer h.removeSub(c, k)
	pc := ps.channels[k]
	mem := pc.member(userID)
	if mem == nil {
		return
	}
	delete(mem.sockets, c)
	if len(mem.sockets) > 0 {
		return
	}
	delete(pc.members, userID)
	if b := h.clusterBroker(); b != nil {
		b.PublishPresence(PresenceChange{Op: PresenceLeave, Tenant: k.tenant, Channel: k.name, UserID: userID})
	}
	if act := h.cfg.Load().Activity; act != nil {
		act.Note(ActivityEvent{Kind: ActMemberRemoved, Tenant: k.tenant, Channel: k.name, UserID: userID,
			SocketID: c.id, ClusterWide: pc.remote[userID] == nil})
	}
	if pc.remote[userID] != nil {
		return // still a member on another instance
	}
	pc.removeOrder(userID)
	if pc.empty() {
		delete(ps.channels, k)
		return
	}
	pc.sendLocked(memberRemovedFrame(k.name, userID), nil)
}

// PresenceUsers lists the members of a presence channel of tenant in the
// order they joined (for the HTTP API's GET channels/{name}/users), those
// of every instance of a cluster; nil when the channel has none.
func (h *Hub) PresenceUsers(tenant, channel string) []PresenceUser {
	k := chanKey{tenant, channel}
	ps := h.presenceShardFor(k)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pc := ps.channels[k]
	if pc == nil {
		return nil
	}
	users := make([]PresenceUser, len(pc.order))
	for i, id := range pc.order {
		users[i] = PresenceUser{ID: id}
	}
	return users
}

func (pc *presenceChannel) member(userID string) *presenceMember {
	if pc == nil {
		return nil
	}
	return pc.members[userID]
}

// sendLocked sends frame (a Pusher message, framed once here) to every
// socket on the channel but except. The presence shard's lock is held; send
// never blocks.
func (pc *presenceChannel) sendLocked(frame []byte, except *conn) {
	wire := wsText(frame)
	for _, mem := range pc.members {
		for s := range mem.sockets {
			if s != except {
				s.send(wire)
			}
		}
	}
}

// presenceSucceededFrame is subscription_succeeded with
// {"presence":{"ids":[...],"hash":{"id":info},"count":N}}.
func presenceSucceededFrame(channel string, pc *presenceChannel) []byte {
	data := make([]byte, 0, 64+len(pc.order)*48)
	data = append(data, `{"presence":{"ids":[`...)
	for i, id := range pc.order {
		if i > 0 {
			data = append(data, ',')
		}
		data = pusher.AppendJSONString(data, id)
	}
	data = append(data, `],"hash":{`...)
	for i, id := range pc.order {
		if i > 0 {
			data = append(data, ',')
		}
		data = pusher.AppendJSONString(data, id)
		data = append(data, ':')
		data = append(data, pc.info(id)...)
	}
	data = append(data, `},"count":`...)
	data = strconv.AppendInt(data, int64(len(pc.order)), 10)
	data = append(data, "}}"...)
	return eventFrame("pusher_internal:subscription_succeeded", channel, data)
}

// memberAddedFrame is pusher_internal:member_added {"user_id":"1","user_info":{...}}.
func memberAddedFrame(channel, userID string, info []byte) []byte {
	data := make([]byte, 0, 32+len(userID)+len(info))
	data = append(data, `{"user_id":`...)
	data = pusher.AppendJSONString(data, userID)
	data = append(data, `,"user_info":`...)
	data = append(data, info...)
	data = append(data, '}')
	return eventFrame("pusher_internal:member_added", channel, data)
}

// memberRemovedFrame is pusher_internal:member_removed {"user_id":"1"}.
func memberRemovedFrame(channel, userID string) []byte {
	data := make([]byte, 0, 16+len(userID))
	data = append(data, `{"user_id":`...)
	data = pusher.AppendJSONString(data, userID)
	data = append(data, '}')
	return eventFrame("pusher_internal:member_removed", channel, data)
}
