package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/internal/harness"
	"github.com/recordsync/recordsync/pusher"
)

// ---- the subscriber load generator (bench -role=subscribers), its own process ----

type delivery struct {
	version string
	at      int64 // unix nanos
}

type subConn struct {
	group int // index of the URL the socket connected to
	mu    sync.Mutex
	recs  []delivery
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
	// delivery − publish time).
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

var versionMarker = []byte(`updated_at_iso\":\"`)

// runSubscribers opens n sockets spread round-robin over the
// comma-separated urls, each reading and timing what it receives. Then it
// opens silent more that subscribe to channel and to silentChannel and never
// read again (a frozen tab: section 7, slow consumers).
func runSubscribers(urlList string, n int, channel, key, secret string, silent int, silentChannel string) error {
	urls := strings.Split(urlList, ",")
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
			ws, err := dialSubscribe(urls[i%len(urls)], channel, key, secret)
			<-sem
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			connected.Add(1)
			sc := &subConn{group: i % len(urls)}
			conns[i] = sc
			go func() {
				for {
					_, b, err := ws.Read(context.Background())
					at := time.Now().UnixNano()
					if err != nil {
						closed.Add(1)
						return
					}
					if j := bytes.Index(b, versionMarker); j >= 0 {
						frameBytes.CompareAndSwap(0, int64(len(b)))
						rest := b[j+len(versionMarker):]
						if k := bytes.Index(rest, []byte(`\"`)); k > 0 {
							sc.mu.Lock()
							sc.recs = append(sc.recs, delivery{string(rest[:k]), at})
							sc.mu.Unlock()
						}
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
	for i := 0; i < silent; i++ {
		ws, err := dialSubscribe(urls[i%len(urls)], channel, key, secret, silentChannel)
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

	// Publishes arrive on stdin as "PUB <version> <unix nanos>", then "END".
	cpu0 := cpuTicks(os.Getpid())
	sent := map[string]int64{}
	var order []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 1 && f[0] == "END" {
			break
		}
		if len(f) == 3 && f[0] == "PUB" {
			t, _ := strconv.ParseInt(f[2], 10, 64)
			sent[f[1]] = t
			order = append(order, f[1])
		}
	}
	st := fanStats{Connected: int(connected.Load()), Silent: len(silents), Failed: int(failed.Load()), FirstError: fe,
		ConnectSecs: connectSecs, Expected: int(connected.Load()) * len(order),
		CPUSecs: float64(cpuTicks(os.Getpid())-cpu0) / ticksPerSecond}
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
		c.mu.Lock()
		for _, d := range c.recs {
			t0, ok := sent[d.version]
			if !ok {
				st.Unknown++
				continue
			}
			st.Delivered++
			lats = append(lats, d.at-t0)
			glats[c.group] = append(glats[c.group], d.at-t0)
			if d.at > last[d.version] {
				last[d.version] = d.at
			}
			count[d.version]++
		}
		c.mu.Unlock()
	}
	st.Closed = int(closed.Load())
	st.FrameBytes = int(frameBytes.Load())
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	st.P50ms, st.P99ms, st.Maxms = percentiles(lats)
	if len(urls) > 1 {
		for g, u := range urls {
			gl := glats[g]
			sort.Slice(gl, func(i, j int) bool { return gl[i] < gl[j] })
			gs := groupStats{URL: u, Connected: gconn[g], Delivered: len(gl), Expected: gconn[g] * len(order)}
			gs.P50ms, gs.P99ms, gs.Maxms = percentiles(gl)
			st.Groups = append(st.Groups, gs)
		}
	}
	var rates []float64
	for _, v := range order {
		if span := last[v] - sent[v]; span > 0 && count[v] > 0 {
			rates = append(rates, float64(count[v])/(float64(span)/1e9))
		}
	}
	st.MsgsPerSec = median(rates)
	b, _ := json.Marshal(st)
	fmt.Printf("RESULT %s\n", b)
	os.Stdout.Sync()
	return nil
}

// dialSubscribe connects to url and subscribes to channel, then to each of
// more (public channels), waiting for each subscription to succeed.
func dialSubscribe(url, channel, key, secret string, more ...string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	_, b, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	var f struct {
		Event string `json:"event"`
		Data  string `json:"data"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Event != "pusher:connection_established" {
		ws.CloseNow()
		return nil, fmt.Errorf("first frame %q", b)
	}
	var est struct {
		SocketID string `json:"socket_id"`
	}
	json.Unmarshal([]byte(f.Data), &est)
	for _, ch := range append([]string{channel}, more...) {
		if err := subscribe(ctx, ws, est.SocketID, ch, key, secret); err != nil {
			ws.CloseNow()
			return nil, err
		}
	}
	return ws, nil
}

// subscribe sends pusher:subscribe for ch (signed when private) and reads
// until the subscription succeeded.
func subscribe(ctx context.Context, ws *websocket.Conn, socketID, ch, key, secret string) error {
	sub := map[string]any{"channel": ch}
	if strings.HasPrefix(ch, "private-") {
		sub["auth"] = pusher.ChannelAuth(key, secret, socketID, ch, "")
	}
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
			return fmt.Errorf("subscribe %s: %s", ch, b)
		}
	}
}

// ---- the orchestrating side ----

type fanResult struct {
	N             int
	Stats         fanStats
	RSSBeforeKB   int64 // summed over the instances
	RSSAfterKB    int64
	GorBefore     int
	GorAfter      int
	WSConnections float64
	KBPerConn     float64
	GorPerConn    float64
	CaddyCPU      float64 // CPU-seconds of Caddy (all instances) from the first publish to the end of delivery
	// Published and Encoded are the Caddy metrics
	// recordsync_events_published_total and
	// recordsync_ws_frames_encoded_total over the publishes (all instances).
	Published, Encoded float64
	// Instances is 1, or 2 for the cluster run (publishes through the
	// first, sockets spread over both); RedisCPU is the Redis server's
	// CPU-seconds during the publishes (cluster only).
	Instances int
	RedisCPU  float64
	Publishes int
	Err       string
}

// MsgPerCPU is deliveries per Caddy CPU-second during the publishes.
func (f *fanResult) MsgPerCPU() float64 {
	if f.CaddyCPU <= 0 {
		return 0
	}
	return float64(f.Stats.Delivered) / f.CaddyCPU
}

// runFanout starts a fresh Caddy with recordsync in front of the Go
// upstream and measures fan-out to n subscribers on it (fanoutOn).
func runFanout(self, caddyBin, workDir, site string, n, publishes int) fanResult {
	c, err := startCaddy(caddyBin, workDir, fmt.Sprintf("ws%d", n), site, nil)
	if err != nil {
		res := fanResult{N: n, Publishes: publishes, Instances: 1, Err: err.Error()}
		logf("  fan-out %d: %v", n, err)
		return res
	}
	defer c.Stop()
	return fanoutOn(self, []*caddy{c}, nil, n, publishes)
}

// fanoutOn connects n subscribers, spread over the instances cs, from a
// separate generator process, measures idle memory and goroutines, then
// makes publishes record saves (PUT through cs[0]) 250 ms apart and
// collects delivery latencies. redis, when set, is charged the Redis
// server's CPU.
func fanoutOn(self string, cs []*caddy, redis *harness.Redis, n, publishes int) fanResult {
	res := fanResult{N: n, Publishes: publishes, Instances: len(cs)}
	fail := func(err error) fanResult { res.Err = err.Error(); logf("  fan-out %d: %v", n, err); return res }
	c := cs[0]
	time.Sleep(1500 * time.Millisecond)
	var urls []string
	for _, ci := range cs {
		res.RSSBeforeKB += rssKB(ci.Pid())
		res.GorBefore += ci.goroutines()
		urls = append(urls, fmt.Sprintf("ws://127.0.0.1:%d/ws/app/%s", ci.HTTPPort, benchAppKey))
	}

	gen, err := startGenerator(self, urls, n, 0, "")
	if err != nil {
		return fail(err)
	}
	defer gen.Stop()
	ready, err := gen.readLine("READY ", 180*time.Second)
	if err != nil {
		return fail(err)
	}
	logf("  fan-out %d on %d instance(s): generator %s", n, len(cs), ready)
	time.Sleep(2 * time.Second)
	for _, ci := range cs {
		res.RSSAfterKB += rssKB(ci.Pid())
		res.GorAfter += ci.goroutines()
		res.WSConnections += ci.metric("recordsync_ws_connections", "")
	}
	if n > 0 {
		res.KBPerConn = float64(res.RSSAfterKB-res.RSSBeforeKB) / float64(n)
		res.GorPerConn = float64(res.GorAfter-res.GorBefore) / float64(n)
	}

	caddyTicks := func() int64 {
		var t int64
		for _, ci := range cs {
			t += cpuTicks(ci.Pid())
		}
		return t
	}
	metricSum := func(name string) float64 {
		var v float64
		for _, ci := range cs {
			v += ci.metric(name, "")
		}
		return v
	}
	pub0, enc0 := metricSum("recordsync_events_published_total"), metricSum("recordsync_ws_frames_encoded_total")
	cpu0 := caddyTicks()
	var redis0 int64
	if redis != nil {
		redis0 = cpuTicks(redis.Pid())
	}
	pubs, err := publishSaves(c, publishes, 250*time.Millisecond, nil)
	if err != nil {
		return fail(err)
	}
	time.Sleep(2 * time.Second)
	res.CaddyCPU = float64(caddyTicks()-cpu0) / ticksPerSecond
	res.Published = metricSum("recordsync_events_published_total") - pub0
	res.Encoded = metricSum("recordsync_ws_frames_encoded_total") - enc0
	if redis != nil {
		res.RedisCPU = float64(cpuTicks(redis.Pid())-redis0) / ticksPerSecond
	}
	out, err := gen.results(pubs)
	if err != nil {
		return fail(err)
	}
	res.Stats = out
	return res
}

// child is a running child process of the bench: the load generator
// (bench -role=subscribers) or one side of the floor (floor.go).
type child struct {
	*harness.Proc
	stdin io.WriteCloser
	lines chan string
}

// startGenerator starts the generator with n reading sockets spread over
// urls and silent sockets that subscribe to silentChannel too and never read.
func startGenerator(self string, urls []string, n, silent int, silentChannel string) (*child, error) {
	return startChild(self, "-role=subscribers", "-url", strings.Join(urls, ","),
		"-n", strconv.Itoa(n), "-channel", "private-record.flow.1", "-key", benchAppKey, "-secret", benchAppSecret,
		"-silent", strconv.Itoa(silent), "-silent-channel", silentChannel)
}

// startChild starts this binary with args (a -role) in its own process
// group, with a pipe to its stdin and its stdout read line by line (its
// stderr is its Output), and tracks it.
func startChild(self string, args ...string) (*child, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	p, err := harness.Start(harness.Options{Name: args[0], Stdin: inR, Stdout: outW, Group: true, Output: &harness.Output{Limit: 1 << 20}},
		append([]string{self}, args...)...)
	inR.Close() // the child's ends
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	track(p)
	go func() { <-p.Exited(); inW.Close() }()
	g := &child{Proc: p, stdin: inW, lines: make(chan string, 4)}
	go func() {
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			g.lines <- sc.Text()
		}
		close(g.lines)
	}()
	return g, nil
}

// readLine waits for the child's next line starting with prefix.
func (g *child) readLine(prefix string, timeout time.Duration) (string, error) {
	to := time.After(timeout)
	for {
		select {
		case l, ok := <-g.lines:
			if !ok {
				return "", fmt.Errorf("%s exited: %s", g.Name, harness.Tail(g.Output(), 2000))
			}
			if strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix), nil
			}
		case <-to:
			return "", fmt.Errorf("%s: no %q within %v", g.Name, prefix, timeout)
		}
	}
}

// results tells the load generator which versions were published when, and
// returns its statistics.
func (g *child) results(pubs []published) (fanStats, error) {
	var w strings.Builder
	for _, p := range pubs {
		fmt.Fprintf(&w, "PUB %s %d\n", p.version, p.at)
	}
	w.WriteString("END\n")
	io.WriteString(g.stdin, w.String())
	var st fanStats
	out, err := g.readLine("RESULT ", 120*time.Second)
	if err != nil {
		return st, err
	}
	err = json.Unmarshal([]byte(out), &st)
	g.stdin.Close()
	return st, err
}

// published is one save made by publishSaves: the version it produced and
// the time just before its PUT was sent (unix nanos).
type published struct {
	version string
	at      int64
}

// publishSaves makes n saves of the record flow 1 through c, gap apart;
// each is broadcast by recordsync as record.updated. after, when set, runs
// after each save.
func publishSaves(c *caddy, n int, gap time.Duration, after func()) ([]published, error) {
	var pubs []published
	tick := time.Now()
	for i := 0; i < n; i++ {
		body := fmt.Sprintf(`{"name":"Fan-out %d"}`, i)
		t0 := time.Now()
		st, _, rb, err := do("PUT", c.URL()+"/api/v1/flows/1", body)
		if err != nil || st != 200 {
			return nil, fmt.Errorf("publish PUT: %d %v %s", st, err, rb)
		}
		var r struct {
			Data struct {
				UpdatedAt string `json:"updated_at"`
			} `json:"data"`
		}
		json.Unmarshal([]byte(rb), &r)
		pubs = append(pubs, published{r.Data.UpdatedAt, t0.UnixNano()})
		if after != nil {
			after()
		}
		tick = tick.Add(gap)
		time.Sleep(time.Until(tick))
	}
	return pubs, nil
}
