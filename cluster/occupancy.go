package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recordsync/recordsync/realtime"
)

// Occupancy is realtime.Occupancy over the cluster's Redis: which instances
// hold each channel (a subscriber there) and each presence member (a
// socket of that user there), so that the webhooks report a channel
// occupied when its first subscriber anywhere arrives and vacated when
// its last one anywhere leaves, once, whichever instances they are on.
//
// Keys, under Key("occ"):
//
//   - occ:s:{field}: a SET of the instances holding one state, where field
//     is "c:" tenant ":" channel or "m:" tenant ":" channel ":" user, each
//     part query-escaped (as RecordKey's);
//   - occ:x:{instance}: a HASH of the states an instance holds (field →
//     its signature), so that the others can let them go when it dies;
//   - occ:i: a ZSET of the instances by the time (Redis's TIME, ms) they
//     last said they were alive.
//
// Every change is a Lua script, atomic: the instance whose SADD makes a
// SET's SCARD 1, or whose SREM makes it 0, is the one that reports it.
// Each call also refreshes the instance's time; Sweep (every fifth of the
// timeout) lets go of the states of the instances silent for longer than
// the timeout, in one script, so that only the instance that ran it
// reports what they held alone. The scripts name keys they compute, so
// this needs a single Redis (or a primary with replicas), not Redis
// Cluster, as the rest of the cluster does.
//
// What a swept instance held is read back from Redis and reported to the
// app: each index entry carries an HMAC of its field under the cluster's
// occupancy key, and one without it, or over maxOccupancyField, is dropped
// (Observer.Dropped(DroppedOccupancy, ...)), never reported.
type Occupancy struct {
	c         *Cluster
	timeout   time.Duration
	zset      string
	setPrefix string
	idxPrefix string
}

// maxOccupancyField bounds a field read back from Redis: a tenant, a
// channel (200) and a user id (pusher.MaxUserIDLength), escaped.
const maxOccupancyField = 4 << 10

// occupancyChunk bounds the changes of one script call (a resync of a
// large instance is several calls).
const occupancyChunk = 2000

// maxSweptPerCall bounds the silent instances one Sweep lets go of.
const maxSweptPerCall = 8

// NewOccupancy makes the Occupancy of this instance in c; timeout is how
// long an instance may stay silent before the others let go of what it
// held (0: DefaultInstanceTimeout).
func NewOccupancy(c *Cluster, timeout time.Duration) *Occupancy {
	if timeout <= 0 {
		timeout = DefaultInstanceTimeout
	}
	base := c.Key("occ")
	return &Occupancy{c: c, timeout: timeout, zset: base + ":i", setPrefix: base + ":s:", idxPrefix: base + ":x:"}
}

// Every is how often Sweep is to be called: a fifth of the timeout.
func (o *Occupancy) Every() time.Duration { return o.timeout / 5 }

var occupancyApply = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fresh = redis.call('ZADD', KEYS[1], now, ARGV[1])
local changed = {}
local n = 0
for i = 3, #ARGV, 2 do
  local op = string.sub(ARGV[i], 1, 1)
  local field = string.sub(ARGV[i], 2)
  local key = ARGV[2] .. field
  if op == '+' then
    if redis.call('SADD', key, ARGV[1]) == 1 then
      redis.call('HSET', KEYS[2], field, ARGV[i + 1])
      if redis.call('SCARD', key) == 1 then changed[#changed + 1] = n end
    end
  else
    if redis.call('SREM', key, ARGV[1]) == 1 then
      redis.call('HDEL', KEYS[2], field)
      if redis.call('SCARD', key) == 0 then changed[#changed + 1] = n end
    end
  end
  n = n + 1
end
return {fresh, changed}
`)

// letGo is the Lua function of Sweep and Leave: it removes instance inst
// from the SETs of its index and returns the fields (with their
// signatures) whose SET it left empty.
const letGo = `
local function letgo(inst, setPrefix, idxPrefix, maxField, gone)
  local idx = idxPrefix .. inst
  local all = redis.call('HGETALL', idx)
  for j = 1, #all, 2 do
    local field = all[j]
    local key = setPrefix .. field
    if redis.call('SREM', key, inst) == 1 and redis.call('SCARD', key) == 0 then
      if #field <= maxField then
        gone[#gone + 1] = field
        gone[#gone + 1] = all[j + 1]
      else
        gone[#gone + 1] = ''
        gone[#gone + 1] = ''
      end
    end
  end
  redis.call('DEL', idx)
  redis.call('ZREM', KEYS[1], inst)
end
`

var occupancySweep = redis.NewScript(letGo + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fresh = redis.call('ZADD', KEYS[1], now, ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[4]), 'LIMIT', 0, tonumber(ARGV[6]))
local gone = {}
for _, inst in ipairs(dead) do
  if inst ~= ARGV[1] then letgo(inst, ARGV[2], ARGV[3], tonumber(ARGV[5]), gone) end
end
return {fresh, gone}
`)

var occupancyLeave = redis.NewScript(letGo + `
local gone = {}
letgo(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), gone)
return gone
`)

// field is a state's field: "c:" tenant ":" channel, or "m:" tenant ":"
// channel ":" user.
func occupancyField(ch realtime.StateChange) string {
	if ch.UserID == "" {
		return "c:" + url.QueryEscape(ch.Tenant) + ":" + url.QueryEscape(ch.Channel)
	}
	return "m:" + url.QueryEscape(ch.Tenant) + ":" + url.QueryEscape(ch.Channel) + ":" + url.QueryEscape(ch.UserID)
}

// parseOccupancyField reads a field back (a state let go: Held false).
func parseOccupancyField(field string) (realtime.StateChange, bool) {
	parts := strings.Split(field, ":")
	var ch realtime.StateChange
	var err error
	unescape := func(s string, dst *string) {
		if err == nil {
			*dst, err = url.QueryUnescape(s)
		}
	}
	switch {
	case len(parts) == 3 && parts[0] == "c":
		unescape(parts[1], &ch.Tenant)
		unescape(parts[2], &ch.Channel)
	case len(parts) == 4 && parts[0] == "m":
		unescape(parts[1], &ch.Tenant)
		unescape(parts[2], &ch.Channel)
		unescape(parts[3], &ch.UserID)
		if ch.UserID == "" {
			return ch, false
		}
	default:
		return ch, false
	}
	return ch, err == nil && ch.Channel != ""
}

// Apply records changes as this instance's (realtime.Occupancy).
func (o *Occupancy) Apply(ctx context.Context, changes []realtime.StateChange) (changed []int, fresh bool, err error) {
	for start := 0; start < len(changes) || start == 0; start += occupancyChunk {
		chunk := changes[start:min(start+occupancyChunk, len(changes))]
		args := make([]any, 0, 2+2*len(chunk))
		args = append(args, o.c.instance, o.setPrefix)
		for _, ch := range chunk {
			f := occupancyField(ch)
			op := "-"
			if ch.Held {
				op = "+"
			}
			args = append(args, op+f, mac(o.c.keys.occupancy, f))
		}
		res, err := occupancyApply.Run(ctx, o.c.client, []string{o.zset, o.idxPrefix + o.c.instance}, args...).Slice()
		if err != nil {
			return changed, fresh, fmt.Errorf("occupancy: %w", err)
		}
		f, idx, err := freshAnd(res)
		if err != nil {
			return changed, fresh, err
		}
		fresh = fresh || f
		for _, v := range idx {
			n, ok := v.(int64)
			if !ok || n < 0 || int(n) >= len(chunk) {
				return changed, fresh, errors.New("occupancy: malformed answer")
			}
			changed = append(changed, start+int(n))
		}
		if len(changes) == 0 {
			break
		}
	}
	return changed, fresh, nil
}

// Sweep keeps this instance alive and lets go of the instances silent for
// longer than the timeout (realtime.Occupancy).
func (o *Occupancy) Sweep(ctx context.Context) (gone []realtime.StateChange, fresh bool, err error) {
	res, err := occupancySweep.Run(ctx, o.c.client, []string{o.zset},
		o.c.instance, o.setPrefix, o.idxPrefix, o.timeout.Milliseconds(), maxOccupancyField, maxSweptPerCall).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("occupancy: %w", err)
	}
	fresh, list, err := freshAnd(res)
	if err != nil {
		return nil, fresh, err
	}
	return o.readGone(list), fresh, nil
}

// Leave lets go of everything this instance holds (realtime.Occupancy).
func (o *Occupancy) Leave(ctx context.Context) ([]realtime.StateChange, error) {
	list, err := occupancyLeave.Run(ctx, o.c.client, []string{o.zset},
		o.c.instance, o.setPrefix, o.idxPrefix, maxOccupancyField).Slice()
	if err != nil {
		return nil, fmt.Errorf("occupancy: %w", err)
	}
	return o.readGone(list), nil
}

// freshAnd reads {fresh, list}.
func freshAnd(res []any) (fresh bool, list []any, err error) {
	if len(res) != 2 {
		return false, nil, errors.New("occupancy: malformed answer")
	}
	n, ok := res[0].(int64)
	if !ok {
		return false, nil, errors.New("occupancy: malformed answer")
	}
	list, _ = res[1].([]any) // an empty Lua table is an empty array
	return n == 1, list, nil
}

// readGone turns field, signature pairs into states let go, dropping (and
// counting) what is not signed with the cluster's key; members come
// before their channels.
func (o *Occupancy) readGone(list []any) []realtime.StateChange {
	var gone []realtime.StateChange
	for i := 0; i+1 < len(list); i += 2 {
		field, _ := list[i].(string)
		sig, _ := list[i+1].(string)
		if field == "" {
			o.c.obs.Dropped(DroppedOccupancy, ReasonOversized)
			continue
		}
		if !validMAC(o.c.keys.occupancy, sig, field) {
			o.c.obs.Dropped(DroppedOccupancy, ReasonUnauthenticated)
			continue
		}
		ch, ok := parseOccupancyField(field)
		if !ok {
			o.c.obs.Dropped(DroppedOccupancy, ReasonMalformed)
			continue
		}
		gone = append(gone, ch)
	}
	slices.SortStableFunc(gone, func(a, b realtime.StateChange) int {
		switch {
		case a.UserID != "" && b.UserID == "":
			return -1
		case a.UserID == "" && b.UserID != "":
			return 1
		}
		return 0
	})
	return gone
}

// Interface guard
var _ realtime.Occupancy = (*Occupancy)(nil)
