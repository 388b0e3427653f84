package realtime

import (
	"time"
)

// The sweeper is one goroutine per hub (started with the first socket,
// ended by Close) that does what per-socket timers would otherwise do:
// it pings a socket silent for its activity timeout, closes with 4201 one
// that stays silent for its pong timeout after the ping, and closes one
// whose writer has been writing a batch for longer than its write timeout.
// It walks the sockets every sweepEvery: a quarter of the shortest timeout
// of any socket so far, between minSweep and maxSweep, so a timeout fires
// up to that much late.
const (
	minSweep = 5 * time.Millisecond
	maxSweep = time.Second
)

// noteTimeouts lowers the sweep period for c's timeouts; connsMu held.
func (h *Hub) noteTimeoutsLocked(c *conn) {
	d := min(c.activity, c.pongTimeout, c.writeTimeout) / 4
	d = max(min(d, maxSweep), minSweep)
	if h.sweepEvery == 0 || d < h.sweepEvery {
		h.sweepEvery = d
		if h.sweepKick != nil {
			select {
			case h.sweepKick <- struct{}{}:
			default:
			}
		}
	}
	if h.sweepStop == nil {
		h.sweepStop = make(chan struct{})
		h.sweepKick = make(chan struct{}, 1)
		h.wg.Add(1)
		go h.sweep(h.sweepStop)
	}
}

// sweep runs the sweeper until stop is closed.
func (h *Hub) sweep(stop <-chan struct{}) {
	defer h.wg.Done()
	var conns []*conn
	h.connsMu.Lock()
	every := h.sweepEvery
	h.connsMu.Unlock()
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-h.sweepKick:
		case <-t.C:
		}
		h.connsMu.Lock()
		every = h.sweepEvery
		conns = conns[:0]
		for _, c := range h.conns {
			conns = append(conns, c)
		}
		h.connsMu.Unlock()
		now := h.now()
		for _, c := range conns {
			c.sweep(now)
		}
		clear(conns)
		if cap(conns) > 4*len(conns)+1024 {
			conns = nil // the hub shrank: let the snapshot go
		}
		t.Reset(every)
	}
}

// sweep checks c's timeouts at now; sweeper only.
func (c *conn) sweep(now int64) {
	if since := c.writeSince.Load(); since != 0 && time.Duration(now-since) >= c.writeTimeout {
		c.writeTimedOut()
		return
	}
	last := c.lastActivity.Load()
	if c.pingedAt != 0 {
		if last > c.pingedAt {
			c.pingedAt = 0 // answered (anything from the client counts)
		} else {
			if time.Duration(now-c.pingedAt) >= c.pongTimeout {
				c.stop(CodePongTimeout, "pong not received")
			}
			return
		}
	}
	if time.Duration(now-last) >= c.activity {
		if c.push(wirePing, true) {
			c.pingedAt = max(now, 1)
		}
	}
}
