package realtime

import (
	"container/list"
	"sync"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// Cache channels (the Pusher docs, "Cache channels"; pusher.IsCacheChannel:
// cache-, private-cache-, presence-cache-, private-encrypted-cache-): the
// hub keeps the last event published on each one, per tenant, and sends it
// to a new subscriber right after pusher_internal:subscription_succeeded;
// a channel with none gets {"event":"pusher:cache_miss","channel":...}
// instead. pusher-js hands both to the channel's bind callbacks.
//
//   - What is kept: the last event that went through Publish or
//     PublishLocal (the HTTP API, the proxy's record events, Laravel's Redis
//     broadcasts, and the publishes of the other instances of a cluster),
//     whether or not anyone was subscribed. Client events are relayed on
//     cache channels as on any other and never kept (Pusher's rule: "we do
//     not cache client events"). A record event the dedupe drops as already
//     delivered is not kept either.
//   - Cluster: every instance keeps what the cluster's publishes bring it,
//     so the last event of a channel is known on every instance that was in
//     the cluster (its bus up) when it was published. An instance that
//     joins later, or whose bus was down then, answers cache_miss until the
//     next publish: the miss is the client's cue to fetch the state itself.
//   - Expiry: Options.CacheTTL after it was published (DefaultCacheTTL, 30
//     minutes, Pusher's "up to 30 minutes").
//   - Memory: at most Options.CacheMaxChannels channels and
//     Options.CacheMaxBytes bytes (frame, names and bookkeeping) across
//     tenants; past either, the channels published least recently are
//     forgotten first, each counted as Observer.Dropped(DropCacheEvicted).
//     An event larger than the whole budget is not kept (and the channel's
//     previous one is forgotten: it is no longer the last).
//   - A publish racing a new subscription can reach the subscriber and be
//     replayed to it too: the subscriber may get the last event twice, never
//     an older one after a newer one of the same publisher.

// Defaults of the cache channels' options.
const (
	DefaultCacheTTL         = 30 * time.Minute
	DefaultCacheMaxChannels = 10_000
	DefaultCacheMaxBytes    = 32 << 20
)

// DropCacheEvicted is the Observer.Dropped reason of a cache channel's last
// event forgotten before its expiry to keep the cache within
// CacheMaxChannels and CacheMaxBytes.
const DropCacheEvicted = "cache_evicted"

// cacheEntryOverhead is what an entry costs beyond its frame and names: the
// list element, the entry and its map slot, roughly.
const cacheEntryOverhead = 160

// eventCache is the cache channels' last events, least recently published
// at the back. Its zero value is ready. It is written under the channel's
// shard lock (publish) and read under it (replayCache), so that a
// subscription and a publish on one channel are ordered; mu guards the
// cache itself across shards. Lock order: shard, then mu.
type eventCache struct {
	mu      sync.Mutex
	entries map[chanKey]*list.Element
	order   list.List // of *cacheEntry, front: published last
	bytes   int64
}

type cacheEntry struct {
	key     chanKey
	frame   []byte
	size    int64
	expires int64 // hub.now()
}

// cacheEventLocked keeps ev as the last event of the cache channel k and
// returns its frame (the one subscribers get). k's shard lock is held.
func (h *Hub) cacheEventLocked(cfg *config, k chanKey, ev Event) []byte {
	frame := eventFrame(ev.Name, ev.Channel, ev.Data)
	evicted := h.cache.put(k, frame, h.now(), cfg.CacheTTL, cfg.CacheMaxChannels, cfg.CacheMaxBytes)
	for range evicted {
		cfg.Observer.Dropped(DropCacheEvicted)
	}
	return frame
}

// replayCache sends c, just subscribed to k, k's last event, or
// pusher:cache_miss when it has none; nothing when k is not a cache
// channel. Under k's shard lock: a publish either is kept before (and
// replayed) or delivers to c after.
func (h *Hub) replayCache(c *conn, k chanKey) {
	if !pusher.IsCacheChannel(k.name) {
		return
	}
	sh := h.shardFor(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	frame := h.cache.get(k, h.now())
	if frame == nil {
		frame = cacheMissFrame(k.name)
	}
	c.enqueue(frame)
}

// cacheMissFrame is {"event":"pusher:cache_miss","channel":c,"data":"{}"}.
func cacheMissFrame(channel string) []byte {
	return eventFrame("pusher:cache_miss", channel, nil)
}

// put keeps frame as k's last event until now+ttl, and returns how many
// entries it forgot before their expiry to stay within maxChannels and
// maxBytes (k's previous entry included when frame alone is over maxBytes).
func (ec *eventCache) put(k chanKey, frame []byte, now int64, ttl time.Duration, maxChannels int, maxBytes int64) (evicted int) {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	if ec.entries == nil {
		ec.entries = make(map[chanKey]*list.Element)
	}
	size := int64(len(frame)+len(k.tenant)+len(k.name)) + cacheEntryOverhead
	if el := ec.entries[k]; el != nil {
		ec.removeLocked(el)
	}
	// The expired ones first: the back was published first.
	for el := ec.order.Back(); el != nil && el.Value.(*cacheEntry).expires <= now; el = ec.order.Back() {
		ec.removeLocked(el)
	}
	if size > maxBytes {
		return 1
	}
	for ec.order.Len() > 0 && (ec.order.Len() >= maxChannels || ec.bytes+size > maxBytes) {
		ec.removeLocked(ec.order.Back())
		evicted++
	}
	e := &cacheEntry{key: k, frame: frame, size: size, expires: now + int64(ttl)}
	ec.entries[k] = ec.order.PushFront(e)
	ec.bytes += size
	return evicted
}

// get returns k's last event's frame, nil when there is none or it expired.
func (ec *eventCache) get(k chanKey, now int64) []byte {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	el := ec.entries[k]
	if el == nil {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if e.expires <= now {
		ec.removeLocked(el)
		return nil
	}
	return e.frame
}

// len returns the number of entries and their bytes.
func (ec *eventCache) len() (entries int, bytes int64) {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	return ec.order.Len(), ec.bytes
}

func (ec *eventCache) removeLocked(el *list.Element) {
	e := ec.order.Remove(el).(*cacheEntry)
	delete(ec.entries, e.key)
	ec.bytes -= e.size
}
