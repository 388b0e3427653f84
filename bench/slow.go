package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/recordsync/recordsync/internal/tcpqueue"
	"github.com/recordsync/recordsync/pusher"
)

// ---- section 7: slow consumers ----
//
// performance.md: "with 1% of subscribers not reading, the healthy ones' p99
// stays within 1.2× of the run without them, and the slow ones are
// disconnected within the write timeout; memory stays bounded by the queue
// cap". One Caddy; runs alternate between two variants, each with a fresh
// generator process:
//
//	A  healthy reading subscribers only (the baseline);
//	B  the same healthy subscribers plus silent ones (1% of all) that
//	   subscribe and never read, like a frozen tab.
//
// Loopback TCP buffers about 3 MB per socket before a server write blocks,
// so a silent socket costs nothing until its buffers are full. In B the
// silent sockets therefore also subscribe to a channel of their own, and the
// bench fills it (8 KB events through the Pusher HTTP API) until Caddy's
// send queue of every silent socket stops growing (/proc/net/tcp): from then
// on each silent socket's writer is stuck in a write, as a frozen tab's
// would be. Then the measured stream runs: the same saves, the same gaps, in
// A and B; and B waits for the server to drop the silent sockets.

// slowRun is one run of one variant.
type slowRun struct {
	Variant string
	Stats   fanStats
	// CaddyCPU is Caddy's CPU-seconds during the stream.
	CaddyCPU float64
	// RSSBeforeKB is Caddy's RSS before the generator connected,
	// RSSMaxKB the highest sample during the stream.
	RSSBeforeKB, RSSMaxKB int64
	// B only: the preload (events and how long until every silent socket's
	// buffers were full), when the server had dropped them all, counted
	// from the buffers being full, and how (queue overflow 4100 counted by
	// recordsync_slow_consumer_disconnects_total; the rest by the write
	// timeout).
	PreloadEvents   int
	PreloadSecs     float64
	DroppedAfter    float64
	AllDropped      bool
	Overflowed      float64
	StillOpenAtEnd  float64
	SilentTxQueueKB int64 // the largest silent socket's kernel send queue when full
	Err             string
}

// slowResult is the whole section.
type slowResult struct {
	Healthy, Silent int
	Publishes       int
	GapMs           int
	WriteTimeoutS   float64
	SendQueue       int
	Runs            []slowRun
}

// p99s are the healthy p99 latencies of variant's runs without error.
func (s *slowResult) p99s(variant string) []float64 {
	var out []float64
	for _, r := range s.Runs {
		if r.Variant == variant && r.Err == "" {
			out = append(out, r.Stats.P99ms)
		}
	}
	return out
}

// ratio is the median healthy p99 with silent subscribers over the median
// without them; false when the section was not measured (s nil) or a
// variant has no run.
func (s *slowResult) ratio() (float64, bool) {
	if s == nil {
		return 0, false
	}
	a, b := median(s.p99s("A")), median(s.p99s("B"))
	if a <= 0 || b <= 0 {
		return 0, false
	}
	return b / a, true
}

// allDropped says whether every B run saw every silent socket dropped and
// every healthy delivery made.
func (s *slowResult) allDropped() bool {
	n := 0
	for _, r := range s.Runs {
		if r.Err != "" {
			return false
		}
		if r.Stats.Delivered != r.Stats.Expected {
			return false
		}
		if r.Variant == "B" {
			n++
			if !r.AllDropped {
				return false
			}
		}
	}
	return n > 0
}

const slowChannel = "bench-silent"

// runSlow measures section 7 on a fresh Caddy running site (which must
// enable the Pusher HTTP API with app_id 1 and the bench credentials).
func runSlow(self, caddyBin, workDir, site string, healthy, silent, publishes, rounds int) *slowResult {
	res := &slowResult{Healthy: healthy, Silent: silent, Publishes: publishes, GapMs: 200,
		WriteTimeoutS: 10, SendQueue: 256}
	c, err := startCaddy(caddyBin, workDir, "slow", site, nil)
	if err != nil {
		res.Runs = append(res.Runs, slowRun{Variant: "A", Err: err.Error()})
		return res
	}
	defer c.Stop()
	for round := 0; round < rounds; round++ {
		for _, v := range []string{"A", "B"} {
			r := slowOnce(self, c, v, healthy, silent, publishes, time.Duration(res.GapMs)*time.Millisecond)
			logf("  slow consumers, round %d, %s: healthy p50 %.1f / p99 %.1f / max %.1f ms, delivered %d/%d, silent %d, preload %d events in %.1f s, dropped %.1f s after full (all: %v, by overflow %.0f) %s",
				round+1, v, r.Stats.P50ms, r.Stats.P99ms, r.Stats.Maxms, r.Stats.Delivered, r.Stats.Expected, r.Stats.Silent,
				r.PreloadEvents, r.PreloadSecs, r.DroppedAfter, r.AllDropped, r.Overflowed, r.Err)
			res.Runs = append(res.Runs, r)
		}
	}
	return res
}

// slowOnce is one run of variant A or B on c.
func slowOnce(self string, c *caddy, variant string, healthy, silent, publishes int, gap time.Duration) slowRun {
	r := slowRun{Variant: variant}
	fail := func(err error) slowRun { r.Err = err.Error(); return r }
	if variant == "A" {
		silent = 0
	}
	// The previous run's sockets are gone (the server has seen them close).
	if !waitMetric(c, "recordsync_ws_connections", 30*time.Second, func(v float64) bool { return v == 0 }) {
		return fail(fmt.Errorf("sockets of the previous run still open"))
	}
	r.RSSBeforeKB = rssKB(c.Pid())
	url := fmt.Sprintf("ws://127.0.0.1:%d/ws/app/%s", c.HTTPPort, benchAppKey)
	gen, err := startGenerator(self, []string{url}, healthy, silent, slowChannel)
	if err != nil {
		return fail(err)
	}
	defer gen.Stop()
	if _, err := gen.readLine("READY ", 180*time.Second); err != nil {
		return fail(err)
	}
	if !waitMetric(c, "recordsync_ws_connections", 30*time.Second, func(v float64) bool { return v == float64(healthy+silent) }) {
		return fail(fmt.Errorf("expected %d sockets open", healthy+silent))
	}
	time.Sleep(time.Second)

	overflow0 := c.metric("recordsync_slow_consumer_disconnects_total", "")
	var full time.Time
	if silent > 0 {
		t0 := time.Now()
		n, txMax, err := fillSilent(c, silent)
		if err != nil {
			return fail(err)
		}
		full = time.Now()
		r.PreloadEvents, r.PreloadSecs, r.SilentTxQueueKB = n, full.Sub(t0).Seconds(), txMax/1024
	}

	cpu0 := cpuTicks(c.Pid())
	pubs, err := publishSaves(c, publishes, gap, func() {
		r.RSSMaxKB = max(r.RSSMaxKB, rssKB(c.Pid()))
	})
	if err != nil {
		return fail(err)
	}
	time.Sleep(time.Second)
	r.CaddyCPU = float64(cpuTicks(c.Pid())-cpu0) / ticksPerSecond

	if silent > 0 {
		r.AllDropped = waitMetric(c, "recordsync_ws_connections", 40*time.Second, func(v float64) bool { return v == float64(healthy) })
		r.DroppedAfter = time.Since(full).Seconds()
		r.StillOpenAtEnd = c.metric("recordsync_ws_connections", "") - float64(healthy)
		r.Overflowed = c.metric("recordsync_slow_consumer_disconnects_total", "") - overflow0
	}
	st, err := gen.results(pubs)
	if err != nil {
		return fail(err)
	}
	r.Stats = st
	return r
}

// fillSilent publishes 8 KB events on slowChannel (only the silent sockets
// subscribe to it) until Caddy's kernel send queue of each of the silent
// sockets has stayed the same for three checks in a row: their writers are
// then stuck in a write (and whatever follows waits in recordsync's queue). It returns how many events it took and the
// largest send queue.
func fillSilent(c *caddy, silent int) (events int, txMax int64, err error) {
	pad := strings.Repeat("x", 8000)
	stable := map[int]int{}
	last := map[int]int64{}
	// 6 × 8 KB per request, under the HTTP API's body limit. Once a
	// socket's writer is stuck, what follows waits in its send queue:
	// three checks add 18 frames, far below send_queue.
	const step = 6
	for events < 4000 {
		var batch []string
		for i := 0; i < step; i++ {
			batch = append(batch, fmt.Sprintf(`{"name":"fill","channel":%q,"data":"{\"p\":\"%s\"}"}`, slowChannel, pad))
		}
		body := `{"batch":[` + strings.Join(batch, ",") + `]}`
		if st, err := apiPost(c, "/apps/1/batch_events", body); err != nil || st != 200 {
			return events, 0, fmt.Errorf("preload: status %d, %v", st, err)
		}
		events += step
		time.Sleep(20 * time.Millisecond)
		tx, err := tcpqueue.SendQueues(c.HTTPPort)
		if err != nil {
			return events, 0, err
		}
		full := 0
		for port, q := range tx {
			if q == 0 {
				continue
			}
			if q == last[port] {
				stable[port]++
			} else {
				stable[port] = 0
			}
			last[port] = q
			if stable[port] >= 3 {
				full++
				txMax = max(txMax, q)
			}
		}
		if full >= silent {
			return events, txMax, nil
		}
	}
	return events, 0, fmt.Errorf("the silent sockets' send queues kept growing after %d events", events)
}

// apiPost sends a signed Pusher HTTP API POST.
func apiPost(c *caddy, path, body string) (int, error) {
	q := pusher.SignAPIRequest("POST", path, nil, []byte(body), benchAppKey, benchAppSecret, time.Now())
	req, err := http.NewRequest("POST", c.URL()+path+"?"+q, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := adminClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitMetric polls one of c's metrics until ok says yes or timeout.
func waitMetric(c *caddy, name string, timeout time.Duration, ok func(float64) bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if ok(c.metric(name, "")) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// maxDroppedAfter is the longest time, over B runs, from the silent
// sockets' buffers being full to the last of them dropped.
func (s *slowResult) maxDroppedAfter() float64 {
	m := 0.0
	for _, r := range s.Runs {
		if r.Variant == "B" {
			m = max(m, r.DroppedAfter)
		}
	}
	return m
}

func (s *slowResult) droppedSummary() string {
	var parts []string
	for _, r := range s.Runs {
		if r.Variant != "B" {
			continue
		}
		if r.Err != "" {
			parts = append(parts, "error")
			continue
		}
		if !r.AllDropped {
			parts = append(parts, fmt.Sprintf("%.0f of %d still open", r.StillOpenAtEnd, r.Stats.Silent))
			continue
		}
		parts = append(parts, fmt.Sprintf("%d/%d dropped %.1f s after full", r.Stats.Silent, r.Stats.Silent, r.DroppedAfter))
	}
	return strings.Join(parts, "; ")
}

// slowSection writes section 7 of the report.
func (r *report) slowSection(b *strings.Builder) {
	s := r.Slow
	if s == nil {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## 7. Slow consumers: 1%% of the subscribers stop reading\n\n")
	p("One Caddy (configuration B: default `send_queue` %d frames, write timeout %.0f s). Runs alternate between A, %d healthy subscribers on `private-record.flow.1` (the baseline), and B, the same plus %d silent ones (1%% of %d) that subscribe and never read, each run with a fresh generator process. ",
		s.SendQueue, s.WriteTimeoutS, s.Healthy, s.Silent, s.Healthy+s.Silent)
	p("Loopback TCP buffers about 3 MB per socket before a server write blocks, so in B the silent sockets also subscribe to `%s`, which the bench fills with 8 KB events (Pusher HTTP API) until Caddy's kernel send queue of every silent socket stops growing (`/proc/net/tcp`): their writers are then stuck, as a frozen tab's would be. ", slowChannel)
	p("Then the same stream in A and B: %d saves %d ms apart, latency measured as in section 4–5 over the healthy subscribers only. B then waits until Caddy has dropped every silent socket (`recordsync_ws_connections` back to %d).\n\n", s.Publishes, s.GapMs, s.Healthy)
	p("| Run | Variant | Healthy delivered / expected | p50 ms | p99 ms | max ms | Caddy CPU s | Caddy RSS before → max during stream | Silent | Preload | Silent dropped | by queue overflow (4100) |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, x := range s.Runs {
		name := map[string]string{"A": "A: all reading", "B": "B: 1% silent"}[x.Variant]
		if x.Err != "" {
			p("| %d | %s | error: %s ||||||||||\n", i/2+1, name, strings.ReplaceAll(truncate(x.Err, 200), "\n", " "))
			continue
		}
		pre, dropped, over := "–", "–", "–"
		if x.Variant == "B" {
			pre = fmt.Sprintf("%d events, %.1f s (send queue %d KB)", x.PreloadEvents, x.PreloadSecs, x.SilentTxQueueKB)
			if x.AllDropped {
				dropped = fmt.Sprintf("all, %.1f s after full", x.DroppedAfter)
			} else {
				dropped = fmt.Sprintf("%.0f still open after %.0f s", x.StillOpenAtEnd, x.DroppedAfter)
			}
			over = fmt.Sprintf("%.0f", x.Overflowed)
		}
		p("| %d | %s | %d / %d | %.1f | %.1f | %.1f | %.2f | %.0f → %.0f MB | %d | %s | %s | %s |\n",
			i/2+1, name, x.Stats.Delivered, x.Stats.Expected, x.Stats.P50ms, x.Stats.P99ms, x.Stats.Maxms, x.CaddyCPU,
			float64(x.RSSBeforeKB)/1024, float64(x.RSSMaxKB)/1024, x.Stats.Silent, pre, dropped, over)
	}
	if x, ok := s.ratio(); ok {
		p("\nMedian healthy p99: A %.1f ms, B %.1f ms: **%.2f×** (target ≤ 1.2×, %s). ", median(s.p99s("A")), median(s.p99s("B")), x, yesNo(x <= 1.2))
	}
	p("A silent socket's writer is parked in a blocked write, so a publish costs it one queue append; it is dropped by the write timeout (the writer stuck longer than %.0f s; the sweeper closes the connection) or, when %d frames wait first, by the queue overflowing (close code 4100). Its memory is bounded by those %d frame references plus the one batch being written.\n\n", s.WriteTimeoutS, s.SendQueue, s.SendQueue)
}

// peakRSSDiffMB is the median peak RSS of B runs minus that of A runs.
func (s *slowResult) peakRSSDiffMB() float64 {
	peaks := func(v string) []float64 {
		var out []float64
		for _, r := range s.Runs {
			if r.Variant == v && r.Err == "" {
				out = append(out, float64(r.RSSMaxKB)/1024)
			}
		}
		return out
	}
	return median(peaks("B")) - median(peaks("A"))
}

// memoryBoundMB is what the silent sockets may hold at most: each a full
// send queue of the largest frames (an event's data is at most 10 KB).
func (s *slowResult) memoryBoundMB() float64 {
	return float64(s.Silent*s.SendQueue*10) / 1024
}
