package engine

import (
	"errors"
	"sync"

	"github.com/recordsync/recordsync/cluster"
	"github.com/recordsync/recordsync/realtime"
)

// webhooks is the Engine's realtime.Webhooks, made when a configuration
// has webhooks and closed when one has none; a reload that keeps some
// keeps it (and the state it tracks: which channels and members this
// instance holds, its queues).
type webhooks struct {
	mu    sync.Mutex
	hooks *realtime.Webhooks
	// occ is the Occupancy the hooks were given last (nil: none).
	occ realtime.Occupancy
}

// setWebhooks makes the Engine's webhooks match o (no Targets: none). It
// returns the Activity to give the hub (nil for none), whether they are
// new (seed them once the hub has them), and the webhooks to close once
// the hub no longer has them.
func (e *Engine) setWebhooks(o realtime.WebhookOptions) (act realtime.Activity, fresh bool, retire *realtime.Webhooks, err error) {
	e.hooks.mu.Lock()
	defer e.hooks.mu.Unlock()
	if len(o.Targets) == 0 {
		retire, e.hooks.hooks, e.hooks.occ = e.hooks.hooks, nil, nil
		return nil, false, retire, nil
	}
	if e.hub == nil {
		return nil, false, nil, errors.New("webhooks need app_key (the websocket hub)")
	}
	if e.hooks.hooks != nil {
		if err := e.hooks.hooks.Update(o); err != nil {
			return nil, false, nil, err
		}
		return e.hooks.hooks, false, nil, nil
	}
	h, err := realtime.NewWebhooks(e.hub, o)
	if err != nil {
		return nil, false, nil, err
	}
	e.hooks.hooks = h
	return h, true, nil, nil
}

// webhookOccupancy gives the webhooks the Occupancy of m (nil: this
// instance alone), when they have another.
func (e *Engine) webhookOccupancy(m *membership) {
	var occ realtime.Occupancy
	if m != nil {
		occ = m.occupancy()
	}
	e.hooks.mu.Lock()
	defer e.hooks.mu.Unlock()
	if e.hooks.hooks == nil || e.hooks.occ == occ {
		return
	}
	e.hooks.hooks.SetOccupancy(occ)
	e.hooks.occ = occ
}

// closeWebhooks closes the webhooks (after the hub: its last vacated
// channels are in them; before the cluster: they leave its occupancy).
func (e *Engine) closeWebhooks() {
	e.hooks.mu.Lock()
	h := e.hooks.hooks
	e.hooks.hooks, e.hooks.occ = nil, nil
	e.hooks.mu.Unlock()
	if h != nil {
		h.Close()
	}
}

// occupancy is the membership's Occupancy for the webhooks, made once.
func (m *membership) occupancy() realtime.Occupancy {
	m.occOnce.Do(func() { m.occ = cluster.NewOccupancy(m.c, m.timeout) })
	return m.occ
}
