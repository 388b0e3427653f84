package realtime

import (
	"strings"

	"github.com/tidwall/gjson"

	"github.com/recordsync/recordsync/versioncache"
)

// Reasons passed to Observer.Dropped by the record-event dedupe (doc.go,
// "Record events and dedupe").
const (
	// DropDuplicate: a record event whose version was already delivered on
	// its channel (the proxy's broadcast of a PUT and the app's own
	// broadcast of the same save).
	DropDuplicate = "duplicate"
	// DropStale: a record event older than one already delivered on its
	// channel, or older than the version cache holds.
	DropStale = "stale"
)

// maxDeliveredPerChannel bounds the (event, record) versions remembered per
// channel: a record channel has one record, a list channel (private-project.N)
// one per record it carried. Past the bound an arbitrary entry is forgotten,
// which at worst lets one duplicate through.
const maxDeliveredPerChannel = 1024

// maxRecordRefBytes bounds the type and id read from an event's data.
const maxRecordRefBytes = 200

// recordRef is the record version an event announces; version "" means the
// event is not a record event.
type recordRef struct {
	typ, id, version string
	byID, byName     string
	// changed is the event's changed_fields, nil without a valid one.
	changed []string
	// stale is set by learn when the version cache holds a newer version.
	stale bool
}

// recordOf finds the record version ev announces: data carrying
// record_type, record_id and updated_at_iso (the record.updated payload the
// example app and the browser kit use, whatever the event's name), or an
// event named record.updated on private-record.{type}.{id} with
// data.updated_at_iso.
func recordOf(ev Event, models []ModelRoute) (recordRef, bool) {
	var rec recordRef
	data := ev.Data
	var res [6]gjson.Result
	if len(data) > 0 && gjson.ValidBytes(data) {
		copy(res[:], gjson.GetManyBytes(data, "record_type", "record_id", "updated_at_iso", "updated_by_id", "updated_by_name", "changed_fields"))
	}
	typ, id := res[0], res[1]
	if typ.Type == gjson.String {
		rec.typ = typ.Str
	}
	switch id.Type {
	case gjson.String:
		rec.id = id.Str
	case gjson.Number:
		rec.id = id.Raw
	}
	if res[2].Type == gjson.String {
		rec.version = versioncache.Normalize(res[2].Str)
	}
	if (rec.typ == "" || rec.id == "") && ev.Name == RecordEvent {
		rec.typ, rec.id, _ = parseRecordChannel(ev.Channel)
	}
	if rec.typ == "" && len(models) > 0 {
		if m, id, ok := modelOf(ev.Channel, models); ok && len(data) > 0 && gjson.ValidBytes(data) {
			rec.typ, rec.id = m.Type, id
			model := gjson.GetBytes(data, "model")
			res[2], res[3], res[4] = gjson.Result{}, gjson.Result{}, gjson.Result{}
			if model.IsObject() {
				res[2] = model.Get(gjson.Escape(m.VersionKey))
				if m.ByIDKey != "" {
					res[3] = model.Get(gjson.Escape(m.ByIDKey))
				}
				if m.ByNameKey != "" {
					res[4] = model.Get(gjson.Escape(m.ByNameKey))
				}
			}
			rec.version = ""
			if res[2].Type == gjson.String || res[2].Type == gjson.Number {
				rec.version = versioncache.Normalize(res[2].String())
			}
		}
	}
	if rec.typ == "" || rec.id == "" || rec.version == "" ||
		len(rec.typ) > maxRecordRefBytes || len(rec.id) > maxRecordRefBytes || len(rec.version) > versioncache.MaxVersionBytes {
		return recordRef{}, false
	}
	// Every string learned here goes into the version cache, the cluster's
	// bus and the answers of version polls and conflicts: each is bounded.
	// The version was (above); a name is cut at versioncache.MaxNameBytes; an id longer
	// than versioncache.MaxByIDBytes (raw JSON, which cannot be cut) is no id anyone
	// uses and is left out, as a missing one is.
	if b := res[3]; (b.Type == gjson.Number || b.Type == gjson.String) && len(b.Raw) <= versioncache.MaxByIDBytes {
		rec.byID = b.Raw
	}
	if n := res[4]; n.Type == gjson.String {
		rec.byName = versioncache.TruncateUTF8(n.Str, versioncache.MaxNameBytes)
	}
	rec.changed = changedNames(res[5])
	return rec, true
}

// modelOf finds the model route of a model-broadcast channel,
// "private-App.Models.Flow.1", and the id after the class (one segment).
func modelOf(channel string, models []ModelRoute) (ModelRoute, string, bool) {
	rest, ok := strings.CutPrefix(channel, "private-")
	if !ok {
		return ModelRoute{}, "", false
	}
	for _, m := range models {
		if id, ok := strings.CutPrefix(rest, m.Class+"."); ok && id != "" && !strings.Contains(id, ".") {
			return m, id, true
		}
	}
	return ModelRoute{}, "", false
}

// changedNames reads an event's changed_fields: an array of at most
// versioncache.MaxFields field names (strings of at most
// versioncache.MaxFieldNameBytes); anything else is no list (nil).
func changedNames(v gjson.Result) []string {
	if !v.IsArray() {
		return nil
	}
	names := []string{}
	ok := true
	v.ForEach(func(_, n gjson.Result) bool {
		if n.Type != gjson.String || n.Str == "" || len(n.Str) > versioncache.MaxFieldNameBytes || len(names) == versioncache.MaxFields {
			ok = false
			return false
		}
		names = append(names, n.Str)
		return true
	})
	if !ok {
		return nil
	}
	return names
}

// learn reads the record version ev announces (if any) and advances the
// version cache with it, so that the guard and the version polls know of
// saves the proxy never saw. The result is marked stale when the cache
// already holds a newer version.
func (h *Hub) learn(cfg *config, ev Event) recordRef {
	rec, ok := recordOf(ev, cfg.Models)
	if !ok {
		return recordRef{}
	}
	if cfg.Versions != nil {
		// Not shared as a version: the event itself reaches the other
		// instances of a cluster (or they receive it themselves), which
		// learn it the same way.
		held, advanced := cfg.Versions.Advance(
			versioncache.Key{Tenant: ev.Tenant, Type: rec.typ, ID: rec.id},
			versioncache.Entry{Version: rec.version, UpdatedByID: rec.byID, UpdatedByName: rec.byName, Changed: rec.changed})
		if advanced {
			cfg.Observer.Learned()
		} else if versioncache.Compare(rec.version, held.Version) == versioncache.Older {
			rec.stale = true
		}
	}
	return rec
}

// admitLocked decides whether a record event may be delivered on channel k
// (which has subscribers): only when its version is newer than (or, for
// unordered versions, different from) the last one delivered there for the
// same event name and record. It records the version when admitted and
// returns "" then, else the Drop reason. sh.mu held for writing.
func (sh *shard) admitLocked(k chanKey, event string, rec recordRef) string {
	key := event + "\x00" + rec.typ + "\x00" + rec.id
	m := sh.delivered[k]
	if last, seen := m[key]; seen {
		switch versioncache.Compare(rec.version, last) {
		case versioncache.Same:
			return DropDuplicate
		case versioncache.Older:
			return DropStale
		}
	}
	if m == nil {
		if sh.delivered == nil {
			sh.delivered = make(map[chanKey]map[string]string)
		}
		m = make(map[string]string, 1)
		sh.delivered[k] = m
	} else if _, seen := m[key]; !seen && len(m) >= maxDeliveredPerChannel {
		for old := range m {
			delete(m, old)
			break
		}
	}
	m[key] = rec.version
	return ""
}
