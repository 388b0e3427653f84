package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/recordsync/recordsync/internal/redissub"
)

// Kinds of message that reach busOptions.Handler.
const (
	// kindEvent is a publish of one instance (realtime.Event): the others
	// deliver it to their own subscribers.
	kindEvent = "event"
	// kindSaved is a save (versioncache.Saved) one instance learned: the
	// others advance their version cache with it and, unless it is
	// VersionOnly, deliver its record and list events to their sockets.
	kindSaved = "saved"
	// kindPresence is a change of one instance's presence members: Op is
	// presenceJoin, presenceLeave or presenceSync.
	kindPresence = "presence"
	// kindTerminate: close the sockets of Tenant signed in as UserID (the
	// HTTP API's terminate_connections; realtime.UserTerminator).
	kindTerminate = "terminate"
)

// Kinds the Bus handles itself.
const (
	kindHello     = "hello" // an instance (re)subscribed: everyone shares their state
	kindHeartbeat = "hb"    // an instance is alive
	kindBye       = "bye"   // an instance is shutting down
)

// Presence operations (message.Op).
const (
	// presenceJoin: UserID got a first socket on Channel on this instance.
	presenceJoin = "join"
	// presenceLeave: UserID's last socket on Channel on this instance left.
	presenceLeave = "leave"
	// presenceSync: Members are all of this instance's presence members;
	// they replace what the others knew of this instance.
	presenceSync = "sync"
)

// Defaults of busOptions.
const (
	DefaultBusQueue          = 8192
	DefaultHeartbeatInterval = 2 * time.Second
	DefaultInstanceTimeout   = 10 * time.Second
	DefaultBusMinBackoff     = redissub.DefaultMinBackoff
	DefaultBusMaxBackoff     = redissub.DefaultMaxBackoff
	DefaultBusPingInterval   = redissub.DefaultPingInterval
	DefaultPublishTimeout    = time.Second
	// DefaultBusCloseWait bounds how long Close waits for the bus's goroutines.
	DefaultBusCloseWait = 5 * time.Second
)

// BusProtocol is the version of message's wire format that this build
// speaks. A build that changes the format raises it; instances of different
// protocols on one bus (a rolling upgrade) then ignore each other's messages
// visibly (logged once per instance, counted as kind "other_protocol")
// instead of misreading them. Messages without a protocol (0) come from
// builds before it existed, whose format was protocol 1.
//
// Protocol 2: a save travels once, as kindSaved (protocol 1 sent a
// "version" message and then each of the save's events).
//
// Protocol 3: every message is signed (see seal) and carries a sequence
// number; a presence sync over MaxBusMessageBytes travels in parts.
// Messages of protocols 1 and 2, which have no signature, are still
// recognised as another protocol's (counted, logged once per instance,
// never handled); every other message without this cluster's signature is
// dropped as ReasonUnauthenticated.
const BusProtocol = 3

// firstSignedProtocol is the first protocol whose messages are signed.
const firstSignedProtocol = 3

// kindOtherProtocol labels, in the metrics, messages of another protocol.
const kindOtherProtocol = "other_protocol"

// maxOtherProtocolWarnings bounds the instances of another protocol that
// are remembered as already logged; past it, their messages are only
// counted (an unsigned message can claim any instance id: the log must not
// be a way to flood the logs).
const maxOtherProtocolWarnings = 64

// maxSyncMembers bounds the members of one presence sync assembled from its
// parts; a longer one is dropped (ReasonMalformed).
const maxSyncMembers = 1 << 20

// message is what instances tell each other on the cluster's channel
// (Key("events")), one compact JSON object per PUBLISH, signed (seal).
// Which fields are set depends on Kind.
type message struct {
	// Protocol is BusProtocol (set by the bus).
	Protocol int    `json:"v,omitempty"`
	Kind     string `json:"kind"`
	Instance string `json:"instance"`
	// Seq numbers the messages of one instance, from 1, in the order they
	// are sent (set by the bus): a message whose Seq is not above the last
	// one heard from its instance is a replay and is dropped.
	Seq uint64 `json:"seq,omitempty"`

	Tenant  string `json:"tenant,omitempty"`
	Channel string `json:"channel,omitempty"`

	// kindEvent: the event's name, data (its JSON text, as a string so that
	// its bytes arrive unchanged) and excluded socket (also kindSaved's).
	Name         string `json:"name,omitempty"`
	Data         string `json:"data,omitempty"`
	ExceptSocket string `json:"except_socket,omitempty"`
	// Client marks a client-* event (Echo's whisper) from a socket; UserID
	// is its sender's presence user_id. Also the user of kindPresence.
	Client bool   `json:"client,omitempty"`
	UserID string `json:"user_id,omitempty"`

	// kindSaved: the record (with Tenant), its version and who saved it,
	// the list channels that hear of it, the saving tab, and whether it is
	// a version only (versioncache.Saved).
	Type          string    `json:"type,omitempty"`
	ID            string    `json:"id,omitempty"`
	Version       string    `json:"version,omitempty"`
	UpdatedByID   string    `json:"updated_by_id,omitempty"`
	UpdatedByName string    `json:"updated_by_name,omitempty"`
	Lists         []busList `json:"lists,omitempty"`
	TabID         string    `json:"tab,omitempty"`
	VersionOnly   bool      `json:"version_only,omitempty"`
	// The version's field fingerprints (versioncache.Fields: names, prints,
	// kinds) and the fields it changed (nil: unknown).
	FieldNames  []string  `json:"field_names,omitempty"`
	FieldPrints []uint64  `json:"field_prints,omitempty"`
	FieldKinds  string    `json:"field_kinds,omitempty"`
	Changed     *[]string `json:"changed,omitempty"`
	// The save's model-broadcast form (versioncache.ModelEvent), if any.
	ModelChannel string `json:"model_channel,omitempty"`
	ModelEvent   string `json:"model_event,omitempty"`
	ModelData    string `json:"model_data,omitempty"`

	// kindPresence: the operation, the member's user_info (JSON text) on
	// join, and all members on sync.
	Op      string   `json:"op,omitempty"`
	Info    string   `json:"info,omitempty"`
	Members []member `json:"members,omitempty"`
	// A presenceSync over MaxBusMessageBytes is sent in parts, numbered
	// from 0, More set on all but the last; the receiving bus assembles
	// them and hands on one sync.
	Part int  `json:"part,omitempty"`
	More bool `json:"more,omitempty"`
}

// busList is a versioncache.List on the bus.
type busList struct {
	Channel string `json:"c"`
	Event   string `json:"e"`
	IDKey   string `json:"k,omitempty"`
}

// member is one presence member of one instance in a presenceSync.
type member struct {
	Tenant  string `json:"t,omitempty"`
	Channel string `json:"c"`
	UserID  string `json:"u"`
	Info    string `json:"i,omitempty"`
}

// busOptions configure a Bus. Zero values mean the defaults.
type busOptions struct {
	// Handler receives the kindEvent, kindSaved and kindPresence messages
	// of the other instances, one at a time, in the order each instance
	// sent them. It runs on the bus's receiving goroutine: it must not
	// block.
	Handler func(message)
	// Share is called when this instance should send its whole state
	// (a presenceSync): when the bus comes up (the first time and after an
	// outage), when another instance says hello, and after the queue
	// overflowed. It must not block.
	Share func()
	// InstanceGone is called with the id of an instance that said bye or
	// was not heard from for InstanceTimeout: forget its members.
	InstanceGone func(instance string)
	// Down is called when the bus, having been up, goes down; Up when it
	// comes up (the first time and after an outage), before Share. They
	// must not block.
	Down, Up func()

	// QueueSize bounds the messages waiting to be sent; a publish finding
	// it full is dropped and counted. Default: DefaultBusQueue.
	QueueSize int
	// HeartbeatInterval is how often the instance says it is alive.
	// Default: DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// InstanceTimeout is how long an instance may stay silent before the
	// others forget it. Default: DefaultInstanceTimeout.
	InstanceTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts (doubling, jittered). Defaults: DefaultBusMinBackoff,
	// DefaultBusMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// PingInterval: a silent subscription pings Redis after this long.
	// Default: DefaultBusPingInterval.
	PingInterval time.Duration
	// PublishTimeout bounds one PUBLISH. Default: DefaultPublishTimeout.
	PublishTimeout time.Duration
	// Observer receives metrics. May be nil.
	Observer Observer
}

// Bus carries messages between the instances of a cluster over one Redis
// pub/sub channel. Publish never blocks: messages wait in a bounded queue
// for the one sending goroutine. A receiving goroutine (redissub) subscribes,
// reconnects with a capped, jittered backoff and resumes by itself; it hands
// the messages of the other instances to busOptions.Handler and ignores this
// instance's own (each instance delivers its own publishes directly, so
// every subscriber gets a publish exactly once). A third goroutine sends
// heartbeats and forgets silent instances.
//
// The bus is up while it is subscribed and its last PUBLISH worked. From the
// first failure of either until both work again it is down: Publish drops
// and counts (NotShared) the events, versions and presence changes instead
// of queueing them, and a failed PUBLISH drops and counts what queued up
// behind it — nothing is held for a Redis that may come back empty, with no
// other instance subscribed yet. The bus has its own Redis client (see
// redissub.ClientOptions): go-redis does not retry, the bus does.
//
// Publish, Up and Close are safe for concurrent use.
type Bus struct {
	c       *Cluster
	channel string
	opts    busOptions
	obs     Observer
	log     *zap.Logger

	// client is the bus's own Redis client (subscription and PUBLISH).
	client *redis.Client
	sub    *redissub.Subscriber
	outage *redissub.Outage

	queue chan message
	// overflowed is set when Publish found the queue full: the heartbeat
	// loop asks for a Share once there is room again.
	overflowed atomic.Bool
	// retryNow tells a failing sender to try Redis at once (the receiver
	// got back a subscription); a PUBLISH that works clears it.
	retryNow atomic.Bool

	// stateMu guards subscribed and publishing, and orders the Up reports
	// to the observer (the last one it sees is the current state).
	stateMu    sync.Mutex
	subscribed bool // the receiver's subscription is confirmed
	publishing bool // the sender's last PUBLISH worked
	up         atomic.Bool
	down       atomic.Bool // from the first failure until up again

	// seq numbers this instance's messages (message.Seq).
	seq atomic.Uint64

	// seenMu guards seen (when each other instance was last heard from,
	// and its last sequence number), parts (the presence syncs being
	// assembled) and otherProtocol (instances of another protocol already
	// logged).
	seenMu sync.Mutex
	seen   map[string]peer
	parts  map[string]*syncParts
	// otherProtocol holds at most maxOtherProtocolWarnings instances.
	otherProtocol map[string]struct{}
	// unauthWarned and tooLargeWarned: the first unauthenticated message
	// received and the first message too large to send are logged at
	// warn, later ones at debug (they are counted).
	unauthWarned, tooLargeWarned atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
}

// peer is what the bus knows of another instance.
type peer struct {
	at  time.Time // last heard from
	seq uint64    // its last message's Seq
}

// syncParts is a presence sync of one instance being assembled.
type syncParts struct {
	next    int // the Part expected next
	members []member
}

// newBus starts the bus of c; it does not wait for Redis.
func newBus(c *Cluster, opts busOptions) *Bus {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultBusQueue
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if opts.InstanceTimeout <= 0 {
		opts.InstanceTimeout = DefaultInstanceTimeout
	}
	// The backoff and ping defaults are redissub's, applied by it (and by
	// redissub.NewBackoff for the sender).
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = DefaultPublishTimeout
	}
	if opts.Handler == nil {
		opts.Handler = func(message) {}
	}
	if opts.Share == nil {
		opts.Share = func() {}
	}
	if opts.InstanceGone == nil {
		opts.InstanceGone = func(string) {}
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := c.log.With(zap.String("cluster_channel", c.Key("events")), zap.String("instance", c.instance))
	b := &Bus{
		c:       c,
		channel: c.Key("events"),
		opts:    opts,
		obs:     opts.Observer,
		log:     log,
		client:  redis.NewClient(redissub.ClientOptions(c.client.Options())),
		outage: redissub.NewOutage(log,
			"cluster: Redis unreachable; serving this instance's subscribers only until it is back",
			"cluster: Redis still unreachable",
			"cluster: Redis reachable again"),
		queue:         make(chan message, opts.QueueSize),
		seen:          make(map[string]peer),
		parts:         make(map[string]*syncParts),
		otherProtocol: make(map[string]struct{}),
		publishing:    true,
		ctx:           ctx,
		cancel:        cancel,
	}
	b.obs.Up(false)
	b.sub = redissub.Start(redissub.Options{
		Subscribe:    func(ctx context.Context) *redis.PubSub { return b.client.Subscribe(ctx, b.channel) },
		Handle:       func(m *redis.Message) { b.handle(m.Payload) },
		Up:           b.subscribedAgain,
		Down:         func(err error) { b.linkDown(true, "subscribing", err) },
		PingInterval: opts.PingInterval,
		MinBackoff:   opts.MinBackoff,
		MaxBackoff:   opts.MaxBackoff,
	})
	b.wg.Add(2)
	go b.send()
	go b.heartbeat()
	return b
}

// subscribedAgain: the receiver's subscription is confirmed (the first one
// or after an outage).
func (b *Bus) subscribedAgain() {
	// Ask the others for their state (ours is shared when the bus is up):
	// they may have missed messages while this one was away. A failing
	// sender tries at once.
	b.retryNow.Store(true)
	b.Publish(message{Kind: kindHello})
	b.linkUp(true)
}

// linkDown notes a failure of the receiver or the sender: the bus is down
// until both work again. The first failure of an outage is logged as a
// warning, later ones at debug level.
func (b *Bus) linkDown(receiver bool, what string, err error) {
	b.stateMu.Lock()
	if receiver {
		b.subscribed = false
	} else {
		b.publishing = false
	}
	b.down.Store(true)
	wasUp := b.up.Swap(false)
	b.obs.Up(false)
	b.stateMu.Unlock()
	if wasUp && b.opts.Down != nil {
		b.opts.Down()
	}
	b.outage.Down(err, zap.String("while", what))
}

// linkUp notes that the receiver or the sender works again; the bus is up
// when both do. When it comes up, this instance shares its state: the
// others may have missed some of it while it was down.
func (b *Bus) linkUp(receiver bool) {
	b.stateMu.Lock()
	if receiver {
		b.subscribed = true
	} else {
		b.publishing = true
	}
	up := b.subscribed && b.publishing
	cameUp := up && !b.up.Load()
	if up {
		b.down.Store(false)
	}
	b.up.Store(up)
	b.obs.Up(up)
	b.stateMu.Unlock()
	if cameUp {
		b.outage.Up()
		if b.opts.Up != nil {
			b.opts.Up()
		}
		b.opts.Share()
	}
}

// Instance is the id this bus's messages carry.
func (b *Bus) Instance() string { return b.c.instance }

// Up reports whether the bus is subscribed and its last PUBLISH worked.
func (b *Bus) Up() bool { return b.up.Load() }

// Publish queues m for the other instances (m.Instance is set here). It
// never blocks: with the bus down or the queue full, m is dropped and
// counted. (The bus's own hellos and heartbeats queue while it is down:
// they are how the sender finds Redis again.)
func (b *Bus) Publish(m message) {
	m.Instance, m.Protocol = b.c.instance, BusProtocol
	if b.down.Load() && m.Kind != kindHello && m.Kind != kindHeartbeat {
		b.obs.NotShared()
		return
	}
	select {
	case b.queue <- m:
	default:
		b.overflowed.Store(true)
		b.obs.NotShared()
	}
}

// Close stops the bus, tells the other instances that this one is gone
// (so its presence members leave at once) and waits for its goroutines (at
// most DefaultBusCloseWait). It does not close the Cluster. Idempotent.
func (b *Bus) Close() {
	b.closeOnce.Do(func() {
		deadline := time.Now().Add(DefaultBusCloseWait)
		b.cancel()
		stopped := b.sub.Close(DefaultBusCloseWait)
		done := make(chan struct{})
		go func() { b.wg.Wait(); close(done) }()
		t := time.NewTimer(max(time.Until(deadline), 0))
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			stopped = false
		}
		if !stopped {
			b.log.Warn("cluster: bus still stopping after the close wait")
		}
		if b.up.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), b.opts.PublishTimeout)
			_ = b.publishNow(ctx, message{Protocol: BusProtocol, Kind: kindBye, Instance: b.c.instance})
			cancel()
		}
		b.stateMu.Lock()
		b.up.Store(false)
		b.obs.Up(false)
		b.stateMu.Unlock()
		_ = b.client.Close()
	})
}

func (b *Bus) publishNow(ctx context.Context, m message) error {
	payloads, err := b.encode(&m)
	if err != nil {
		return err
	}
	for _, p := range payloads {
		if err := b.client.Publish(ctx, b.channel, p).Err(); err != nil {
			return err
		}
	}
	b.obs.Message("out", m.Kind)
	return nil
}

// The wire (protocol 3): one PUBLISH is the message's JSON object with its
// signature as the first member,
//
//	{"mac":"<base64url HMAC-SHA256>","v":3,"kind":"event","instance":...}
//
// The signature (RFC 2104, keyed with the cluster's bus key: see
// deriveKeys) covers every byte after `{"mac":"…",`, so it is checked
// before any JSON is read. Builds of protocols 1 and 2 read such a message
// as one of another protocol (it has "v" and "instance"), as this build
// reads theirs.
const macHead = `{"mac":"`

// macEnd is the length of `{"mac":"…",`.
var macEnd = len(macHead) + macLen + 2

// errTooLarge: a message that cannot be sent under MaxBusMessageBytes.
var errTooLarge = errors.New("cluster: bus message over MaxBusMessageBytes")

// seal signs body, a message's JSON object.
func (b *Bus) seal(body []byte) []byte {
	signed := body[1:] // without its '{'
	out := make([]byte, 0, macEnd+len(signed))
	out = append(out, macHead...)
	out = append(out, mac(b.c.keys.bus, string(signed))...)
	out = append(out, '"', ',')
	return append(out, signed...)
}

// opened reports whether payload carries this cluster's signature.
func (b *Bus) opened(payload string) bool {
	if len(payload) < macEnd || payload[:len(macHead)] != macHead || payload[macEnd-2:macEnd] != `",` {
		return false
	}
	return validMAC(b.c.keys.bus, payload[len(macHead):macEnd-2], payload[macEnd:])
}

// encode numbers m (m.Seq) and returns its signed payloads: one, or, for a
// presence sync over MaxBusMessageBytes, one per part. A message that
// cannot be sent under the bound is counted and logged (tooLarge) and
// returns errTooLarge.
func (b *Bus) encode(m *message) ([][]byte, error) {
	m.Seq = b.seq.Add(1)
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	p := b.seal(body)
	if len(p) <= MaxBusMessageBytes {
		return [][]byte{p}, nil
	}
	if m.Kind != kindPresence || m.Op != presenceSync || len(m.Members) < 2 {
		b.tooLarge(m.Kind, len(p))
		return nil, errTooLarge
	}
	return b.encodeSync(*m)
}

// encodeSync splits a presence sync into parts under MaxBusMessageBytes,
// packing members in order (each member is marshalled once to be sized). A
// member too large for a part of its own is left out (logged, counted as
// not shared): the others must still hear of the rest.
func (b *Bus) encodeSync(m message) ([][]byte, error) {
	// The part without members, sized with the largest Seq and Part, so
	// that a part sized here still fits with its real numbers.
	sizing := m
	sizing.Seq, sizing.Part, sizing.More, sizing.Members = ^uint64(0), maxSyncMembers, true, nil
	head, err := json.Marshal(&sizing)
	if err != nil {
		return nil, err
	}
	// The payload is macEnd + len(body) - 1 bytes; members add
	// `,"members":[` and `]`, and a comma between two.
	budget := MaxBusMessageBytes - (macEnd + len(head) - 1) - len(`,"members":[]`)
	var chunks [][]member
	first, used := 0, 0
	for i := range m.Members {
		mb, err := json.Marshal(&m.Members[i])
		if err != nil {
			return nil, err
		}
		n := len(mb)
		if i > first {
			n++ // the comma
		}
		if n > budget {
			// Alone it does not fit: left out.
			if i > first {
				chunks = append(chunks, m.Members[first:i])
			}
			b.tooLarge(m.Kind, n)
			first, used = i+1, 0
			continue
		}
		if used+n > budget {
			chunks = append(chunks, m.Members[first:i])
			first, used, n = i, 0, len(mb)
		}
		used += n
	}
	if first < len(m.Members) || len(chunks) == 0 {
		chunks = append(chunks, m.Members[first:]) // (of none when every member was left out)
	}
	payloads := make([][]byte, 0, len(chunks))
	for i, c := range chunks {
		part := m
		part.Members, part.Part, part.More = c, i, i < len(chunks)-1
		part.Seq = b.seq.Add(1)
		body, err := json.Marshal(&part)
		if err != nil {
			return nil, err
		}
		payloads = append(payloads, b.seal(body))
	}
	return payloads, nil
}

// tooLarge logs (at warn the first time) a message that cannot be sent.
func (b *Bus) tooLarge(kind string, size int) {
	b.obs.NotShared()
	lvl := zap.DebugLevel
	if !b.tooLargeWarned.Swap(true) {
		lvl = zap.WarnLevel
	}
	if ce := b.log.Check(lvl, "cluster: a message too large for the bus was not shared with the other instances"); ce != nil {
		ce.Write(zap.String("kind", kind), zap.Int("bytes", size), zap.Int("limit", MaxBusMessageBytes))
	}
}

// maxBatch bounds the PUBLISHes the sender pipelines in one round trip.
const maxBatch = 256

// send publishes the queue's messages in order, pipelining what has queued
// up (one round trip per batch). A PUBLISH that fails drops (counts) its
// batch and everything queued behind it; then, while Redis is unreachable,
// the sender tries once per backoff step (or at once when the receiver got
// a subscription back) and drops what comes in between, so the queue never
// holds an outage's worth of messages.
func (b *Bus) send() {
	defer b.wg.Done()
	backoff := redissub.NewBackoff(b.opts.MinBackoff, b.opts.MaxBackoff)
	var retryAt time.Time
	batch := make([]message, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-b.ctx.Done():
			return
		case m := <-b.queue:
			batch = append(batch, m)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case m := <-b.queue:
				batch = append(batch, m)
			default:
				break more
			}
		}
		if !retryAt.IsZero() && time.Now().Before(retryAt) && !b.retryNow.Swap(false) {
			for range batch {
				b.obs.NotShared()
			}
			continue
		}
		ctx, cancel := context.WithTimeout(b.ctx, b.opts.PublishTimeout)
		err := b.publishBatch(ctx, batch)
		cancel()
		if errors.Is(err, errNothingSent) {
			continue
		}
		if err != nil {
			if b.ctx.Err() != nil {
				return
			}
			b.linkDown(false, "publishing", err)
			// What queued up while this PUBLISH failed was published
			// during the outage: dropped, not sent later to a Redis that
			// may have come back empty, before the others resubscribed.
			n := len(batch)
		drain:
			for {
				select {
				case <-b.queue:
					n++
				default:
					break drain
				}
			}
			for range n {
				b.obs.NotShared()
			}
			retryAt = time.Now().Add(backoff.Next())
			continue
		}
		b.retryNow.Store(false)
		if !retryAt.IsZero() {
			retryAt = time.Time{}
			backoff.Reset()
			b.linkUp(false)
			// Redis answers: the receiver need not wait out its backoff.
			b.sub.Wake()
		}
	}
}

// errNothingSent: every message of a batch was too large to send.
var errNothingSent = errors.New("cluster: nothing to send")

// publishBatch sends batch in one pipeline. A message too large to send is
// left out (counted as not shared); with nothing left it returns
// errNothingSent (Redis was not asked).
func (b *Bus) publishBatch(ctx context.Context, batch []message) error {
	var payloads [][]byte
	sent := make([]string, 0, len(batch))
	for i := range batch {
		p, err := b.encode(&batch[i])
		if errors.Is(err, errTooLarge) {
			continue
		}
		if err != nil {
			return err
		}
		payloads = append(payloads, p...)
		sent = append(sent, batch[i].Kind)
	}
	switch len(payloads) {
	case 0:
		return errNothingSent
	case 1:
		if err := b.client.Publish(ctx, b.channel, payloads[0]).Err(); err != nil {
			return err
		}
	default:
		pipe := b.client.Pipeline()
		for _, p := range payloads {
			pipe.Publish(ctx, b.channel, p)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	for _, kind := range sent {
		b.obs.Message("out", kind)
	}
	return nil
}

// jitter returns a wait in [d/2, d].
func jitter(d time.Duration) time.Duration { return redissub.Jitter(d) }

// handle dispatches one message of the cluster's channel. In this order,
// a message is dropped and counted (Observer.Dropped) when it is over
// MaxBusMessageBytes (before anything of it is read), when it does not
// carry this cluster's signature (unless it is an unsigned message of an
// older protocol: counted as kindOtherProtocol), when it is signed but
// unreadable, and when its instance already sent its sequence number; only
// then is it counted as received and handed on.
func (b *Bus) handle(payload string) {
	if len(payload) > MaxBusMessageBytes {
		b.drop(ReasonOversized, payload)
		return
	}
	if !b.opened(payload) {
		b.unsigned(payload)
		return
	}
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.Instance == "" {
		b.drop(ReasonMalformed, payload)
		return
	}
	if m.Instance == b.c.instance {
		return // delivered locally when it was published
	}
	if m.Protocol != BusProtocol {
		b.otherProtocolMessage(m.Instance, m.Protocol)
		return
	}
	switch m.Kind {
	case kindEvent, kindSaved, kindPresence, kindTerminate, kindHello, kindHeartbeat, kindBye:
	default:
		b.drop(ReasonMalformed, payload) // signed, of this protocol: not ours to guess
		return
	}
	b.seenMu.Lock()
	last, known := b.seen[m.Instance]
	if known && m.Seq <= last.seq {
		b.seenMu.Unlock()
		b.drop(ReasonReplayed, payload)
		return
	}
	if m.Kind == kindBye {
		delete(b.seen, m.Instance)
		delete(b.parts, m.Instance)
	} else {
		b.seen[m.Instance] = peer{at: time.Now(), seq: m.Seq}
	}
	b.seenMu.Unlock()
	b.obs.Message("in", m.Kind)
	switch m.Kind {
	case kindBye:
		if known {
			b.opts.InstanceGone(m.Instance)
		}
	case kindHello:
		b.opts.Share()
	case kindHeartbeat:
	case kindPresence:
		if m.Op == presenceSync && (m.Part != 0 || m.More) {
			var whole bool
			if m, whole = b.assemble(m); !whole {
				return
			}
		}
		b.opts.Handler(m)
	default:
		b.opts.Handler(m)
	}
}

// assemble adds a part of a presence sync; whole is true, with the whole
// sync in m, after its last part. A part out of order (one was lost: the
// subscription broke between two parts) drops what was assembled; the
// instance's next sync (after the bus is back) replaces it.
func (b *Bus) assemble(m message) (_ message, whole bool) {
	b.seenMu.Lock()
	defer b.seenMu.Unlock()
	p := b.parts[m.Instance]
	switch {
	case m.Part == 0:
		p = &syncParts{}
		b.parts[m.Instance] = p
	case p == nil || m.Part != p.next:
		delete(b.parts, m.Instance)
		b.obs.Dropped(DroppedBus, ReasonMalformed)
		return m, false
	}
	p.next++
	p.members = append(p.members, m.Members...)
	if len(p.members) > maxSyncMembers {
		delete(b.parts, m.Instance)
		b.obs.Dropped(DroppedBus, ReasonMalformed)
		return m, false
	}
	if m.More {
		return m, false
	}
	delete(b.parts, m.Instance)
	m.Members, m.Part, m.More = p.members, 0, false
	return m, true
}

// unsigned handles a payload without this cluster's signature: the
// message of an instance of an older protocol (counted and logged as
// such), else dropped as unauthenticated.
func (b *Bus) unsigned(payload string) {
	var peek struct {
		Protocol int    `json:"v"`
		Instance string `json:"instance"`
	}
	if json.Unmarshal([]byte(payload), &peek) == nil && peek.Instance != "" && peek.Protocol < firstSignedProtocol {
		b.otherProtocolMessage(peek.Instance, peek.Protocol)
		return
	}
	b.drop(ReasonUnauthenticated, payload)
	if !b.unauthWarned.Swap(true) {
		b.log.Warn("cluster: a message without this cluster's signature was dropped: another cluster with this name on this Redis server (any database) has another secret, or something else publishes on the cluster's channel; later ones are only counted",
			zap.Int("bytes", len(payload)))
	}
}

// drop counts a refused message (and logs it at debug level).
func (b *Bus) drop(reason, payload string) {
	b.obs.Dropped(DroppedBus, reason)
	if ce := b.log.Check(zap.DebugLevel, "cluster: bus message dropped"); ce != nil {
		ce.Write(zap.String("reason", reason), zap.Int("bytes", len(payload)))
	}
}

// otherProtocolMessage counts a message of another protocol, logging the
// first of each instance (up to maxOtherProtocolWarnings instances).
func (b *Bus) otherProtocolMessage(instance string, protocol int) {
	b.obs.Message("in", kindOtherProtocol)
	b.seenMu.Lock()
	_, warned := b.otherProtocol[instance]
	full := len(b.otherProtocol) >= maxOtherProtocolWarnings
	if !warned && !full {
		b.otherProtocol[instance] = struct{}{}
	}
	b.seenMu.Unlock()
	if !warned && !full {
		b.log.Warn("cluster: an instance speaking another bus protocol shares this cluster; its messages are ignored (see the README's rolling upgrades)",
			zap.String("instance", instance), zap.Int("protocol", protocol), zap.Int("ours", BusProtocol))
	}
}

// heartbeat says this instance is alive, forgets instances silent for
// InstanceTimeout, and asks for a Share after the queue overflowed.
func (b *Bus) heartbeat() {
	defer b.wg.Done()
	t := time.NewTicker(b.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		b.Publish(message{Kind: kindHeartbeat})
		if len(b.queue) < cap(b.queue)/2 && b.overflowed.Swap(false) {
			b.opts.Share()
		}
		var gone []string
		cutoff := time.Now().Add(-b.opts.InstanceTimeout)
		b.seenMu.Lock()
		for id, p := range b.seen {
			if p.at.Before(cutoff) {
				gone = append(gone, id)
				delete(b.seen, id)
				delete(b.parts, id)
			}
		}
		b.seenMu.Unlock()
		for _, id := range gone {
			b.log.Info("cluster: instance silent, forgetting its presence members", zap.String("gone", id), zap.Duration("timeout", b.opts.InstanceTimeout))
			b.opts.InstanceGone(id)
		}
	}
}
