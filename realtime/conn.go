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

	"github.com/recordsync/recordsync/pusher"
)

// conn is one socket. Its reader goroutine (readLoop) lives as long as the
// socket: it owns channels and handles the client's messages. Delivery
// writes to an idle socket directly: push writes the frame to the socket
// without blocking (sockWriter.tryWrite) when nothing is queued and the
// socket's send buffer takes it. Only what cannot leave at once (the queue
// was not empty, the send buffer was full, or the connection is TLS) is
// queued, and then a writer goroutine (writeLoop, the only blocking writer)
// exists until the queue is empty again; so an idle socket has one
// goroutine and a delivery to it none.
// Pings, pong and write timeouts are the hub's sweeper's (sweep.go).
// enqueue, send and stop are safe for concurrent use; everything else
// belongs to one of the goroutines.
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
	// user is the id c signed in as with pusher:signin, "" before
	// (signin.go); readLoop only.
	user string
	// ceTokens and ceLast are the client-event token bucket; readLoop only.
	ceTokens float64
	ceLast   int64

	// qmu guards frames, spare, rest, qclosed and writing: the bounded send
	// queue of whole websocket frames (wsText). A slice rather than a
	// buffered chan: an idle socket then holds no queue memory (a chan of
	// 256 slices would pin 6 KB per socket).
	qmu    sync.Mutex
	frames [][]byte
	// rest is the end of a frame push wrote only part of; sw.mu stays
	// locked for the writer, which writes rest before anything else.
	rest []byte
	// spare is the writer's last batch, emptied, for the next swap: no
	// allocation per delivery.
	spare   [][]byte
	qclosed bool
	// writing: a writeLoop runs (or is owed: newConn sets it, and
	// ServeWebSocket starts the first writer). Whoever sets it from false
	// starts the writer; the writer clears it only under qmu after finding
	// the queue empty, so no frame is left without a writer. While it is
	// false the queue is empty and push may write directly.
	writing bool
	qmax    int

	// done is closed by stop; closeCode and closeReason are set before.
	done        chan struct{}
	stopOnce    sync.Once
	closeCode   websocket.StatusCode
	closeReason string

	// lastActivity is hub.now() at the last inbound frame.
	lastActivity atomic.Int64
	// writeSince is hub.now() when the writer began writing its current
	// batch, 0 when it is not writing; the sweeper closes a socket whose
	// write takes longer than writeTimeout.
	writeSince atomic.Int64
	// pingedAt is hub.now() when the sweeper queued a ping that has not
	// been answered yet, 0 otherwise; sweeper only.
	pingedAt int64

	activity, pongTimeout, writeTimeout time.Duration
	// sw writes frames to the connection (sock.go).
	sw  sockWriter
	log *zap.Logger
}

func newConn(h *Hub, cfg *config, tenant string) *conn {
	c := &conn{
		hub:          h,
		tenant:       tenant,
		qmax:         cfg.SendQueue,
		writing:      true, // until ServeWebSocket starts the writer
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

// enqueue sends payload, one Pusher message, as a frame of its own (see
// send).
func (c *conn) enqueue(payload []byte) bool { return c.push(wsText(payload), false) }

// send delivers frame (whole websocket frame bytes, wsText) without
// blocking. It reports whether the frame was written or queued; a full
// queue stops the socket with 4100.
func (c *conn) send(frame []byte) bool { return c.push(frame, false) }

// push writes frame to an idle socket at once, as far as its send buffer
// takes it, or queues it; over the queue's bound it stops the socket,
// unless force (the sweeper's pings).
func (c *conn) push(frame []byte, force bool) bool {
	c.qmu.Lock()
	if c.qclosed {
		c.qmu.Unlock()
		return false
	}
	if !c.writing {
		// Nothing queued, no writer: the frame goes out now, in order.
		// Under qmu, so that a frame pushed meanwhile queues behind it.
		n, held := c.sw.tryWrite(frame)
		if n == len(frame) {
			c.qmu.Unlock()
			return true
		}
		if held {
			// Part of the frame is on the wire and sw.mu stays locked:
			// the writer writes the rest before any other frame.
			c.rest = frame[n:]
			c.writing = true
			c.qmu.Unlock()
			c.startWriter()
			return true
		}
		// Nothing written (full send buffer, a write in progress, TLS):
		// queued for a writer.
	}
	if len(c.frames) >= c.qmax && !force {
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
	start := !c.writing
	c.writing = true
	c.qmu.Unlock()
	if start {
		c.startWriter()
	}
	return true
}

// startWriter runs writeLoop on a new goroutine. Only whoever set writing
// from false calls it (or ServeWebSocket, for the first writer). The hub's
// WaitGroup is never at zero then: c's reader is counted until after c is
// stopped, and nothing starts a writer after stop.
func (c *conn) startWriter() {
	c.hub.wg.Add(1)
	go c.writeLoop()
}

// stop asks the socket to close with code; the first call wins. It never
// blocks: the writer performs the close handshake (stop starts one when none
// runs).
func (c *conn) stop(code int, reason string) {
	c.stopOnce.Do(func() {
		c.qmu.Lock()
		c.closeCode = websocket.StatusCode(code)
		c.closeReason = reason
		c.qclosed = true
		c.frames = nil
		c.spare = nil
		close(c.done)
		start := !c.writing
		c.writing = true
		c.qmu.Unlock()
		if start {
			c.startWriter()
		}
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

// writeTimedOut runs on the hub's sweeper: the writer's current write has
// taken longer than writeTimeout.
func (c *conn) writeTimedOut() {
	c.stop(int(websocket.StatusGoingAway), "write timeout")
	_ = c.ws.CloseNow()
}

// maxSpare bounds the batch slice a socket keeps between wake-ups.
const maxSpare = 4

// writeLoop writes the queued frames, one batch per pass and the whole
// batch in one write, until the queue is empty; then it exits. After stop it
// finishes a frame push began (rest) and closes the socket with the code
// given to stop.
func (c *conn) writeLoop() {
	defer c.hub.wg.Done()
	var batch [][]byte
	for {
		c.qmu.Lock()
		if batch != nil && cap(batch) <= maxSpare {
			c.spare = batch[:0]
		}
		batch = nil
		rest := c.rest
		c.rest = nil
		stopped := c.stopped()
		if !stopped {
			if len(c.frames) == 0 && rest == nil {
				c.writing = false
				c.qmu.Unlock()
				return
			}
			batch = c.frames
			c.frames = c.spare
			c.spare = nil
		}
		c.qmu.Unlock()
		if stopped && rest == nil {
			break
		}

		// The sweeper bounds the time a write takes (writeTimeout).
		c.writeSince.Store(max(c.hub.now(), 1))
		err := c.sw.writeOut(rest, batch)
		c.writeSince.Store(0)
		clear(batch)
		if err != nil {
			c.stop(int(websocket.StatusGoingAway), "write failed")
		}
		if stopped {
			break // rest is written: the close frame may follow
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

// readLoop reads and handles one client message, then hands the socket
// over to a fresh goroutine running readLoop and returns (a relay: the
// socket still has one reader). A goroutine's stack never shrinks below
// four times what it uses when parked, and the parked read alone uses
// ~2.5 KB (coder/websocket's frames), so a reader that once grew to 8 KB
// (a subscribe: JSON, HMAC) would keep 8 KB for good; its successor parks
// in a 4 KB stack. The relay costs a goroutine start per client message
// (pings every activity timeout, subscribes): about a microsecond. When the
// socket ends, the last reader removes it from the hub.
func (c *conn) readLoop() {
	if c.readOne() {
		go c.readLoop() // the hub's WaitGroup count carries over
		return
	}
	c.leavePresence() // before unregister: member_removed to the others
	c.signOut()
	c.hub.unregister(c)
	c.hub.wg.Done()
}

// readOne reads and handles one message; false when the socket has ended
// (stopped).
func (c *conn) readOne() bool {
	typ, r, err := c.ws.Reader(context.Background())
	if err != nil {
		c.stop(int(websocket.StatusNormalClosure), "")
		return false
	}
	c.touch()
	cfg := c.hub.cfg.Load()
	bp := readBufPool.Get().(*[]byte)
	msg, tooBig, err := readMessage(r, (*bp)[:0], cfg.MaxMessageBytes)
	if err != nil {
		// Over the hard limit (the library closed with 1009) or broken.
		c.stop(int(websocket.StatusNormalClosure), "")
		return false
	}
	switch {
	case typ != websocket.MessageText:
		c.refuseMessage("binary messages are not supported")
	case tooBig:
		c.refuseMessage("message too large: the limit is " + itoa64(cfg.MaxMessageBytes) + " bytes")
	default:
		c.handle(cfg, msg)
	}
	if cap(msg) <= 64<<10 {
		*bp = msg[:0]
		readBufPool.Put(bp)
	}
	return true
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

// sendError answers pusher:error code. Its callers count the refusal:
// refuseMessage as RefusedMessage, clientEvent as a dropped event.
func (c *conn) sendError(code int, msg string) {
	c.enqueue(errorFrame(code, msg))
}

// refuseMessage refuses a client message with pusher:error 4200, counted;
// the socket stays up.
func (c *conn) refuseMessage(msg string) {
	c.hub.cfg.Load().Observer.Refused(RefusedMessage)
	c.sendError(CodeReconnect, msg)
}

// refuseSubscription answers pusher:subscription_error on channel, counted
// under reason (Refused*); the socket stays up.
func (c *conn) refuseSubscription(reason, channel, typ, msg string, status int) {
	c.hub.cfg.Load().Observer.Refused(reason)
	c.enqueue(subscriptionErrorFrame(channel, typ, msg, status))
}

// handle answers one parsed-or-not client message. It never panics on input.
func (c *conn) handle(cfg *config, msg []byte) {
	f, err := parseClientFrame(msg)
	if err != nil {
		c.refuseMessage("invalid message: " + err.Error())
		return
	}
	switch f.Event {
	case "pusher:ping":
		c.send(wirePong)
	case "pusher:pong":
		// Activity is already noted.
	case "pusher:subscribe":
		d, err := parseSubscribeData(f.Data)
		if err != nil {
			c.refuseMessage("invalid pusher:subscribe: " + err.Error())
			return
		}
		c.subscribe(cfg, d)
	case "pusher:unsubscribe":
		d, err := parseSubscribeData(f.Data)
		if err != nil {
			c.refuseMessage("invalid pusher:unsubscribe: " + err.Error())
			return
		}
		c.unsubscribe(d.Channel)
	case "pusher:signin":
		c.signin(cfg, f.Data)
	default:
		if strings.HasPrefix(f.Event, "client-") {
			c.clientEvent(cfg, f)
			return
		}
		c.refuseMessage("unknown event " + quoteForMsg(f.Event))
	}
}

// subscribe handles pusher:subscribe: checks the name, the channel kind's
// authorisation and the channel limit, then acknowledges and, for the
// "since" extension, catches the socket up.
func (c *conn) subscribe(cfg *config, d subscribeData) {
	name := d.Channel
	if id, ok := pusher.UserOfChannel(name); ok {
		c.subscribeUser(cfg, name, id) // signin.go
		return
	}
	if !pusher.ValidChannelName(name) {
		c.refuseSubscription(RefusedChannel, name, subErrInvalid,
			"invalid channel name "+quoteForMsg(name)+": 1–200 characters of [-a-zA-Z0-9_=@,.;]", 400)
		return
	}
	var member pusher.Member
	kind := pusher.KindOf(name)
	switch kind {
	case pusher.KindPublic:
	case pusher.KindPrivate, pusher.KindPrivateEncrypted:
		// An encrypted channel is subscribed as a private one; its events
		// are relayed as published (the hub never has the key), and
		// auth_upstream does not apply: pusher-js needs the shared_secret
		// of the app's own answer.
		if d.Auth == "" && kind == pusher.KindPrivate && cfg.Authorizer != nil && c.upgrade != nil {
			if _, ok := c.upstreamAuthorize(cfg, name, kind); !ok {
				return
			}
			break
		}
		if err := pusher.VerifyChannelAuth(cfg.AppKey, cfg.AppSecret, c.id, name, "", d.Auth); err != nil {
			c.refuseSubscription(RefusedSignature, name, subErrAuth, "auth failed: "+err.Error(), 401)
			return
		}
	case pusher.KindPresence:
		if d.Auth == "" && cfg.Authorizer != nil && c.upgrade != nil {
			// channel_data is the app's, whatever the client sent.
			var ok bool
			if member, ok = c.upstreamAuthorize(cfg, name, kind); !ok {
				return
			}
			break
		}
		if d.ChannelData == "" {
			c.refuseSubscription(RefusedSignature, name, subErrAuth, "auth failed: presence channels need channel_data", 401)
			return
		}
		// Signed over the exact string the client sent.
		if err := pusher.VerifyChannelAuth(cfg.AppKey, cfg.AppSecret, c.id, name, d.ChannelData, d.Auth); err != nil {
			c.refuseSubscription(RefusedSignature, name, subErrAuth, "auth failed: "+err.Error(), 401)
			return
		}
		var err error
		if member, err = pusher.ParseChannelData(d.ChannelData); err != nil {
			c.refuseSubscription(RefusedChannel, name, subErrInvalid, "invalid channel_data: "+err.Error(), 400)
			return
		}
	default:
		c.refuseSubscription(RefusedUnsupported, name, subErrUnsupported, kind.String()+" channels are not supported", 501)
		return
	}
	if _, ok := c.channels[name]; !ok {
		if cfg.MaxChannelsPerConn > 0 && len(c.channels) >= cfg.MaxChannelsPerConn {
			c.refuseSubscription(RefusedLimit, name, subErrLimit,
				"too many channels on this connection (limit "+itoa64(int64(cfg.MaxChannelsPerConn))+")", 429)
			return
		}
		if kind == pusher.KindPresence {
			// presenceJoin subscribes and acknowledges with the members.
			if !c.hub.presenceJoin(c, chanKey{c.tenant, name}, member, cfg.PresenceMaxMembers) {
				c.refuseSubscription(RefusedLimit, name, subErrLimit,
					"too many members on this presence channel (limit "+itoa64(int64(cfg.PresenceMaxMembers))+")", 429)
				return
			}
			if c.members == nil {
				c.members = make(map[string]string, 1)
			}
			c.members[name] = member.UserID
		} else {
			// Subscribe before acknowledging: a client that acts on the ack
			// (e.g. saves, then expects the broadcast) must not race it. An
			// event may then precede the ack; pusher-js delivers it all the
			// same.
			c.hub.addSub(c, chanKey{c.tenant, name})
			c.enqueue(subscriptionSucceededFrame(name))
			c.hub.replayCache(c, chanKey{c.tenant, name}) // cache channels (cachechannels.go)
		}
		if c.channels == nil {
			c.channels = make(map[string]struct{}, 2)
		}
		c.channels[name] = struct{}{}
	} else if kind == pusher.KindPresence {
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
