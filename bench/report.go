package main

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"
)

type report struct {
	Cfg                         runConfig
	Started, Finished           time.Time
	LoadStart, LoadEnd          string
	Commit, GoVersion, Wrk      string
	SiteA, SiteB, SiteL, SiteLR string
	// SiteF is the `respond` floor (section 3c).
	SiteF string

	Pass, Get, Put            []*series
	GoConflict, GoPoll        []*series
	GoConflictCacheShare      []float64
	GoPollCacheShare          []float64
	GoChecks                  []string
	LaravelConflict           []*series
	LaravelPoll               []*series
	LaravelConflictCacheShare []float64
	LaravelPollCacheShare     []float64
	LaravelChecks             []string
	// PollFloor: Caddy `respond` with no module vs the poll from cache.
	PollFloor []*series
	// Fan holds every recordsync fan-out run, CentFan Centrifugo's (A/B
	// rounds per size).
	Fan     []fanResult
	CentFan []fanResult
	Floor   []floorResult
	// CentrifugoBuild is the module and version the Centrifugo binary was
	// built from (go version -m); Mercure says why Mercure was not
	// measured ("" if it could have been).
	CentrifugoBuild, Mercure string
	Errors                   []string

	// The two-instance cluster (section 6).
	SiteC, RedisVersion string
	ClusterFan          []fanResult
	ClusterStale        []*series
	ClusterPut          []*series
	ClusterStaleShare   map[string][]float64
	ClusterStaleLock    map[string][]lockStat
	ClusterPutLock      map[string][]lockStat
	ClusterChecks       []string
	ClusterPutNotes     []string

	// Slow consumers (section 7).
	Slow *slowResult

	// The realistic shape (section 8) and the reconnect storm (section 9).
	Shape *shapeResult
	Storm *stormResult

	// Webhooks and the console on the publish path (section 10).
	Hooks *hooksResult `json:",omitempty"`

	// CacheMemory: one cached record's memory with and without field
	// fingerprints.
	CacheMemory *cacheMemResult

	// Charts are the PNG files written next to the report (base names).
	Charts map[string]string
}

// busy says whether a load average line's 1-minute figure exceeds the core count.
func busy(load string) bool {
	var one float64
	if _, err := fmt.Sscan(load, &one); err != nil {
		return false
	}
	return one > float64(runtime.NumCPU())
}

func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// ratio of the second series' median rate to the first's.
func ratio(ss []*series) (float64, bool) {
	if len(ss) != 2 || len(ss[0].Runs) == 0 || len(ss[1].Runs) == 0 || ss[0].RPS() == 0 {
		return 0, false
	}
	return ss[1].RPS() / ss[0].RPS(), true
}

func caddyPerCPUSecond(s *series) float64 {
	_, per := s.CPUPerReq()
	if us := per["caddy"]; us > 0 {
		return 1e6 / us
	}
	return 0
}

func shareStr(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%.1f%%", 100*x))
	}
	return strings.Join(parts, ", ")
}

// fan is recordsync's fan-out run at n with the median p99 of its rounds.
func (r *report) fan(n int) *fanResult { return medianRun(r.fanRuns("recordsync", n)) }

// floor is the bare-write floor measured at n sockets, or nil.
func (r *report) floor(n int) *floorResult {
	for i := range r.Floor {
		if r.Floor[i].N == n && r.Floor[i].Err == "" {
			return &r.Floor[i]
		}
	}
	return nil
}

func (r *report) clusterFan(n int) *fanResult {
	for i := range r.ClusterFan {
		if r.ClusterFan[i].N == n && r.ClusterFan[i].Err == "" {
			return &r.ClusterFan[i]
		}
	}
	return nil
}

// chart writes the markdown image of chart key, if it was drawn.
func (r *report) chart(b *strings.Builder, key, alt string) {
	if f := r.Charts[key]; f != "" {
		fmt.Fprintf(b, "![%s](%s)\n\n", alt, f)
	}
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	mode := "full"
	if r.Cfg.Quick {
		mode = "quick"
	}
	p("# recordsync benchmark report\n\n")
	p("Produced by `make bench` (%s mode) at %s, commit `%s`, in %.0f s. %s, %s, GOMAXPROCS %d, %d CPUs.\n",
		mode, r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Commit, r.Finished.Sub(r.Started).Seconds(), r.GoVersion, r.Wrk, runtime.GOMAXPROCS(0), runtime.NumCPU())
	p("Load average (1/5/15 min) at start: **%s**, at end: **%s** — the machine is shared with other work; load generator and servers share its %d cores.", r.LoadStart, r.LoadEnd, runtime.NumCPU())
	if busy(r.LoadStart) || busy(r.LoadEnd) {
		p(" A load above the core count means other engineers' tests were running alongside this run: absolute rates are lower and noisier than on an idle machine; the ratios compare variants measured alternately under the same conditions.")
	}
	p("\n\n")
	p("HTTP loads: `wrk -t2 -c%d -d%s`, variants alternated (A,B,A,B…, %d rounds), median of the runs. Baselines are measured in the same run. ", r.Cfg.Conns, r.Cfg.Dur, r.Cfg.Rounds)
	p("CPU is user+system time of the server processes from /proc during each run (100 Hz ticks), per request.\n\n")
	if len(r.Errors) > 0 {
		p("**Errors during the run:**\n\n")
		for _, e := range r.Errors {
			p("- %s\n", strings.ReplaceAll(truncate(e, 600), "\n", " "))
		}
		p("\n")
	}

	// ---- headline ----
	p("## Headline numbers\n\nThe README's benchmark table is this one (copied from the report of the same run).\n\n%s\n", r.headline())
	if len(r.Charts) > 0 {
		p("Charts: ")
		var names []string
		for _, k := range []string{"http", "cache", "fanout_latency", "fanout_rate", "memory", "cluster_fanout", "cluster_writes", "shape", "shape_cpu", "storm"} {
			if f := r.Charts[k]; f != "" {
				names = append(names, fmt.Sprintf("[%s](%s)", f, f))
			}
		}
		p("%s (each shown in its section below).\n\n", strings.Join(names, ", "))
	}

	// ---- summary ----
	p("## Goals, measured against the peers and the floor in the same run\n\n")
	p("Fan-out and memory are judged against Centrifugo and the bare-write floor measured in this run, and the reconnect storm by what reached PHP; these goals replace the absolute fan-out targets the design notes on performance once gave (p99 ≤ 60 ms and ≥ 100k deliveries per core at 10k, ≤ 20 KB per idle connection).\n\n")
	r.goalsTable(&b)
	p("## Targets (shared/design/performance.md)\n\n")
	p("| Target | Measured | Goal | Verdict | Reference |\n|---|---|---|---|---|\n")
	if x, ok := ratio(r.Pass); ok {
		p("| Pass-through vs plain `reverse_proxy` | %.3f× (%.0f vs %.0f req/s); %s | ≥ 0.97× | %s | – |\n", x, r.Pass[1].RPS(), r.Pass[0].RPS(), cpuCompare(r.Pass), verdict(x >= 0.97))
	} else {
		p("| Pass-through vs plain `reverse_proxy` | not measured | ≥ 0.97× | – | – |\n")
	}
	for _, row := range []struct {
		name string
		ss   []*series
	}{{"Inspected record GET vs plain", r.Get}, {"Inspected record PUT vs plain", r.Put}} {
		if x, ok := ratio(row.ss); ok {
			p("| %s | %.3f× (%.0f vs %.0f req/s); %s | ≥ 0.90× | %s | – |\n", row.name, x, row.ss[1].RPS(), row.ss[0].RPS(), cpuCompare(row.ss), verdict(x >= 0.90))
		} else {
			p("| %s | not measured | ≥ 0.90× | – | – |\n", row.name)
		}
	}
	for _, row := range []struct {
		name     string
		lar, gos []*series
	}{{"Stale write (409) from cache", r.LaravelConflict, r.GoConflict}, {"Version poll from cache", r.LaravelPoll, r.GoPoll}} {
		if x, ok := ratio(row.lar); ok {
			p("| %s vs the Laravel app | %.0f× (%.0f vs %.0f req/s) | ≥ 50× | %s | Laravel here: ~265 req/s (performance.md) |\n",
				row.name, x, row.lar[1].RPS(), row.lar[0].RPS(), verdict(x >= 50))
		} else {
			p("| %s vs the Laravel app | not measured | ≥ 50× | – | – |\n", row.name)
		}
		if x, ok := ratio(row.gos); ok {
			p("| %s vs the Go upstream (not the target's baseline: an app answering in µs) | %.2f× (%.0f vs %.0f req/s) | – | info | – |\n",
				row.name, x, row.gos[1].RPS(), row.gos[0].RPS())
		}
		for _, side := range []struct {
			label string
			ss    []*series
		}{{"Laravel session cookie, `laravel_app_key`", row.lar}, {"`Authorization` header, Go upstream", row.gos}} {
			if len(side.ss) != 2 || len(side.ss[1].Runs) == 0 {
				continue
			}
			s := side.ss[1]
			perCPU := caddyPerCPUSecond(s)
			p("| %s: requests per core (%s) | %.0f req per Caddy CPU-second; %.0f req/s per machine core (wrk shares the cores) | ≥ 20k/core | %s | – |\n",
				row.name, side.label, perCPU, s.RPS()/float64(runtime.NumCPU()), verdict(perCPU >= 20000))
		}
	}
	if len(r.PollFloor) == 2 && len(r.PollFloor[0].Runs) > 0 && len(r.PollFloor[1].Runs) > 0 {
		fl, rs := caddyPerCPUSecond(r.PollFloor[0]), caddyPerCPUSecond(r.PollFloor[1])
		p("| The floor for answers from the cache: Caddy `respond` with no module, same request and body (section 3c) | %.0f req per Caddy CPU-second; recordsync's poll from cache in the same runs %.0f (%.2f× the floor) | – | info: no answer Caddy gives costs less than `respond` | – |\n",
			fl, rs, rs/math.Max(fl, 1))
	}
	for _, n := range []int{10000, 18000} {
		if f := r.fan(n); f != nil {
			p("| Goroutines per idle connection, %dk | %.2f (%d → %d) | ≤ 2 | %s | – |\n",
				n/1000, f.GorPerConn, f.GorBefore, f.GorAfter, verdict(f.GorPerConn <= 2.05))
		}
	}
	if f := r.fan(18000); f != nil {
		p("| 18,000 concurrent websockets in one process | %d connected, %d failed (server counted %.0f) | 18,000 | %s | Centrifugo 18k: p99 352 ms |\n",
			f.Stats.Connected, f.Stats.Failed, f.WSConnections, verdict(f.Stats.Connected >= 18000))
	}
	for _, n := range []int{10000, 1000} {
		one, two := r.fan(n), r.clusterFan(n)
		if one == nil || two == nil {
			continue
		}
		p("| Two-instance cluster fan-out, %dk subscribers (half on B; publishes through A) | p50 %.1f / p99 %.1f / max %.1f ms vs one instance %.1f / %.1f / %.1f ms; %.0f vs %.0f msg per Caddy CPU-s | no target (one instance: p99 ≤ Centrifugo's) | info (%d / %d delivered) | – |\n",
			n/1000, two.Stats.P50ms, two.Stats.P99ms, two.Stats.Maxms, one.Stats.P50ms, one.Stats.P99ms, one.Stats.Maxms, two.MsgPerCPU(), one.MsgPerCPU(),
			two.Stats.Delivered, two.Stats.Expected)
		break
	}
	if x, ok := ratio2(r.ClusterStale, 0, 1); ok {
		p("| Cluster lock: stale write (409) from cache with `cluster` vs without | %.2f× (%.0f vs %.0f req/s, hot record) | no target (info) | info | – |\n", x, r.ClusterStale[1].RPS(), r.ClusterStale[0].RPS())
	}
	if x, ok := ratio2(r.ClusterPut, 0, 1); ok {
		p("| Cluster lock: successful conditional PUT with `cluster` vs without | %.2f× (%.0f vs %.0f req/s, 32 writers, one record each) | no target (info) | info | – |\n", x, r.ClusterPut[1].RPS(), r.ClusterPut[0].RPS())
	}
	if f := r.fan(10000); f != nil && f.Published > 0 {
		p("| Exactly one encode per publish (10k) | %.0f frames encoded for %.0f publishes (%d saves) and %d deliveries: %.2f per publish (Caddy metrics) | 1 | %s | – |\n",
			f.Encoded, f.Published, f.Publishes, f.Stats.Delivered, f.Encoded/f.Published, verdict(f.Encoded == f.Published))
	} else {
		p("| Exactly one encode per publish | not measured | 1 | – | – |\n")
	}
	if x, ok := r.Slow.ratio(); ok {
		sl := r.Slow
		p("| Slow consumers: healthy p99 with 1%% not reading vs without | %.2f× (median p99 %.1f vs %.1f ms, %d healthy + %d silent, %d rounds) | ≤ 1.2× | %s | – |\n",
			x, median(sl.p99s("B")), median(sl.p99s("A")), sl.Healthy, sl.Silent, len(sl.p99s("B")), verdict(x <= 1.2))
		p("| Slow consumers dropped within the write timeout | %s | all dropped ≤ %.0f s after their buffers fill (write timeout %.0f s + the sweep) | %s | – |\n",
			sl.droppedSummary(), sl.WriteTimeoutS+2, sl.WriteTimeoutS, verdict(sl.allDropped() && sl.maxDroppedAfter() <= sl.WriteTimeoutS+2))
		p("| Slow consumers: memory bounded by the queue cap | Caddy's peak RSS during the stream %.1f MB higher with the silent sockets (median B − median A) | ≤ %d silent × %d frames × 10 KB = %.0f MB | %s | – |\n",
			sl.peakRSSDiffMB(), sl.Silent, sl.SendQueue, sl.memoryBoundMB(), verdict(sl.peakRSSDiffMB() <= sl.memoryBoundMB()))
	} else {
		p("| Slow consumers (1%% not reading) | not measured | p99 ≤ 1.2× | – | – |\n")
	}
	r.hooksGoal(&b)
	p("\n")

	// ---- details ----
	p("## 1–2. Pass-through and inspected record requests (Go upstream)\n\n")
	p("Caddy A is plain `reverse_proxy`; Caddy B adds the `recordsync` block (record route, websocket hub on). The upstream is a tiny Go net/http server in its own process (`bench -role=upstream`). GET/PUT go to `/api/v1/flows/<random 1..1000>`; the PUT carries a JSON body without `client_version` (learned and broadcast to no one, never checked).\n\n")
	r.table(&b, []string{"pass-through GET /api/v1/other"}, r.Pass)
	r.table(&b, []string{"record GET"}, r.Get)
	r.table(&b, []string{"record PUT"}, r.Put)
	r.chart(&b, "http", "Throughput: plain reverse_proxy vs recordsync")

	p("## 3. Stale writes and version polls answered from the cache\n\n")
	p("The caller is authorised first by one GET of the record through recordsync (the app answers 2xx, recordsync remembers the credential for that record). Then wrk sends the same request to both sides: a PUT `/api/v1/flows/1` with a stale `client_version` (the app answers 409), or `GET /api/v1/records/flow/1/version`. One hot record, 32 connections.\n\n")
	p("### Against the real Laravel app (php-fpm, 4 workers, SQLite; session cookie, `laravel_app_key` set)\n\n")
	if len(r.LaravelConflict) > 0 {
		r.table(&b, []string{"stale PUT → 409"}, r.LaravelConflict)
		p("Share of the cache side's requests answered from the cache (metrics `recordsync_conflicts_total{answered_by=\"cache\"}`): %s\n\n", shareStr(r.LaravelConflictCacheShare))
	}
	if len(r.LaravelPoll) > 0 {
		r.table(&b, []string{"version poll"}, r.LaravelPoll)
		p("Share answered from the cache (`recordsync_version_polls_total{answered_by=\"cache\"}`): %s\n\n", shareStr(r.LaravelPollCacheShare))
	}
	if len(r.LaravelChecks) > 0 {
		p("Pre-flight through recordsync:\n\n")
		for _, c := range r.LaravelChecks {
			p("- `%s`\n", strings.ReplaceAll(c, "`", "'"))
		}
		p("\n")
	}
	p("### Against the Go upstream (for scale only: this app answers in microseconds)\n\n")
	r.table(&b, []string{"stale PUT → 409"}, r.GoConflict)
	p("Share answered from the cache: %s\n\n", shareStr(r.GoConflictCacheShare))
	r.table(&b, []string{"version poll"}, r.GoPoll)
	p("Share answered from the cache: %s\n\n", shareStr(r.GoPollCacheShare))
	if len(r.GoChecks) > 0 {
		p("Pre-flight through recordsync (`Authorization: Bearer …`):\n\n")
		for _, c := range r.GoChecks {
			p("- `%s`\n", strings.ReplaceAll(c, "`", "'"))
		}
		p("\n")
	}

	if len(r.PollFloor) > 0 {
		p("### 3c. The floor: Caddy answering by itself\n\n")
		p("The same poll (`Authorization` header, 32 connections) against a Caddy with no module whose site only does `respond` with the body the cache answers (configuration F below), alternated with the poll from recordsync's cache. Caddy's own work per request (accept, parse, route, write) is the least any answer from Caddy costs; the difference is recordsync's share (tenant, route match, credential hash, authorisation and version lookups, JSON).\n\n")
		r.table(&b, []string{"version poll"}, r.PollFloor)
	}
	r.chart(&b, "cache", "Stale writes and polls: the app vs recordsync's cache")
	r.fanSection(&b)
	r.clusterSection(&b)
	r.slowSection(&b)
	r.shapeSection(&b)
	r.stormSection(&b)
	r.hooksSection(&b)

	p("## Configurations\n\n```caddyfile\n# A: plain\n%s\n# B: recordsync\n%s", r.SiteA, r.SiteB)
	if r.SiteF != "" {
		p("\n# F: the floor of section 3c (no module)\n%s", r.SiteF)
	}
	if r.SiteC != "" {
		p("\n# C: recordsync with cluster (two processes with this site, one Redis)\n%s", r.SiteC)
	}
	if r.SiteL != "" {
		p("\n# Laravel plain\n%s\n# Laravel with recordsync\n%s", r.SiteL, r.SiteLR)
	}
	if r.Shape != nil {
		p("\n# S: the realistic shape (section 8)\n%s", r.Shape.Site)
	}
	if r.Storm != nil && r.Storm.Site != "" {
		p("\n# R: the reconnect storm (section 9), both instances\n%s", r.Storm.Site)
	}
	p("```\n\n")
	if r.CentrifugoBuild != "" {
		p("Centrifugo's generated config (`<port>` a free port):\n\n```json\n%s\n```\n\n", strings.ReplaceAll(string(centrifugoConfig(0)), `"port": 0`, `"port": <port>`))
	}
	p("Global options: `admin 127.0.0.1:<port>`, `auto_https off`, log level ERROR, no access logs, no HTTP metrics.\n")
	return b.String()
}

// ratio2 is ss[j]'s median rate over ss[i]'s.
func ratio2(ss []*series, i, j int) (float64, bool) {
	if len(ss) <= max(i, j) || len(ss[i].Runs) == 0 || len(ss[j].Runs) == 0 || ss[i].RPS() == 0 {
		return 0, false
	}
	return ss[j].RPS() / ss[i].RPS(), true
}

// table writes one comparison: the two variants with their runs.
func (r *report) table(b *strings.Builder, title []string, ss []*series) {
	if len(ss) == 0 {
		fmt.Fprintf(b, "%s: not measured\n\n", title[0])
		return
	}
	fmt.Fprintf(b, "| %s | median req/s | runs req/s | ratio | non-2xx / requests | server CPU µs/req | of which Caddy | other (upstream / php-fpm) | mean latency |\n|---|---|---|---|---|---|---|---|---|\n", title[0])
	base := ss[0].RPS()
	for _, s := range ss {
		tot, per := s.CPUPerReq()
		other := 0.0
		for k, v := range per {
			if k != "caddy" {
				other += v
			}
		}
		non, total := s.Non2xx()
		rat := "–"
		if base > 0 {
			rat = fmt.Sprintf("%.3f×", s.RPS()/base)
		}
		var lats []string
		for _, run := range s.Runs {
			lats = append(lats, run.Latency)
		}
		fmt.Fprintf(b, "| %s | %.0f | %s | %s | %d / %d | %.1f | %.1f | %.1f | %s |\n",
			s.Name, s.RPS(), s.RPSList(), rat, non, total, tot, per["caddy"], other, strings.Join(lats, ", "))
	}
	b.WriteString("\n")
}

// cpuCompare says how much Caddy CPU a request costs on each side, the
// load-independent view of the same comparison.
func cpuCompare(ss []*series) string {
	_, a := ss[0].CPUPerReq()
	_, b := ss[1].CPUPerReq()
	if a["caddy"] == 0 {
		return "Caddy CPU/req n/a"
	}
	return fmt.Sprintf("Caddy CPU per request %.0f vs %.0f µs (%.2f× the cost)", b["caddy"], a["caddy"], b["caddy"]/a["caddy"])
}

func lockStr(ls []lockStat) string {
	if len(ls) == 0 {
		return "–"
	}
	var parts []string
	for _, l := range ls {
		s := fmt.Sprintf("%.2f locks/req, wait %.2f ms", l.Acquired, l.MeanWaitM)
		if l.Fallbacks > 0 {
			s += fmt.Sprintf(", %.0f fallbacks", l.Fallbacks)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// clusterSection is section 6: two instances on one Redis vs one instance.
func (r *report) clusterSection(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	if len(r.ClusterFan) == 0 && len(r.ClusterStale) == 0 && len(r.ClusterPut) == 0 {
		return
	}
	p("## 6. Two-instance cluster vs one instance\n\n")
	p("Two Caddy processes with the same recordsync site plus `cluster redis://…` (configuration C below) on one local %s (no persistence), in front of the same Go upstream. Both Caddies, Redis, the generator and wrk share the 2 cores. For fan-out that cuts both ways: two hubs fan out N/2 sockets each in parallel (on 2 cores this can beat one process), while B's half takes one more hop through Redis. For writes the cluster pays for Redis round trips and a second process on the same CPUs. So this shows what clustering costs on one machine, not what a second machine would add.\n\n", r.RedisVersion)
	if len(r.ClusterFan) > 0 {
		p("### Fan-out: publisher on A, half the subscribers on B\n\n")
		p("A fresh pair per size. The generator spreads N sockets round-robin over A and B (N/2 each); the 20 publishes are PUTs through A, so A's subscribers get the event from A's hub and B's through Redis (A's bus → B's hub). Measured exactly as in section 4–5; memory and goroutines are summed over both processes; Caddy CPU is both processes'. The one-instance row is section 4–5's run of the same size (same run).\n\n")
		p("| Subscribers | Setup | Delivered / expected | p50 ms | p99 ms | max ms | on A: p50 / p99 / max ms | on B (via Redis): p50 / p99 / max ms | msg/s (burst) | msg per Caddy CPU-s | Caddy CPU s | Redis CPU s | KB per conn | Goroutines per conn |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, c := range r.ClusterFan {
			if one := r.fan(c.N); one != nil {
				p("| %d | one instance | %d / %d | %.1f | %.1f | %.1f | – | – | %.0f | %.0f | %.2f | – | %.1f | %.2f |\n",
					one.N, one.Stats.Delivered, one.Stats.Expected, one.Stats.P50ms, one.Stats.P99ms, one.Stats.Maxms, one.Stats.MsgsPerSec, one.MsgPerCPU(), one.CaddyCPU, one.KBPerConn, one.GorPerConn)
			}
			if c.Err != "" {
				p("| %d | cluster: error: %s |||||||||||||\n", c.N, strings.ReplaceAll(truncate(c.Err, 200), "\n", " "))
				continue
			}
			ga, gb := "–", "–"
			if len(c.Stats.Groups) == 2 {
				g := c.Stats.Groups
				ga = fmt.Sprintf("%.1f / %.1f / %.1f", g[0].P50ms, g[0].P99ms, g[0].Maxms)
				gb = fmt.Sprintf("%.1f / %.1f / %.1f", g[1].P50ms, g[1].P99ms, g[1].Maxms)
				if g[1].Delivered != g[1].Expected {
					gb += fmt.Sprintf(" (%d / %d delivered)", g[1].Delivered, g[1].Expected)
				}
			}
			p("| %d | cluster, 2 instances | %d / %d | %.1f | %.1f | %.1f | %s | %s | %.0f | %.0f | %.2f | %.2f | %.1f | %.2f |\n",
				c.N, c.Stats.Delivered, c.Stats.Expected, c.Stats.P50ms, c.Stats.P99ms, c.Stats.Maxms, ga, gb, c.Stats.MsgsPerSec, c.MsgPerCPU(), c.CaddyCPU, c.RedisCPU, c.KBPerConn, c.GorPerConn)
		}
		p("\n")
		for _, c := range r.ClusterFan {
			if c.Stats.FirstError != "" {
				p("First connect error (cluster, %d): `%s`\n\n", c.N, c.Stats.FirstError)
			}
			if c.Stats.Unknown > 0 || c.Stats.Closed > 0 {
				p("Cluster at %d: %d deliveries of unknown versions, %d sockets closed during the run.\n\n", c.N, c.Stats.Unknown, c.Stats.Closed)
			}
		}
		r.chart(b, "cluster_fanout", "Cluster fan-out vs one instance")
	}
	if len(r.ClusterStale) > 0 || len(r.ClusterPut) > 0 {
		p("### The cluster lock on conditional writes\n\n")
		p("With `cluster`, every conditional write (a PUT carrying `client_version`) takes its record's cluster-wide Redis lock inside the local turn, then compares against the newest version learned under the lock — also the stale ones answered 409 from the cache. Without `cluster` the local turn alone serialises them. Same Go upstream, `Authorization: Bearer …` caller authorised on each instance by one GET. CPU includes both Caddies, the upstream and Redis.\n\n")
		if len(r.ClusterStale) > 0 {
			p("**Stale write → 409 from the cache** (wrk, %d connections, all on one hot record `/api/v1/flows/1`; \"half through A, half through B\" runs two wrk at once with half the connections each):\n\n", r.Cfg.Conns)
			r.table(b, []string{"stale PUT → 409"}, r.ClusterStale)
			p("| variant | answered from the cache | cluster lock (Caddy metrics, per run) |\n|---|---|---|\n")
			for _, s := range r.ClusterStale {
				p("| %s | %s | %s |\n", s.Name, shareStr(r.ClusterStaleShare[s.Name]), lockStr(r.ClusterStaleLock[s.Name]))
			}
			p("\n")
			if len(r.ClusterStale) >= 2 {
				_, c0 := r.ClusterStale[0].CPUPerReq()
				_, c1 := r.ClusterStale[1].CPUPerReq()
				p("Why it drops: conditional writes to one record take turns, and with `cluster` each turn also holds the Redis lock across its round trips (a script that takes it and returns the newest version learned under it, then one that releases it), so one hot record tops out at about one write per those round trips, and Caddy's CPU per 409 goes from %.0f to %.0f µs. The \"wait\" above is only the acquire call, which the local turn already serialised. A stale write whose cached version is already *newer* than its loaded one is answered before it queues, without the lock (the cache never goes backwards, so that alone proves the conflict): the \"locks/req\" column shows how many of the 409s still took it (those whose loaded version the local cache could not prove stale).\n\n", c0["caddy"], c1["caddy"])
			}
		}
		if len(r.ClusterPut) > 0 {
			p("**Successful conditional PUT** (a Go client in the bench process: %d writers, each owning one record and doing read-modify-write — the `client_version` of each PUT is the `updated_at` of the previous answer, so every write is current; mean and p99 latency in the last column; non-2xx are 409s or 503s, which would mean lost ordering or a lock given up on):\n\n", r.Cfg.Conns)
			r.table(b, []string{"conditional PUT → 200"}, r.ClusterPut)
			p("| variant | cluster lock (Caddy metrics, per run) |\n|---|---|\n")
			for _, s := range r.ClusterPut {
				p("| %s | %s |\n", s.Name, lockStr(r.ClusterPutLock[s.Name]))
			}
			p("\n")
			for _, n := range r.ClusterPutNotes {
				p("- %s\n", n)
			}
			if len(r.ClusterPutNotes) > 0 {
				p("\n")
			}
		}
		r.chart(b, "cluster_writes", "Conditional writes with and without the cluster lock")
		if len(r.ClusterChecks) > 0 {
			p("Pre-flight (one instance, A, B):\n\n")
			for _, c := range r.ClusterChecks {
				p("- `%s`\n", strings.ReplaceAll(c, "`", "'"))
			}
			p("\n")
		}
	}
}

// headline is the short table of the headline numbers (the README's).
func (r *report) headline() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("| Measure | recordsync | Baseline (same run) or reference | Ratio | Target | Met? |\n|---|---|---|---|---|---|\n")
	for _, row := range []struct {
		name, base string
		ss         []*series
		goal       float64
	}{{"Pass-through requests", "plain Caddy `reverse_proxy`", r.Pass, 0.97}, {"Inspected record GET", "plain `reverse_proxy`", r.Get, 0.90}, {"Inspected record PUT", "plain `reverse_proxy`", r.Put, 0.90}} {
		if x, ok := ratio(row.ss); ok {
			p("| %s | %.0f req/s | %.0f req/s (%s) | %.2f× | ≥ %.2f× | %s |\n", row.name, row.ss[1].RPS(), row.ss[0].RPS(), row.base, x, row.goal, yesNo(x >= row.goal))
		}
	}
	for _, row := range []struct {
		name string
		ss   []*series
	}{{"Stale write → 409 from cache", r.LaravelConflict}, {"Version poll from cache", r.LaravelPoll}} {
		if x, ok := ratio(row.ss); ok {
			per := caddyPerCPUSecond(row.ss[1])
			p("| %s | %.0f req/s (%.0f per Caddy CPU-s) | %.0f req/s (Laravel, php-fpm) | %.0f× | ≥ 50×, ≥ 20k/core | %s, %s |\n",
				row.name, row.ss[1].RPS(), per, row.ss[0].RPS(), x, yesNo(x >= 50), yesNo(per >= 20000))
		}
	}
	if m := r.CacheMemory; m != nil && m.PlainBytes > 0 {
		p("| Memory per cached record | %.0f B with the fingerprints of its %d fields at %d versions | %.0f B without fingerprints (`field_versions off`) | %.2f× | – | – |\n",
			m.FieldsBytes, m.Fields, m.Versions, m.PlainBytes, m.FieldsBytes/m.PlainBytes)
	}
	r.headlinePeers(&b)
	if f := r.fan(18000); f != nil {
		p("| Websockets held by one process | %d of 18,000 (%d failed) | the file limit here (20k) | – | 18,000 | %s |\n", f.Stats.Connected, f.Stats.Failed, yesNo(f.Stats.Connected >= 18000))
	}
	for _, sz := range []int{10000, 1000} {
		one, two := r.fan(sz), r.clusterFan(sz)
		if one == nil || two == nil {
			continue
		}
		p("| 2-instance cluster fan-out, %dk (half on B via Redis) | p99 %.0f ms, %.0f msg per Caddy CPU-s | one instance: p99 %.0f ms, %.0f msg/CPU-s | %.2f× p99 | no target | – |\n",
			sz/1000, two.Stats.P99ms, two.MsgPerCPU(), one.Stats.P99ms, one.MsgPerCPU(), two.Stats.P99ms/math.Max(one.Stats.P99ms, 0.001))
		break
	}
	if x, ok := r.Slow.ratio(); ok {
		p("| Healthy p99 with 1%% of 5k subscribers not reading | %.0f ms | without them: %.0f ms | %.2f× | ≤ 1.2× | %s |\n",
			median(r.Slow.p99s("B")), median(r.Slow.p99s("A")), x, yesNo(x <= 1.2))
	}
	if h := r.Hooks; h != nil {
		if x, ok := h.ratio(); ok {
			p("| Webhooks (every kind) and the console's stream on, with joins, leaves and whispers | %.0f delivered msg per Caddy CPU-s | both off: %.0f | %.2f× | ≥ 0.95× | %s |\n",
				median(h.perCPU("on")), median(h.perCPU("off")), x, yesNo(x >= 0.95))
		}
	}
	if x, ok := ratio2(r.ClusterStale, 0, 1); ok {
		p("| Stale 409 from cache with `cluster` (Redis lock) | %.0f req/s | without `cluster`: %.0f req/s | %.2f× | no target | – |\n", r.ClusterStale[1].RPS(), r.ClusterStale[0].RPS(), x)
	}
	if x, ok := ratio2(r.ClusterPut, 0, 1); ok {
		p("| Successful conditional PUT with `cluster` | %.0f req/s | without `cluster`: %.0f req/s | %.2f× | no target | – |\n", r.ClusterPut[1].RPS(), r.ClusterPut[0].RPS(), x)
	}
	return b.String()
}

func yesNo(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}
