package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/pusher"
)

// ---- the subscriber load generator (bench -role=subscribers), its own process ----
//
// One generator speaks one protocol: "pusher" (recordsync's, Pusher
// Channels protocol v7 as pusher-js speaks it) or "centrifugo" (Centrifugo's
// JSON protocol over websocket: connect with a JWT, subscribe, read
// publications; centrifugo.go). Both record every delivery with the time it
// was read, and match it against the publish times the orchestrator sends on
// stdin, so both systems are measured the same way: receive time in the
// generator − the time just before the publish request was sent.
//
// Layouts: every socket on one channel (fan-out, section 4–5), or the
// realistic shape (section 8): each socket on a record channel, a list
// channel and a presence channel (shapePlan).

// genSpec says what the generator's sockets do. It travels to the child
// process as flags (genFlags).
type genSpec struct {
	Proto string // "pusher" or "centrifugo"
	URLs  []string
	N     int
	// Channel: every socket subscribes to it (the fan-out layout).
	Channel string
	// Shape, when Records > 0: the realistic layout instead of Channel.
	Shape shapePlan
	// Key and Secret: pusher's app key and secret (the bench signs the
	// subscriptions); centrifugo: Secret is the connection tokens' HMAC key.
	Key, Secret string
	// Silent sockets subscribe to Channel and to SilentChannel and never
	// read again (section 7; pusher only).
	Silent        int
	SilentChannel string
}

// args are the child's command line flags for spec.
func (s genSpec) args() []string {
	return []string{"-role=subscribers", "-proto", s.Proto, "-url", strings.Join(s.URLs, ","),
		"-n", strconv.Itoa(s.N), "-channel", s.Channel, "-key", s.Key, "-secret", s.Secret,
		"-silent", strconv.Itoa(s.Silent), "-silent-channel", s.SilentChannel,
		"-shape", fmt.Sprintf("%d,%d", s.Shape.Records, s.Shape.PerList)}
}

// genSpecFrom is the genSpec of the child's flags (args).
func genSpecFrom(proto, urls string, n int, channel, key, secret string, silent int, silentChannel, shape string) genSpec {
	s := genSpec{Proto: proto, URLs: strings.Split(urls, ","), N: n, Channel: channel, Key: key, Secret: secret,
		Silent: silent, SilentChannel: silentChannel}
	if s.Proto == "" {
		s.Proto = "pusher"
	}
	fmt.Sscanf(shape, "%d,%d", &s.Shape.Records, &s.Shape.PerList)
	return s
}

// shapePlan is the realistic layout: Records records in lists of PerList
// (record r is in list (r-1)/PerList + 1); socket i watches record
// 1 + i mod Records: its record channel, its list's channel and the
// record's presence channel, as user i+1.
type shapePlan struct {
	Records, PerList int
}

func (p shapePlan) on() bool { return p.Records > 0 && p.PerList > 0 }

// record is socket i's record; list is record r's list.
func (p shapePlan) record(i int) int { return 1 + i%p.Records }
func (p shapePlan) list(r int) int   { return (r-1)/p.PerList + 1 }

// Lists is how many lists the records fill.
func (p shapePlan) Lists() int { return (p.Records + p.PerList - 1) / p.PerList }

// The shape's channel names. recordsync: the record channel and list
// channel a `record projecttask ... { list project.{project} ... }` route
// publishes on, and a presence channel on the record (as the browser kit
// joins one). Centrifugo: one namespace per kind (centrifugoConfig).
func shapeChannels(proto string, rec, list int) []string {
	if proto == "centrifugo" {
		return []string{fmt.Sprintf("rec:projecttask.%d", rec), fmt.Sprintf("list:project.%d", list), fmt.Sprintf("pres:projecttask.%d", rec)}
	}
	return []string{fmt.Sprintf("private-record.projecttask.%d", rec), fmt.Sprintf("private-project.%d", list), fmt.Sprintf("presence-record.projecttask.%d", rec)}
}

type delivery struct {
	key string // the version, or "<record id>/<version>" in the shape
	at  int64  // unix nanos
}

type subConn struct {
	group  int // index of the URL the socket connected to
	record int // the shape: the socket's record
	mu     sync.Mutex
	recs   []delivery
}

func (c *subConn) add(d delivery) {
	c.mu.Lock()
	c.recs = append(c.recs, d)
	c.mu.Unlock()
}

// take returns the deliveries recorded so far and starts a new list.
func (c *subConn) take() []delivery {
	c.mu.Lock()
	r := c.recs
	c.recs = nil
	c.mu.Unlock()
	return r
}

// fanStats is what the generator reports back (JSON on one stdout line).
type fanStats struct {
	Connected   int     `json:"connected"`   // the reading sockets
	Silent      int     `json:"silent"`      // the sockets that never read
	FrameBytes  int     `json:"frame_bytes"` // the size of a record.updated message as received
	Failed      int     `json:"failed"`
	FirstError  string  `json:"first_error,omitempty"`
	ConnectSecs float64 `json:"connect_secs"`
	Expected    int     `json:"expected"`
	Delivered   int     `json:"delivered"`
	Unknown     int     `json:"unknown"`
	Closed      int     `json:"closed"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	Maxms       float64 `json:"max_ms"`
	// MsgsPerSec is the median over publishes of subscribers / (last
	// delivery − publish time) (the one-channel layout).
	MsgsPerSec float64 `json:"msgs_per_sec"`
	CPUSecs    float64 `json:"cpu_secs"` // the generator's own CPU during publishes
	// Groups are the same figures per URL (per instance), when the
	// sockets were spread over several.
	Groups []groupStats `json:"groups,omitempty"`
}

// groupStats is the latency of the sockets of one URL.
type groupStats struct {
	URL       string  `json:"url"`
	Connected int     `json:"connected"`
	Delivered int     `json:"delivered"`
	Expected  int     `json:"expected"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	Maxms     float64 `json:"max_ms"`
}

// percentiles of sorted latencies (nanoseconds) in ms.
func percentiles(lats []int64) (p50, p99, max float64) {
	if len(lats) == 0 {
		return 0, 0, 0
	}
	pct := func(p float64) float64 { return float64(lats[int(p*float64(len(lats)-1))]) / 1e6 }
	return pct(0.50), pct(0.99), float64(lats[len(lats)-1]) / 1e6
}

// Where a record event's version and record id are, in each protocol's
// frames: recordsync's data is a JSON string inside the Pusher frame
// (escaped quotes), Centrifugo's publication data is JSON as published.
var (
	versionMarker  = []byte(`updated_at_iso\":\"`)
	recordIDMarker = []byte(`record_id\":`)
	centVersionM   = []byte(`"updated_at_iso":"`)
	centRecordIDM  = []byte(`"record_id":`)
)

// recordKey reads a record event's version (and with withID its record
// id) from a frame; ok is false for any other frame.
func recordKey(b []byte, centrifugo, withID bool) (string, bool) {
	verM, idM, end := versionMarker, recordIDMarker, []byte(`\"`)
	if centrifugo {
		verM, idM, end = centVersionM, centRecordIDM, []byte(`"`)
	}
	j := bytes.Index(b, verM)
	if j < 0 {
		return "", false
	}
	rest := b[j+len(verM):]
	k := bytes.Index(rest, end)
	if k <= 0 {
		return "", false
	}
	version := string(rest[:k])
	if !withID {
		return version, true
	}
	j = bytes.Index(b, idM)
	if j < 0 {
		return "", false
	}
	id := b[j+len(idM):]
	n := 0
	for n < len(id) && id[n] >= '0' && id[n] <= '9' {
		n++
	}
	if n == 0 {
		return "", false
	}
	return string(id[:n]) + "/" + version, true
}

// runSubscribers opens spec.N sockets spread round-robin over spec.URLs,
// each reading and timing what it receives. Then it opens spec.Silent more
// that subscribe to the channel and to spec.SilentChannel and never read
// again (a frozen tab: section 7, slow consumers).
//
// It prints "READY <connected> <failed> <first error>", then reads phases
// from stdin: "PUB <key> <unix nanos>" lines, one per publish, then "END",
// after which it prints "RESULT <json>" with the phase's fanStats (the
// deliveries recorded since the previous END); until stdin closes.
func runSubscribers(spec genSpec) error {
	urls := spec.URLs
	n := spec.N
	shape := spec.Shape.on()
	cent := spec.Proto == "centrifugo"
	conns := make([]*subConn, n)
	var connected, failed, closed, frameBytes atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			url := urls[i%len(urls)]
			channels := []string{spec.Channel}
			rec := 0
			if shape {
				rec = spec.Shape.record(i)
				channels = shapeChannels(spec.Proto, rec, spec.Shape.list(rec))
			}
			user := strconv.Itoa(i + 1)
			var ws *websocket.Conn
			var err error
			if cent {
				ws, err = dialCentrifugo(url, spec.Secret, "u"+user, channels)
			} else {
				ws, err = dialPusher(url, spec.Key, spec.Secret, user, channels)
			}
			<-sem
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			connected.Add(1)
			sc := &subConn{group: i % len(urls), record: rec}
			conns[i] = sc
			go func() {
				for {
					_, b, err := ws.Read(context.Background())
					at := time.Now().UnixNano()
					if err != nil {
						closed.Add(1)
						return
					}
					if cent {
						// Centrifugo may put several replies in one
						// frame, one per line; {} is its ping.
						for len(b) > 0 {
							line := b
							if k := bytes.IndexByte(b, '\n'); k >= 0 {
								line, b = b[:k], b[k+1:]
							} else {
								b = nil
							}
							if string(line) == "{}" {
								ws.Write(context.Background(), websocket.MessageText, []byte("{}"))
								continue
							}
							if key, ok := recordKey(line, true, shape); ok {
								frameBytes.CompareAndSwap(0, int64(len(line)))
								sc.add(delivery{key, at})
							}
						}
						continue
					}
					if key, ok := recordKey(b, false, shape); ok {
						frameBytes.CompareAndSwap(0, int64(len(b)))
						sc.add(delivery{key, at})
						continue
					}
					if bytes.Contains(b, []byte(`"pusher:ping"`)) {
						ws.Write(context.Background(), websocket.MessageText, []byte(`{"event":"pusher:pong","data":{}}`))
					}
				}
			}()
		}(i)
	}
	wg.Wait()
	// The silent sockets: subscribed, never read. Kept referenced so that
	// nothing closes them; the server is the one to drop them.
	var silents []*websocket.Conn
	for i := 0; i < spec.Silent; i++ {
		ws, err := dialSubscribe(urls[i%len(urls)], spec.Channel, spec.Key, spec.Secret, spec.SilentChannel)
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, "silent: "+err.Error())
			continue
		}
		silents = append(silents, ws)
	}
	connectSecs := time.Since(start).Seconds()
	fe, _ := firstErr.Load().(string)
	fmt.Printf("READY %d %d %s\n", connected.Load(), failed.Load(), strconv.Quote(fe))

	// How many sockets get each record's events (the shape): its record
	// channel's and its list channel's.
	var recSubs, listSubs map[int]int
	if shape {
		recSubs, listSubs = map[int]int{}, map[int]int{}
		for _, c := range conns {
			if c != nil {
				recSubs[c.record]++
				listSubs[spec.Shape.list(c.record)]++
			}
		}
	}

	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for {
		cpu0 := cpuTicks(os.Getpid())
		sent := map[string]int64{}
		var order []string
		ended := false
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 1 && f[0] == "END" {
				ended = true
				break
			}
			if len(f) == 3 && f[0] == "PUB" {
				t, _ := strconv.ParseInt(f[2], 10, 64)
				sent[f[1]] = t
				order = append(order, f[1])
			}
		}
		if !ended {
			return nil
		}
		st := fanStats{Connected: int(connected.Load()), Silent: len(silents), Failed: int(failed.Load()), FirstError: fe,
			ConnectSecs: connectSecs, Expected: int(connected.Load()) * len(order),
			CPUSecs: float64(cpuTicks(os.Getpid())-cpu0) / ticksPerSecond}
		if shape {
			st.Expected = 0
			for _, k := range order {
				id, _ := strconv.Atoi(k[:strings.IndexByte(k, '/')])
				st.Expected += recSubs[id] + listSubs[spec.Shape.list(id)]
			}
		}
		var lats []int64
		glats := make([][]int64, len(urls))
		gconn := make([]int, len(urls))
		last := map[string]int64{}
		count := map[string]int{}
		for _, c := range conns {
			if c == nil {
				continue
			}
			gconn[c.group]++
			for _, d := range c.take() {
				t0, ok := sent[d.key]
				if !ok {
					st.Unknown++
					continue
				}
				st.Delivered++
				lats = append(lats, d.at-t0)
				glats[c.group] = append(glats[c.group], d.at-t0)
				if d.at > last[d.key] {
					last[d.key] = d.at
				}
				count[d.key]++
			}
		}
		st.Closed = int(closed.Load())
		st.FrameBytes = int(frameBytes.Load())
		sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
		st.P50ms, st.P99ms, st.Maxms = percentiles(lats)
		if len(urls) > 1 {
			for g, u := range urls {
				gl := glats[g]
				sort.Slice(gl, func(i, j int) bool { return gl[i] < gl[j] })
				gs := groupStats{URL: u, Connected: gconn[g], Delivered: len(gl)}
				if !shape {
					gs.Expected = gconn[g] * len(order)
				}
				gs.P50ms, gs.P99ms, gs.Maxms = percentiles(gl)
				st.Groups = append(st.Groups, gs)
			}
		}
		if !shape {
			var rates []float64
			for _, v := range order {
				if span := last[v] - sent[v]; span > 0 && count[v] > 0 {
					rates = append(rates, float64(count[v])/(float64(span)/1e9))
				}
			}
			st.MsgsPerSec = median(rates)
		}
		b, _ := json.Marshal(st)
		fmt.Printf("RESULT %s\n", b)
		os.Stdout.Sync()
	}
}

// dialSubscribe connects to url and subscribes to channel, then to each of
// more (public channels), waiting for each subscription to succeed.
func dialSubscribe(url, channel, key, secret string, more ...string) (*websocket.Conn, error) {
	return dialPusher(url, key, secret, "", append([]string{channel}, more...))
}

// dialPusher connects to a Pusher-protocol websocket at url and subscribes
// to channels one by one, waiting for each to succeed; private channels are
// signed with key and secret as the app's auth endpoint would sign them,
// presence channels with channel_data for user (user_id, user_info.name).
func dialPusher(url, key, secret, user string, channels []string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	socketID, err := pusherEstablished(ctx, ws)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	for _, ch := range channels {
		sub := map[string]any{"channel": ch}
		switch {
		case strings.HasPrefix(ch, "presence-"):
			cd := fmt.Sprintf(`{"user_id":%q,"user_info":{"name":"User %s"}}`, user, user)
			sub["auth"] = pusher.ChannelAuth(key, secret, socketID, ch, cd)
			sub["channel_data"] = cd
		case strings.HasPrefix(ch, "private-"):
			sub["auth"] = pusher.ChannelAuth(key, secret, socketID, ch, "")
		}
		if err := pusherSubscribe(ctx, ws, sub); err != nil {
			ws.CloseNow()
			return nil, err
		}
	}
	return ws, nil
}

// pusherEstablished reads pusher:connection_established and returns the
// socket id.
func pusherEstablished(ctx context.Context, ws *websocket.Conn) (string, error) {
	_, b, err := ws.Read(ctx)
	if err != nil {
		return "", err
	}
	var f struct {
		Event string `json:"event"`
		Data  string `json:"data"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Event != "pusher:connection_established" {
		return "", fmt.Errorf("first frame %q", b)
	}
	var est struct {
		SocketID string `json:"socket_id"`
	}
	json.Unmarshal([]byte(f.Data), &est)
	return est.SocketID, nil
}

// pusherSubscribe sends pusher:subscribe with data sub and reads until the
// subscription succeeded (other frames, e.g. presence members, are
// skipped).
func pusherSubscribe(ctx context.Context, ws *websocket.Conn, sub map[string]any) error {
	msg, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": sub})
	if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
		return err
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("pusher_internal:subscription_succeeded")) {
			return nil
		}
		if bytes.Contains(b, []byte("subscription_error")) || bytes.Contains(b, []byte("pusher:error")) {
			return fmt.Errorf("subscribe %v: %s", sub["channel"], b)
		}
	}
}
