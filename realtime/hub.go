package realtime

import (
	"cmp"
	"errors"
	"hash/maphash"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.uber.org/zap"

	"github.com/recordsync/recordsync/pusher"
)

// ErrClosed is returned by ServeWebSocket after Close; nothing has been
// written to the client then.
var ErrClosed = errors.New("realtime: hub closed")

const numShards = 64

// chanKey names one channel of one tenant: the same channel name in two
// tenants is two channels.
type chanKey struct {
	tenant, name string
}

// shard holds the subscribers of the channels hashed to it.
type shard struct {
	// mu guards channels and delivered.
	mu       sync.RWMutex
	channels map[chanKey]map[*conn]struct{}
	// delivered holds, for channels with subscribers only, the last record
	// version delivered per (event, record): see admitLocked (dedupe.go).
	delivered map[chanKey]map[string]string
}

// Hub holds the sockets and their subscriptions, and delivers events.
// All methods are safe for concurrent use.
type Hub struct {
	cfg   atomic.Pointer[config]
	seed  maphash.Seed
	start time.Time

	shards [numShards]shard
	// presence holds the presence channels' members (presence.go), by the
	// same index as shards.
	presence [numShards]presenceShard

	// connsMu guards conns, perTenant and closed.
	connsMu   sync.Mutex
	conns     map[string]*conn // by socket id
	perTenant map[string]int
	closed    bool

	// sweepEvery is the sweeper's period, sweepStop ends it and sweepKick
	// tells it of a shorter period (sweep.go); connsMu guards them, nil
	// channels until the first socket.
	sweepEvery time.Duration
	sweepStop  chan struct{}
	sweepKick  chan struct{}

	isClosed atomic.Bool
	// wg counts the sockets' goroutines and the sweeper.
	wg        sync.WaitGroup
	closeOnce sync.Once

	nConns, nSubs, nChannels atomic.Int64

	// clock is the wall clock of the HTTP API's timestamp check; nil is
	// time.Now (tests set it before use).
	clock func() time.Time
	// apiSigs binds each accepted HTTP API signature to the tenant it was
	// first used on (httpapi.go); its zero value is ready.
	apiSigs apiSignatures

	// broker shares this hub's publishes, saves and presence with the
	// other instances of a cluster (cluster.go); nil without one.
	broker atomic.Pointer[brokerHolder]
	// dir is the cluster's registry of open sockets (cluster.go); nil
	// without a cluster.
	dir atomic.Pointer[dirHolder]

	// users holds the signed-in sockets (signin.go); cache the cache
	// channels' last events (cachechannels.go). Zero values are ready.
	users userIndex
	cache eventCache
}

// NewHub builds a Hub from opts.
func NewHub(opts Options) (*Hub, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	h := &Hub{
		seed:      maphash.MakeSeed(),
		start:     time.Now(),
		conns:     make(map[string]*conn),
		perTenant: make(map[string]int),
	}
	for i := range h.shards {
		h.shards[i].channels = make(map[chanKey]map[*conn]struct{})
	}
	h.cfg.Store(cfg)
	return h, nil
}

// Update applies new options (after a reload): credentials, origins, limits
// and logger apply to new connections and new subscriptions, and
// MaxMessageBytes to the next message of every socket; existing sockets stay
// connected and keep their queue size, timeouts, hard read limit and the
// activity_timeout they were told.
func (h *Hub) Update(opts Options) error {
	cfg, err := newConfig(opts)
	if err != nil {
		return err
	}
	h.cfg.Store(cfg)
	return nil
}

// Connections returns the number of open sockets.
func (h *Hub) Connections() int { return int(h.nConns.Load()) }

// Subscriptions returns the number of (socket, channel) subscriptions.
func (h *Hub) Subscriptions() int { return int(h.nSubs.Load()) }

// Channels returns the number of (tenant, channel) pairs with subscribers.
func (h *Hub) Channels() int { return int(h.nChannels.Load()) }

// now is a monotonic clock for activity tracking.
func (h *Hub) now() int64 { return int64(time.Since(h.start)) }

// shardIndex places a channel in the hub's shards (channels and presence).
func (h *Hub) shardIndex(k chanKey) uint64 {
	var mh maphash.Hash
	mh.SetSeed(h.seed)
	mh.WriteString(k.tenant)
	mh.WriteByte(0)
	mh.WriteString(k.name)
	return mh.Sum64() % numShards
}

func (h *Hub) shardFor(k chanKey) *shard { return &h.shards[h.shardIndex(k)] }

// addSub subscribes c to k; it reports false when c already was.
func (h *Hub) addSub(c *conn, k chanKey) bool {
	obs := h.cfg.Load().Observer
	sh := h.shardFor(k)
	sh.mu.Lock()
	subs, ok := sh.channels[k]
	if !ok {
		subs = make(map[*conn]struct{}, 1)
		sh.channels[k] = subs
		// Read under the lock: a note is in order with ActVacated, and an
		// Activity set by Update sees every channel either in its
		// NoteState or here.
		if act := h.cfg.Load().Activity; act != nil {
			act.Note(ActivityEvent{Kind: ActOccupied, Tenant: k.tenant, Channel: k.name, SocketID: c.id})
		}
	}
	_, dup := subs[c]
	subs[c] = struct{}{}
	sh.mu.Unlock()
	if !ok {
		h.nChannels.Add(1)
		obs.Channels(1)
	}
	if dup {
		return false
	}
	h.nSubs.Add(1)
	obs.Subscriptions(1)
	return true
}

// removeSub unsubscribes c from k.
func (h *Hub) removeSub(c *conn, k chanKey) {
	obs := h.cfg.Load().Observer
	sh := h.shardFor(k)
	sh.mu.Lock()
	subs, ok := sh.channels[k]
	_, had := subs[c]
	if had {
		delete(subs, c)
	}
	empty := ok && len(subs) == 0
	if empty {
		delete(sh.channels, k)
		delete(sh.delivered, k)
		if act := h.cfg.Load().Activity; act != nil { // under the lock, as in addSub
			act.Note(ActivityEvent{Kind: ActVacated, Tenant: k.tenant, Channel: k.name, SocketID: c.id})
		}
	}
	sh.mu.Unlock()
	if had {
		h.nSubs.Add(-1)
		obs.Subscriptions(-1)
	}
	if empty {
		h.nChannels.Add(-1)
		obs.Channels(-1)
	}
}

// subsPool recycles the subscriber snapshots of Publish.
var subsPool = sync.Pool{New: func() any { s := make([]*conn, 0, 64); return &s }}

// Publish delivers ev to every socket of ev.Tenant subscribed to ev.Channel,
// except the one whose socket id is ev.ExceptSocket. The frame is encoded
// once and the same bytes are written or queued for every subscriber
// (fanout). Publish never blocks on a socket: a socket whose queue is full
// is closed with 4100.
//
// A record event (named record.updated, or whose data carries record_type,
// record_id and updated_at_iso) also advances Options.Versions, and reaches
// a channel only when its version is newer than the last one delivered there
// for that record (dedupe.go).
//
// In a cluster (SetBroker) the event also goes to the other instances,
// which deliver it with PublishLocal.
func (h *Hub) Publish(ev Event) {
	if h.isClosed.Load() || ev.Name == "" || !validEventChannel(ev.Channel) {
		h.publish(ev, recordRef{})
		return
	}
	h.share(ev)
	h.publish(ev, h.learn(h.cfg.Load(), ev))
}

// publish is Publish once the event's record (if any) is known.
func (h *Hub) publish(ev Event, rec recordRef) {
	cfg := h.cfg.Load()
	obs := cfg.Observer
	if h.isClosed.Load() {
		obs.Dropped(DropClosed)
		return
	}
	if ev.Name == "" || !validEventChannel(ev.Channel) {
		obs.Dropped(DropInvalid)
		return
	}
	if rec.stale {
		obs.Dropped(DropStale)
		return
	}
	obs.Published(1)
	if act := cfg.Activity; act != nil {
		act.Note(ActivityEvent{Kind: ActPublished, Tenant: ev.Tenant, Channel: ev.Channel, SocketID: ev.ExceptSocket,
			UserID: ev.UserID, Event: ev.Name, Data: ev.Data, Size: len(ev.Data), Source: ev.Source})
	}
	k := chanKey{ev.Tenant, ev.Channel}
	sh := h.shardFor(k)

	sp := subsPool.Get().(*[]*conn)
	subs := (*sp)[:0]
	// A cache channel's last event is kept with the snapshot, under the
	// write lock, in order with replayCache (cachechannels.go).
	cached := !ev.ClientEvent && pusher.IsCacheChannel(ev.Channel)
	var frame []byte
	if rec.version == "" && !cached {
		sh.mu.RLock()
		for c := range sh.channels[k] {
			subs = append(subs, c)
		}
		sh.mu.RUnlock()
	} else {
		// Check-and-set of the channel's last delivered version.
		sh.mu.Lock()
		for c := range sh.channels[k] {
			subs = append(subs, c)
		}
		admitted := true
		if len(subs) > 0 && rec.version != "" {
			if reason := sh.admitLocked(k, ev.Name, rec); reason != "" {
				clear(subs)
				subs = subs[:0]
				obs.Dropped(reason)
				admitted = false
			}
		}
		if cached && admitted {
			frame = h.cacheEventLocked(cfg, k, ev)
		}
		sh.mu.Unlock()
	}

	if len(subs) > 0 {
		switch {
		case frame != nil: // the one the cache keeps
		case ev.ClientEvent:
			frame = clientEventFrame(ev.Name, ev.Channel, ev.Data, ev.UserID)
		default:
			frame = eventFrame(ev.Name, ev.Channel, ev.Data)
		}
		obs.Encoded()
		if n := fanout(subs, wsText(frame), ev.ExceptSocket); n > 0 {
			obs.Delivered(n)
		}
	}
	clear(subs)
	if cap(subs) <= 1<<16 {
		*sp = subs[:0]
		subsPool.Put(sp)
	}
}

// fanoutSplit is the number of sockets above which a delivery is shared
// among GOMAXPROCS goroutines (each a run of whole subscribers).
const fanoutSplit = 512

// fanout sends frame (whole websocket frame bytes) to every socket of subs
// but the one whose id is except, and returns how many took it. A socket
// with nothing queued is written to right here (conn.push): one write(2)
// per socket, no goroutine. Past fanoutSplit sockets the work is shared
// among GOMAXPROCS goroutines, this one included, and fanout returns when
// all are done, so that deliveries keep their order per socket.
//
// subs (a snapshot of a map, in random order) is first sorted by the
// conns' addresses: sockets are then visited roughly in the order they
// were opened, and so are their Go structures (conn, net.Conn, poll
// descriptor) and the kernel's (file, socket), which were allocated one
// after the other. At 10k sockets, visiting them in map order cost about a
// third more CPU per delivery, in cache and TLB misses (BenchmarkFanout
// against BenchmarkFanoutFloor, which writes in accept order). The sort
// costs under half a percent of the writes; it reorders subs.
func fanout(subs []*conn, frame []byte, except string) int {
	slices.SortFunc(subs, func(a, b *conn) int {
		// Only compared, never turned back into a pointer: the Go heap
		// does not move objects, so the order is stable.
		return cmp.Compare(uintptr(unsafe.Pointer(a)), uintptr(unsafe.Pointer(b)))
	})
	send := func(subs []*conn) int {
		n := 0
		for _, c := range subs {
			if except != "" && c.id == except {
				continue
			}
			if c.send(frame) {
				n++
			}
		}
		return n
	}
	parts := min(runtime.GOMAXPROCS(0), len(subs)/fanoutSplit)
	if parts <= 1 {
		return send(subs)
	}
	per := (len(subs) + parts - 1) / parts
	var wg sync.WaitGroup
	var more atomic.Int64
	for i := per; i < len(subs); i += per {
		part := subs[i:min(i+per, len(subs))]
		wg.Go(func() { more.Add(int64(send(part))) })
	}
	n := send(subs[:per])
	wg.Wait()
	return n + int(more.Load())
}

// newSocketID returns a fresh "123.456" socket id: two random uint32s from
// the runtime's ChaCha8 generator, unique among open sockets. In a cluster
// the first number is the instance's SocketPrefix, so that ids are unique
// cluster-wide too. connsMu held.
func (h *Hub) newSocketIDLocked() string {
	d := h.socketDirectory()
	for {
		first := rand.Uint32()
		if d != nil {
			first = d.SocketPrefix()
		}
		id := strconv.FormatUint(uint64(first), 10) + "." + strconv.FormatUint(uint64(rand.Uint32()), 10)
		if _, taken := h.conns[id]; !taken {
			return id
		}
	}
}

// register adds c to the hub, giving it its socket id. It returns the Pusher
// code to refuse c with (0 when accepted).
func (h *Hub) register(c *conn, cfg *config) int {
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	if h.closed {
		return CodeReconnect
	}
	if cfg.MaxConnsPerTenant > 0 && h.perTenant[c.tenant] >= cfg.MaxConnsPerTenant {
		return CodeOverQuota
	}
	c.id = h.newSocketIDLocked()
	h.conns[c.id] = c
	h.perTenant[c.tenant]++
	if d := h.socketDirectory(); d != nil {
		d.Add(c.id, c.tenant) // before the handshake: known cluster-wide first
	}
	// Added under connsMu, so never concurrently with Close's Wait from
	// zero: the reader's count. Writers come and go (conn.startWriter).
	h.wg.Add(1)
	h.noteTimeoutsLocked(c)
	h.nConns.Add(1)
	cfg.Observer.Connections(1)
	if act := cfg.Activity; act != nil {
		act.Note(ActivityEvent{Kind: ActConnected, Tenant: c.tenant, SocketID: c.id})
	}
	return 0
}

// unsubscribeAll removes all of c's subscriptions.
func (h *Hub) unsubscribeAll(c *conn) {
	for name := range c.channels {
		h.removeSub(c, chanKey{c.tenant, name})
	}
	c.channels = nil
}

// unregister removes c and all its subscriptions. Called once, by c's reader.
func (h *Hub) unregister(c *conn) {
	h.unsubscribeAll(c)
	h.connsMu.Lock()
	delete(h.conns, c.id)
	if d := h.socketDirectory(); d != nil {
		d.Remove(c.id)
	}
	if n := h.perTenant[c.tenant] - 1; n > 0 {
		h.perTenant[c.tenant] = n
	} else {
		delete(h.perTenant, c.tenant)
	}
	h.connsMu.Unlock()
	h.nConns.Add(-1)
	cfg := h.cfg.Load()
	cfg.Observer.Connections(-1)
	if act := cfg.Activity; act != nil {
		act.Note(ActivityEvent{Kind: ActDisconnected, Tenant: c.tenant, SocketID: c.id})
	}
}

// Close closes every socket with 4200 ("server shutting down, reconnect")
// and waits up to DefaultCloseWait for their goroutines. Publish and
// ServeWebSocket do nothing after Close. Idempotent.
func (h *Hub) Close() {
	h.closeOnce.Do(func() {
		h.connsMu.Lock()
		h.closed = true
		h.isClosed.Store(true)
		if h.sweepStop != nil {
			close(h.sweepStop)
		}
		conns := make([]*conn, 0, len(h.conns))
		for _, c := range h.conns {
			conns = append(conns, c)
		}
		h.connsMu.Unlock()
		for _, c := range conns {
			c.stop(CodeReconnect, "server shutting down, reconnect")
		}
		done := make(chan struct{})
		go func() { h.wg.Wait(); close(done) }()
		t := time.NewTimer(DefaultCloseWait)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			h.cfg.Load().Logger.Warn("realtime: sockets still closing after the close wait",
				zap.Int("connections", h.Connections()), zap.Duration("waited", DefaultCloseWait))
		}
	})
}
