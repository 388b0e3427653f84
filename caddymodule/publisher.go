package caddymodule

import (
	"github.com/recordsync/recordsync/proxy"
	"github.com/recordsync/recordsync/realtime"
)

// savePublisher hands the proxy's learned saves to the hub. It is the one
// place where a proxy.Save becomes a realtime.RecordSaved.
type savePublisher struct {
	hub      *realtime.Hub
	tenanted bool
}

func (p savePublisher) Saved(s proxy.Save) {
	lists := make([]realtime.ListTarget, len(s.Lists))
	for i, l := range s.Lists {
		lists[i] = realtime.ListTarget{Channel: l.Channel, Event: l.Event, IDKey: l.IDKey}
	}
	p.hub.RecordSaved(realtime.RecordSaved{
		Tenant:        s.Key.Tenant,
		TenantSet:     p.tenanted,
		Type:          s.Key.Type,
		ID:            s.Key.ID,
		Version:       s.Entry.Version,
		UpdatedByID:   s.Entry.UpdatedByID,
		UpdatedByName: s.Entry.UpdatedByName,
		TabID:         s.TabID,
		SocketID:      s.SocketID,
		Lists:         lists,
	})
}
