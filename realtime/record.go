package realtime

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/recordsync/recordsync/pusher"
	"github.com/recordsync/recordsync/versioncache"
)

// Event is the one thing every ingress (the proxy's saves, later the Pusher
// HTTP API and Redis) hands to the hub.
type Event struct {
	// Tenant scopes the event: only sockets of this tenant receive it.
	Tenant string
	// Channel is the full Pusher channel name, e.g. "private-record.flow.1".
	Channel string
	// Name is the event name, e.g. "record.updated".
	Name string
	// Data is the JSON text of the payload. It reaches pusher-js as a JSON
	// string (double encoded) in the frame's "data"; empty means "{}".
	Data []byte
	// ExceptSocket is the socket id that gets no copy (Laravel's toOthers);
	// "" for none.
	ExceptSocket string
	// ClientEvent marks a client-* event a socket sent (Echo's whisper),
	// shared by another instance of a cluster: it is never read as a record
	// version, and its frame carries UserID (the sender's presence user_id,
	// "" on private channels) as the hub's own client events do.
	ClientEvent bool
	UserID      string
	// Source says where the event came from, for Options.Activity
	// (SourceUnknown when the caller did not say).
	Source Source
}

// RecordEvent is the event name of record channels.
const RecordEvent = "record.updated"

// recordChannelPrefix starts every record channel: private-record.{type}.{id}.
const recordChannelPrefix = "private-record."

// Bounds of the payload's free-text fields, so that a payload stays under
// maxRecordPayload bytes whatever it carries.
const (
	maxRecordPayload = 1000
	maxTabBytes      = 100
	maxTenantBytes   = 100
)

// Saved publishes a save the proxy learned: record.updated on
// private-record.{type}.{id}, and for each list its event on
// "private-"+Channel with the record id also under IDKey. The socket that
// made the write (SocketID) gets no copy. tenant_id is the tenant, or null
// for a site without tenancy (an empty tenant); tab_id is the TabTag of
// TabID, null without one. A VersionOnly save reaches
// no socket. In a cluster the save goes to the other instances, once,
// whatever it announces. It never blocks. It implements the proxy's
// Publisher.
func (h *Hub) Saved(s versioncache.Saved) {
	if b := h.clusterBroker(); b != nil {
		b.Saved(s)
	}
	// The proxy has advanced the version cache already: only the
	// per-channel dedupe applies (an observer's broadcast of the same save
	// then reaches no one twice).
	h.deliverSaved(s, SourceProxy)
}

// RemoteSaved applies a save another instance of the cluster learned
// (Broker.Saved): it advances the version cache with it and, unless it is
// VersionOnly, delivers it to this instance's sockets; a save older than the
// cache holds is dropped as stale.
func (h *Hub) RemoteSaved(s versioncache.Saved) {
	cfg := h.cfg.Load()
	if cfg.Versions != nil {
		held, advanced := cfg.Versions.Advance(s.Key, s.Entry)
		if !advanced && versioncache.Compare(versioncache.Normalize(s.Entry.Version), held.Version) == versioncache.Older {
			if !s.VersionOnly {
				cfg.Observer.Dropped(DropStale)
			}
			return
		}
	}
	h.deliverSaved(s, SourceCluster)
}

// deliverSaved delivers s to this instance's sockets; src is where it came
// from (for Options.Activity).
func (h *Hub) deliverSaved(s versioncache.Saved, src Source) {
	if s.VersionOnly {
		return
	}
	p := recordPayload{
		tenant:    s.Key.Tenant,
		tenantSet: s.Key.Tenant != "",
		typ:       s.Key.Type,
		id:        s.Key.ID,
		version:   s.Entry.Version,
		byID:      s.Entry.UpdatedByID,
		byName:    s.Entry.UpdatedByName,
		tab:       TabTag(s.TabID),
		changed:   s.Entry.Changed,
	}
	rec := recordRef{typ: s.Key.Type, id: s.Key.ID, version: versioncache.Normalize(s.Entry.Version)}
	h.publish(Event{
		Tenant:       s.Key.Tenant,
		Channel:      recordChannelPrefix + s.Key.Type + "." + s.Key.ID,
		Name:         RecordEvent,
		Data:         p.build(""),
		ExceptSocket: s.SocketID,
		Source:       src,
	}, rec)
	for _, l := range s.Lists {
		h.publish(Event{
			Tenant:       s.Key.Tenant,
			Channel:      pusher.PrivatePrefix + l.Channel,
			Name:         l.Event,
			Data:         p.build(l.IDKey),
			ExceptSocket: s.SocketID,
			Source:       src,
		}, rec)
	}
	if m := s.Model; m != nil && len(m.Data) <= versioncache.MaxModelBytes {
		h.publish(Event{
			Tenant:       s.Key.Tenant,
			Channel:      pusher.PrivatePrefix + m.Channel,
			Name:         m.Event,
			Data:         m.Data,
			ExceptSocket: s.SocketID,
			Source:       src,
		}, rec)
	}
}

// catchUp answers the "since" extension: when the version cache holds a
// version of the record newer than (or, unordered, different from) since,
// c gets a record.updated for it right away.
func (h *Hub) catchUp(c *conn, cfg *config, channel, since string) {
	if cfg.Versions == nil {
		return
	}
	typ, id, ok := parseRecordChannel(channel)
	if !ok {
		return
	}
	e, ok := cfg.Versions.Get(versioncache.Key{Tenant: c.tenant, Type: typ, ID: id})
	if !ok {
		return
	}
	switch versioncache.Compare(e.Version, versioncache.Normalize(since)) {
	case versioncache.Newer, versioncache.Different:
	default:
		return
	}
	p := recordPayload{
		tenant:    c.tenant,
		tenantSet: c.tenant != "", // as in Saved
		typ:       typ,
		id:        id,
		version:   e.Version,
		byID:      e.UpdatedByID,
		byName:    e.UpdatedByName,
		changed:   e.Changed,
	}
	c.enqueue(eventFrame(RecordEvent, channel, p.build("")))
}

// parseRecordChannel splits private-record.{type}.{id} at the last dot: a
// type may contain dots, an id may not.
func parseRecordChannel(channel string) (typ, id string, ok bool) {
	rest, ok := strings.CutPrefix(channel, recordChannelPrefix)
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// tabTagHexDigits is the length of a TabTag: 128 bits of SHA-256.
const tabTagHexDigits = 32

// TabTag is what a save's record events carry as tab_id for the saving
// tab's X-Tab-ID: the first 32 hex digits of its SHA-256 ("" for none),
// 32 bytes whatever the header held. The browser kit computes the tag of
// its own tab id and ignores the events that carry it. Every subscriber
// of a record sees the tags, but a tag sent back as X-Tab-ID is tagged
// again: only who holds a tab's id (the tab itself) can make that tab take
// a save for its own.
func TabTag(tabID string) string {
	if tabID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(tabID))
	return hex.EncodeToString(sum[:tabTagHexDigits/2])
}

// recordPayload is the data of record.updated and of list events.
type recordPayload struct {
	tenant    string
	tenantSet bool
	typ, id   string
	version   string
	byID      string
	byName    string
	tab       string // TabTag of the saving tab, "" for none
	// changed names the fields the save changed (versioncache.Entry.Changed):
	// nil when unknown.
	changed []string
}

// maxChangedBytes bounds the names of changed_fields in one payload; the
// names past it are counted in more_changed_fields.
const maxChangedBytes = 320

// build renders
// {"tenant_id","record_type","record_id","updated_at_iso","updated_by_id","updated_by_name","tab_id"[,"changed_fields"[,"more_changed_fields"]][,idKey]}
// under maxRecordPayload bytes: long free-text fields are truncated, and if
// the result is still too long (escaping) they are left out (null, and
// changed_fields omitted).
func (p recordPayload) build(idKey string) []byte {
	b := p.render(idKey, true)
	if len(b) > maxRecordPayload {
		b = p.render(idKey, false)
	}
	return b
}

func (p recordPayload) render(idKey string, withText bool) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"tenant_id":`...)
	if p.tenantSet {
		b = pusher.AppendJSONString(b, versioncache.TruncateUTF8(p.tenant, maxTenantBytes))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"record_type":`...)
	b = pusher.AppendJSONString(b, p.typ)
	b = append(b, `,"record_id":`...)
	b = appendRecordID(b, p.id)
	b = append(b, `,"updated_at_iso":`...)
	b = appendOptString(b, versioncache.TruncateUTF8(p.version, versioncache.MaxVersionBytes))
	b = append(b, `,"updated_by_id":`...)
	b = appendRawID(b, p.byID)
	b = append(b, `,"updated_by_name":`...)
	if withText {
		b = appendOptString(b, versioncache.TruncateUTF8(p.byName, versioncache.MaxNameBytes))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"tab_id":`...)
	if withText {
		b = appendOptString(b, versioncache.TruncateUTF8(p.tab, maxTabBytes))
	} else {
		b = append(b, "null"...)
	}
	if p.changed != nil && withText {
		b = appendChanged(b, p.changed)
	}
	if idKey != "" {
		b = append(b, ',')
		b = pusher.AppendJSONString(b, idKey)
		b = append(b, ':')
		b = appendRecordID(b, p.id)
	}
	return append(b, '}')
}

// appendChanged appends ,"changed_fields":[...] with as many names as fit
// in maxChangedBytes, and ,"more_changed_fields":n for the rest.
func appendChanged(b []byte, names []string) []byte {
	b = append(b, `,"changed_fields":[`...)
	start, n := len(b), 0
	for _, name := range names {
		if len(name) > versioncache.MaxFieldNameBytes {
			continue // not a field name recordsync learned
		}
		mark := len(b)
		if n > 0 {
			b = append(b, ',')
		}
		b = pusher.AppendJSONString(b, name)
		if len(b)-start > maxChangedBytes {
			b = b[:mark]
			break
		}
		n++
	}
	b = append(b, ']')
	if more := len(names) - n; more > 0 {
		b = append(b, `,"more_changed_fields":`...)
		b = strconv.AppendInt(b, int64(more), 10)
	}
	return b
}

func appendOptString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return pusher.AppendJSONString(b, s)
}

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER (2^53-1).
const maxSafeInteger = 1<<53 - 1

// appendRecordID renders an id as a JSON number when it is a canonical
// decimal (no sign, no leading zero) that JavaScript holds exactly; any
// other id ("007", a UUID, a huge number) stays a string.
func appendRecordID(b []byte, id string) []byte {
	if isCanonicalUint(id) {
		if n, err := strconv.ParseUint(id, 10, 64); err == nil && n <= maxSafeInteger {
			return append(b, id...)
		}
	}
	return pusher.AppendJSONString(b, id)
}

func isCanonicalUint(s string) bool {
	if s == "" || len(s) > 16 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// appendRawID writes the raw JSON of updated_by_id when it is a short JSON
// number or string, null when empty, and anything else as a string.
func appendRawID(b []byte, raw string) []byte {
	raw = strings.TrimSpace(raw)
	if raw == "" || raw == "null" {
		return append(b, "null"...)
	}
	if len(raw) <= versioncache.MaxByIDBytes && json.Valid([]byte(raw)) && (raw[0] == '"' || raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
		return append(b, raw...)
	}
	return pusher.AppendJSONString(b, versioncache.TruncateUTF8(raw, versioncache.MaxByIDBytes))
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
