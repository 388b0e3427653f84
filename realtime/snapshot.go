package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// The live console's view of the hub: what one tenant has on this instance
// right now. It is read on demand (a console viewer asks every few
// seconds), never on the publish path.

// TenantView is one tenant's sockets, channels and presence members on this
// instance. The lists are bounded (SnapshotOptions.Limit); the counts are
// not.
type TenantView struct {
	Tenant string `json:"tenant"`
	// Connections counts the tenant's open sockets; Sockets lists at most
	// Limit of them, by socket id.
	Connections int          `json:"connections"`
	Sockets     []SocketView `json:"sockets"`
	// ChannelCount counts the tenant's channels with a subscriber here;
	// Channels lists at most Limit of them, by name.
	ChannelCount int           `json:"channel_count"`
	Channels     []ChannelView `json:"channels"`
}

// SocketView is one socket.
type SocketView struct {
	ID string `json:"id"`
	// Channels is how many channels the socket is subscribed to.
	Channels int `json:"channels"`
	// Idle is how long ago the socket last sent anything, in whole seconds.
	Idle int `json:"idle_s"`
}

// ChannelView is one channel with its subscribers here and, for a presence
// channel, its members (cluster-wide, in the order they joined).
type ChannelView struct {
	Name string `json:"name"`
	// Subscribers counts the sockets subscribed here; SubscriberIDs lists
	// at most Limit of them, sorted.
	Subscribers   int          `json:"subscribers"`
	SubscriberIDs []string     `json:"subscriber_ids"`
	Members       []MemberView `json:"members,omitempty"`
}

// MemberView is one member of a presence channel.
type MemberView struct {
	UserID string `json:"user_id"`
	// Info is the member's user_info (only with SnapshotOptions.MemberInfo).
	Info json.RawMessage `json:"info,omitempty"`
	// Sockets counts the member's sockets on this instance (0: the member
	// is on other instances of the cluster only).
	Sockets int `json:"sockets"`
}

// SnapshotOptions say what Snapshot reads.
type SnapshotOptions struct {
	// Allow says which tenants are read; nil reads none.
	Allow func(tenant string) bool
	// Limit bounds every list of the views (sockets, channels, subscriber
	// ids, members). Default: 200.
	Limit int
	// MemberInfo includes presence members' user_info.
	MemberInfo bool
}

// DefaultSnapshotLimit is SnapshotOptions.Limit's default.
const DefaultSnapshotLimit = 200

// Snapshot returns the allowed tenants that have a socket or a channel on
// this instance, sorted by tenant. It takes the hub's locks one at a time
// (never two at once), so what it returns is each part's state at the time
// it was read, not one instant's.
func (h *Hub) Snapshot(o SnapshotOptions) []TenantView {
	if o.Allow == nil {
		return nil
	}
	if o.Limit <= 0 {
		o.Limit = DefaultSnapshotLimit
	}
	views := map[string]*TenantView{}
	view := func(tenant string) *TenantView {
		v := views[tenant]
		if v == nil {
			v = &TenantView{Tenant: tenant, Sockets: []SocketView{}, Channels: []ChannelView{}}
			views[tenant] = v
		}
		return v
	}
	allowed := map[string]bool{}
	allow := func(tenant string) bool {
		ok, seen := allowed[tenant]
		if !seen {
			ok = o.Allow(tenant)
			allowed[tenant] = ok
		}
		return ok
	}

	// Channels and their subscribers, shard by shard.
	perSocket := map[*conn]int{}
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for k, subs := range sh.channels {
			if len(subs) == 0 || !allow(k.tenant) {
				continue
			}
			v := view(k.tenant)
			v.ChannelCount++
			cv := ChannelView{Name: k.name, Subscribers: len(subs)}
			for c := range subs {
				perSocket[c]++
				if len(cv.SubscriberIDs) < o.Limit {
					cv.SubscriberIDs = append(cv.SubscriberIDs, c.id)
				}
			}
			v.Channels = append(v.Channels, cv)
		}
		sh.mu.RUnlock()
	}

	// Sockets.
	now := h.now()
	h.connsMu.Lock()
	for _, c := range h.conns {
		if !allow(c.tenant) {
			continue
		}
		v := view(c.tenant)
		v.Connections++
		v.Sockets = append(v.Sockets, SocketView{ID: c.id, Channels: perSocket[c],
			Idle: int(time.Duration(now - c.lastActivity.Load()).Seconds())})
	}
	h.connsMu.Unlock()

	out := make([]TenantView, 0, len(views))
	for _, v := range views {
		slices.SortFunc(v.Sockets, func(a, b SocketView) int { return strings.Compare(a.ID, b.ID) })
		v.Sockets = v.Sockets[:min(len(v.Sockets), o.Limit)]
		slices.SortFunc(v.Channels, func(a, b ChannelView) int { return strings.Compare(a.Name, b.Name) })
		v.Channels = v.Channels[:min(len(v.Channels), o.Limit)]
		for i := range v.Channels {
			cv := &v.Channels[i]
			slices.Sort(cv.SubscriberIDs)
			if pusher.KindOf(cv.Name) == pusher.KindPresence {
				cv.Members = h.members(chanKey{v.Tenant, cv.Name}, o)
			}
		}
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b TenantView) int { return strings.Compare(a.Tenant, b.Tenant) })
	return out
}

// members lists the members of the presence channel k, at most o.Limit.
func (h *Hub) members(k chanKey, o SnapshotOptions) []MemberView {
	ps := h.presenceShardFor(k)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pc := ps.channels[k]
	if pc == nil {
		return nil
	}
	out := make([]MemberView, 0, min(len(pc.order), o.Limit))
	for _, id := range pc.order {
		if len(out) == o.Limit {
			break
		}
		m := MemberView{UserID: id}
		if mem := pc.members[id]; mem != nil {
			m.Sockets = len(mem.sockets)
		}
		if o.MemberInfo {
			m.Info = json.RawMessage(bytes.Clone(pc.info(id)))
		}
		out = append(out, m)
	}
	return out
}

// ErrRecordEvent refuses a test event the hub would read as a record
// version (PublishTest).
var ErrRecordEvent = errors.New("the hub would read this event as a record's version: a test event must not move the version cache")

// PublishTest publishes a test event the live console sends, as the HTTP
// API would publish it (to every instance of a cluster), with source src.
// It refuses what no server publishes (an event name starting with
// "pusher:", "pusher_internal:" or "client-"), what the HTTP API refuses
// (a name or data over its bounds, data that is not JSON, an invalid
// channel) and any event the hub would read as a record's version (a
// record.updated or model event: it would move the version cache).
func (h *Hub) PublishTest(ev Event) error {
	switch {
	case ev.Name == "" || len(ev.Name) > MaxEventNameLength:
		return fmt.Errorf("the event name must be 1–%d characters", MaxEventNameLength)
	case strings.HasPrefix(ev.Name, "pusher:") || strings.HasPrefix(ev.Name, "pusher_internal:"):
		return errors.New("pusher: and pusher_internal: events are the protocol's own")
	case strings.HasPrefix(ev.Name, "client-"):
		return errors.New("client- events are sent by sockets, not by the server")
	case !pusher.ValidChannelName(ev.Channel):
		return errors.New("invalid channel name: 1–200 characters of [-a-zA-Z0-9_=@,.;]")
	case len(ev.Data) > MaxEventDataBytes:
		return fmt.Errorf("event data is %d bytes: the limit is %d", len(ev.Data), MaxEventDataBytes)
	case len(ev.Data) > 0 && !json.Valid(ev.Data):
		return errors.New("event data must be JSON")
	}
	if _, isRecord := recordOf(ev, h.cfg.Load().Models); isRecord {
		return ErrRecordEvent
	}
	ev.ClientEvent, ev.UserID = false, ""
	h.Publish(ev)
	return nil
}
