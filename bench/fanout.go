package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/recordsync/recordsync/internal/harness"
)

// ---- the orchestrating side ----

// fanResult is one fan-out run of one system at one size.
type fanResult struct {
	// System is "recordsync" ("" in reports of earlier runs) or
	// "centrifugo"; Round is the A/B round it ran in.
	System        string `json:",omitempty"`
	Round         int
	N             int
	Stats         fanStats
	RSSBeforeKB   int64 // summed over the instances
	RSSAfterKB    int64
	GorBefore     int
	GorAfter      int
	WSConnections float64
	KBPerConn     float64
	GorPerConn    float64
	// MemBefore and MemAfter are the server's own Go metrics (heap and
	// stacks in use, goroutines) before connecting and once subscribed,
	// summed over the instances.
	MemBefore, MemAfter goMem
	// CaddyCPU is the server's CPU-seconds (Caddy, all instances; or
	// Centrifugo) from the first publish to the end of delivery.
	CaddyCPU float64
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

// sys is the system's name for tables ("recordsync" for runs that predate
// the field).
func (f *fanResult) sys() string {
	if f.System == "" {
		return "recordsync"
	}
	return f.System
}

// HeapKBPerConn is the growth of heap and stacks in use (the server's own
// metrics) per socket, in KB; 0 when not measured.
func (f *fanResult) HeapKBPerConn() float64 {
	if f.N == 0 || f.MemAfter.HeapInuse == 0 {
		return 0
	}
	return (f.MemAfter.HeapInuse + f.MemAfter.StackInuse - f.MemBefore.HeapInuse - f.MemBefore.StackInuse) / 1024 / float64(f.N)
}

// CPUPerMsgUS is server CPU per delivered message in microseconds.
func (f *fanResult) CPUPerMsgUS() float64 {
	if f.Stats.Delivered == 0 {
		return 0
	}
	return 1e6 * f.CaddyCPU / float64(f.Stats.Delivered)
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
	res := fanResult{System: "recordsync", N: n, Publishes: publishes, Instances: len(cs)}
	fail := func(err error) fanResult { res.Err = err.Error(); logf("  fan-out %d: %v", n, err); return res }
	c := cs[0]
	time.Sleep(1500 * time.Millisecond)
	var urls []string
	for _, ci := range cs {
		res.RSSBeforeKB += rssKB(ci.Pid())
		res.GorBefore += ci.goroutines()
		res.MemBefore.add(ci.goMem())
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
		res.MemAfter.add(ci.goMem())
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

// runCentFanout is runFanout's twin for Centrifugo: a fresh Centrifugo,
// n sockets of the bench's Centrifugo client on one channel (rec:flow.1),
// idle memory and goroutines (RSS, and its own metrics), then publishes
// publications of a record.updated-sized payload 250 ms apart through its
// HTTP API, timed from just before each request as recordsync's saves are.
func runCentFanout(self, bin, work string, n, publishes int) fanResult {
	res := fanResult{System: "centrifugo", N: n, Publishes: publishes, Instances: 1}
	fail := func(err error) fanResult {
		res.Err = err.Error()
		logf("  centrifugo fan-out %d: %v", n, err)
		return res
	}
	c, err := startCentrifugo(bin, work, fmt.Sprintf("fan%d", n))
	if err != nil {
		return fail(err)
	}
	defer c.Stop()
	time.Sleep(1500 * time.Millisecond)
	res.RSSBeforeKB = rssKB(c.Pid())
	if m, err := c.metrics(); err == nil {
		res.MemBefore = goMemOf(m)
		res.GorBefore = int(res.MemBefore.Goroutines)
	}
	gen, err := startGen(self, genSpec{Proto: "centrifugo", URLs: []string{c.WSURL()}, N: n, Channel: "rec:flow.1", Secret: centSecret})
	if err != nil {
		return fail(err)
	}
	defer gen.Stop()
	ready, err := gen.readLine("READY ", 180*time.Second)
	if err != nil {
		return fail(err)
	}
	logf("  centrifugo fan-out %d: generator %s", n, ready)
	time.Sleep(2 * time.Second)
	res.RSSAfterKB = rssKB(c.Pid())
	if m, err := c.metrics(); err == nil {
		res.MemAfter = goMemOf(m)
		res.GorAfter = int(res.MemAfter.Goroutines)
		res.WSConnections = sumMetric(m, "centrifugo_node_num_clients", "")
	}
	if n > 0 {
		res.KBPerConn = float64(res.RSSAfterKB-res.RSSBeforeKB) / float64(n)
		res.GorPerConn = float64(res.GorAfter-res.GorBefore) / float64(n)
	}
	cpu0 := cpuTicks(c.Pid())
	pubs, err := centPublishes(c, "rec:flow.1", publishes, 250*time.Millisecond)
	if err != nil {
		return fail(err)
	}
	time.Sleep(2 * time.Second)
	res.CaddyCPU = float64(cpuTicks(c.Pid())-cpu0) / ticksPerSecond
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

// startGenerator starts the recordsync generator with n reading sockets
// spread over urls, all on private-record.flow.1, and silent sockets that
// subscribe to silentChannel too and never read.
func startGenerator(self string, urls []string, n, silent int, silentChannel string) (*child, error) {
	return startGen(self, genSpec{Proto: "pusher", URLs: urls, N: n, Channel: "private-record.flow.1",
		Key: benchAppKey, Secret: benchAppSecret, Silent: silent, SilentChannel: silentChannel})
}

// startGen starts a generator process for spec.
func startGen(self string, spec genSpec) (*child, error) {
	return startChild(self, spec.args()...)
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
	st, err := g.phase(pubs)
	g.stdin.Close()
	return st, err
}

// phase is results without the end: the generator's sockets stay open for
// the next phase.
func (g *child) phase(pubs []published) (fanStats, error) {
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
