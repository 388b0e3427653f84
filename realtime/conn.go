package realtime

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"
)

// conn is one socket. It runs two goroutines: readLoop (owns channels and
// handles the client's messages) and writeLoop (the only writer of data
// frames; it also pings idle sockets from its timer). enqueue and stop are
// safe for concurrent use; everything else belongs to one of the two loops.
type conn struct {
	hub    *Hub
	ws     *websocket.Conn
	id     string
	tenant string
	// upgrade is what an Authorizer needs of the upgrade request; nil
	// without Options.Authorizer at upgrade time.
	upgrade *UpgradeRequest

	// channels are the names c is subscribed to; readLoop only.
	channels map[string]struct{}
	// members maps c's presence channels to the user_id c joined them as;
	// readLoop only.
	members map[string]string
	// ceTokens and ceLast are the client-event token bucket; readLoop only.
	ceTokens float64
	ceLast   int64

	// qmu guards frames and qclosed: the bounded send queue. A slice and a
	// wake-up channel instead of a buffered chan: an idle socket then holds
	// no queue memory (a chan of 256 slices would pin 6 KB per socket).
	qmu     sync.Mutex
	frames  [][]byte
	qclosed bool
	qmax    int
	wake    chan struct{}

	// done is closed by stop; closeCode and closeReason are set before.
	done        chan struct{}
	stopOnce    sync.Once
	closeCode   websocket.StatusCode
	closeReason string

	// lastActivity is hub.now() at the last inbound frame.
	lastActivity atomic.Int64

	activity, pongTimeout, writeTimeout time.Duration
	// watchdog closes the socket when a write is stuck for writeTimeout:
	// one reusable timer instead of a cancellable context per write.
	watchdog *time.Timer
	log      *zap.Logger
}

func newConn(h *Hub, cfg *config, tenant string) *conn {
	c := &conn{
		hub:          h,
		tenant:       tenant,
		qmax:         cfg.SendQueue,
		wake:         make(chan struct{}, 1),
		done:         make(chan struct{}),
		activity:     cfg.ActivityTimeout,
		pongTimeout:  cfg.PongTimeout,
		writeTimeout: cfg.WriteTimeout,
		log:          cfg.Logger,
	}
	c.touch()
	return c
}

func (c *conn) touch() { c.lastActivity.Store(c.hub.now()) }

// enqueue queues frame for the socket without blocking. It reports whether
// the frame was queued; a full queue stops the socket with 4100.
func (c *conn) enqueue(frame []byte) bool {
	c.qmu.Lock()
	if c.qclosed {
		c.qmu.Unlock()
		return false
	}
	if len(c.frames) >= c.qmax {
		c.qclosed = true
		c.qmu.Unlock()
		obs := c.hub.cfg.Load().Observer
		obs.Dropped(DropSlowConsumer)
		obs.SlowConsumer()
		if ce := c.log.Check(zap.DebugLevel, "realtime: slow consumer"); ce != nil {
			ce.Write(zap.String("socket_id", c.id), zap.Int("queue", c.qmax))
		}
		c.stop(CodeOverCapacity, "over capacity: slow consumer")
		return false
	}
	c.frames = append(c.frames, frame)
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// take swaps the queued frames out for spare (empty).
func (c *conn) take(spare [][]byte) [][]byte {
	c.qmu.Lock()
	out := c.frames
	c.frames = spare[:0]
	c.qmu.Unlock()
	return out
}

// stop asks the socket to close with code; the first call wins. It never
// blocks: writeLoop performs the close handshake.
func (c *conn) stop(code int, reason string) {
	c.stopOnce.Do(func() {
		c.closeCode = websocket.StatusCode(code)
		c.closeReason = reason
		c.qmu.Lock()
		c.qclosed = true
		c.frames = nil
		c.qmu.Unlock()
		close(c.done)
	})
}

func (c *conn) stopped() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// write writes one frame under the watchdog. context.Background() costs
// coder/websocket no allocation (a cancellable context costs four per frame).
func (c *conn) write(frame []byte) error {
	c.watchdog.Reset(c.writeTimeout)
	err := c.ws.Write(context.Background(), websocket.MessageText, frame)
	c.watchdog.Stop()
	return err
}

// writeTimedOut runs on the watchdog's timer goroutine.
func (c *conn) writeTimedOut() {
	c.stop(int(websocket.StatusGoingAway), "write timeout")
	_ = c.ws.CloseNow()
}

// writeLoop writes queued frames, pings idle sockets and finally closes the
// socket with the code given to stop.
func (c *conn) writeLoop() {
	defer c.hub.wg.Done()
	idle := time.NewTimer(c.activity)
	defer idle.Stop()
	var spare [][]byte
	var pinged bool
	var pingedAt int64
loop:
	for {
		select {
		case <-c.done:
			break loop
		case <-c.wake:
			batch := c.take(spare)
			for i, f := range batch {
				if c.stopped() {
					break
				}
				if err := c.write(f); err != nil {
					c.stop(int(websocket.StatusGoingAway), "write failed")
					break
				}
				batch[i] = nil
			}
			clear(batch)
			spare = batch[:0]
			if cap(spare) > 64 {
				spare = nil // let a burst's buffer go
			}
		case <-idle.C:
			now := c.hub.now()
			last := c.lastActivity.Load()
			if pinged && last > pingedAt {
				pinged = false
			}
			if pinged {
				if waited := time.Duration(now - pingedAt); waited < c.pongTimeout {
					idle.Reset(c.pongTimeout - waited)
					continue
				}
				c.stop(CodePongTimeout, "pong not received")
				break loop
			}
			if silent := time.Duration(now - last); silent < c.activity {
				idle.Reset(c.activity - silent)
				continue
			}
			if err := c.write(framePing); err != nil {
				c.stop(int(websocket.StatusGoingAway), "write failed")
				break loop
			}
			pinged, pingedAt = true, now
			idle.Reset(c.pongTimeout)
		}
	}
	// done is closed: closeCode and closeReason are set.
	err := c.ws.Close(c.closeCode, c.closeReason)
	if ce := c.log.Check(zap.DebugLevel, "realtime: socket closed"); ce != nil {
		ce.Write(zap.String("socket_id", c.id), zap.Int("code", int(c.closeCode)),
			zap.String("reason", c.closeReason), zap.Error(err))
	}
}

// readBufPool recycles inbound message buffers so an idle socket holds none.
var readBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// readLoop reads and handles the client's messages until the socket ends,
// then removes the socket from the hub.
func (c *conn) readLoop() {
	defer c.hub.wg.Done()
	defer c.hub.unregister(c)
	defer c.leavePresence() // before unregister: member_removed to the others
	for {
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			c.stop(int(websocket.StatusNormalClosure), "")
			return
		}
		c.touch()
		cfg := c.hub.cfg.Load()
		bp := readBufPool.Get().(*[]byte)
		msg, tooBig, err := readMessage(r, (*bp)[:0], cfg.MaxMessageBytes)
		if err != nil {
			// Over the hard limit (the library closed with 1009) or broken.
			c.stop(int(websocket.StatusNormalClosure), "")
			return
		}
		switch {
		case typ != websocket.MessageText:
			c.sendError(CodeReconnect, "binary messages are not supported")
		case tooBig:
			c.sendError(CodeReconnect, "message too large: the limit is "+itoa64(cfg.MaxMessageBytes)+" bytes")
		default:
			c.handle(cfg, msg)
		}
		if cap(msg) <= 64<<10 {
			*bp = msg[:0]
			readBufPool.Put(bp)
		}
	}
}

// readMessage reads one message into buf. A message longer than limit is
// read to its end and discarded (tooBig); the websocket read limit stops one
// that is far longer.
func readMessage(r io.Reader, buf []byte, limit int64) (msg []byte, tooBig bool, err error) {
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				_, err = io.Copy(io.Discard, r)
				return buf, true, err
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, int64(len(buf)) > limit, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
}

func (c *conn) sendError(code int, msg string) {
	c.enqueue(errorFrame(code, msg))
}

// handle answers one parsed-or-not client message. It never panics on input.
func (c *conn) handle(cfg *config, msg []byte) {
	f, err := parseClientFrame(msg)
	if err != nil {
		c.sendError(CodeReconnect, "invalid message: "+err.Error())
		return
	}
	switch f.Event {
	case "pusher:ping":
		c.enqueue(framePong)
	case "pusher:pong":
		// Activity is already noted.
	case "pusher:subscribe":
		d, err := parseSubscribeData(f.Data)
		if err != nil {
			c.sendError(CodeReconnect, "invalid pusher:subscribe: "+err.Error())
			return
		}
		c.subscribe(cfg, d)
	case "pusher:unsubscribe":
		d, err := parseSubscribeData(f.Data)
		if err != nil {
			c.sendError(CodeReconnect, "invalid pusher:unsubscribe: "+err.Error())
			return
		}
		c.unsubscribe(d.Channel)
	default:
		if strings.HasPrefix(f.Event, "client-") {
			c.clientEvent(cfg, f)
			return
		}
		c.sendError(CodeReconnect, "unknown event "+quoteForMsg(f.Event))
	}
}

// subscribe handles pusher:subscribe: checks the name, the channel kind's
// authorisation and the channel limit, then acknowledges and, for the
// "since" extension, catches the socket up.
func (c *conn) subscribe(cfg *config, d subscribeData) {
	name := d.Channel
	if !validChannelName(name) {
		c.enqueue(subscriptionErrorFrame(name, subErrInvalid,
			"invalid channel name "+quoteForMsg(name)+": 1–200 characters of [-a-zA-Z0-9_=@,.;]", 400))
		return
	}
	var member memberData
	kind := kindOf(name)
	switch kind {
	case kindPublic:
	case kindPrivate:
		if d.Auth == "" && cfg.Authorizer != nil && c.upgrade != nil {
			if _, ok := c.upstreamAuthorize(cfg, name, kind); !ok {
				return
			}
			break
		}
		if err := verifyAuth(cfg.AppKey, cfg.AppSecret, c.id, name, "", d.Auth); err != nil {
			c.enqueue(subscriptionErrorFrame(name, subErrAuth, "auth failed: "+err.Error(), 401))
			return
		}
	case kindPresence:
		if d.Auth == "" && cfg.Authorizer != nil && c.upgrade != nil {
			// channel_data is the app's, whatever the client sent.
			var ok bool
			if member, ok = c.upstreamAuthorize(cfg, name, kind); !ok {
				return
			}
			break
		}
		if d.ChannelData == "" {
			c.enqueue(subscriptionErrorFrame(name, subErrAuth, "auth failed: presence channels need channel_data", 401))
			return
		}
		// Signed over the exact string the client sent.
		if err := verifyAuth(cfg.AppKey, cfg.AppSecret, c.id, name, d.ChannelData, d.Auth); err != nil {
			c.enqueue(subscriptionErrorFrame(name, subErrAuth, "auth failed: "+err.Error(), 401))
			return
		}
		var err error
		if member, err = parseChannelData(d.ChannelData); err != nil {
			c.enqueue(subscriptionErrorFrame(name, subErrInvalid, "invalid channel_data: "+err.Error(), 400))
			return
		}
	case kindPrivateEncrypted:
		c.enqueue(subscriptionErrorFrame(name, subErrUnsupported, "encrypted channels are not supported", 501))
		return
	default:
		c.enqueue(subscriptionErrorFrame(name, subErrUnsupported, kind.String()+" channels are not supported", 501))
		return
	}
	if _, ok := c.channels[name]; !ok {
		if cfg.MaxChannelsPerConn > 0 && len(c.channels) >= cfg.MaxChannelsPerConn {
			c.enqueue(subscriptionErrorFrame(name, subErrLimit,
				"too many channels on this connection (limit "+itoa64(int64(cfg.MaxChannelsPerConn))+")", 429))
			return
		}
		if kind == kindPresence {
			// presenceJoin subscribes and acknowledges with the members.
			if !c.hub.presenceJoin(c, chanKey{c.tenant, name}, member, cfg.PresenceMaxMembers) {
				c.enqueue(subscriptionErrorFrame(name, subErrLimit,
					"too many members on this presence channel (limit "+itoa64(int64(cfg.PresenceMaxMembers))+")", 429))
				return
			}
			if c.members == nil {
				c.members = make(map[string]string, 1)
			}
			c.members[name] = member.userID
		} else {
			// Subscribe before acknowledging: a client that acts on the ack
			// (e.g. saves, then expects the broadcast) must not race it. An
			// event may then precede the ack; pusher-js delivers it all the
			// same.
			c.hub.addSub(c, chanKey{c.tenant, name})
			c.enqueue(subscriptionSucceededFrame(name))
		}
		if c.channels == nil {
			c.channels = make(map[string]struct{}, 2)
		}
		c.channels[name] = struct{}{}
	} else if kind == kindPresence {
		// Idempotent: acknowledge again with the members, as the member
		// the socket first joined as.
		c.hub.presenceResend(c, chanKey{c.tenant, name})
	} else {
		// Idempotent: acknowledge again, subscribe once.
		c.enqueue(subscriptionSucceededFrame(name))
	}
	if d.Since != "" {
		c.hub.catchUp(c, cfg, name, d.Since)
	}
}

// unsubscribe handles pusher:unsubscribe; there is no reply.
func (c *conn) unsubscribe(name string) {
	if _, ok := c.channels[name]; !ok {
		return
	}
	delete(c.channels, name)
	if userID, ok := c.members[name]; ok {
		delete(c.members, name)
		c.hub.presenceLeave(c, chanKey{c.tenant, name}, userID)
		return
	}
	c.hub.removeSub(c, chanKey{c.tenant, name})
}

// leavePresence leaves c's presence channels when the socket ends, so that
// the other members learn of it (unregister then removes the rest).
// readLoop only.
func (c *conn) leavePresence() {
	for name, userID := range c.members {
		delete(c.channels, name)
		c.hub.presenceLeave(c, chanKey{c.tenant, name}, userID)
	}
	c.members = nil
}
