package main

import (
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
)

// The report's parts about the peers (Centrifugo beside recordsync), the
// realistic shape and the reconnect storm, and the goals measured as
// ratios in the same run.

// fanRuns are system's fan-out runs at n without error, in run order.
func (r *report) fanRuns(system string, n int) []fanResult {
	src := r.Fan
	if system == "centrifugo" {
		src = r.CentFan
	}
	var out []fanResult
	for _, f := range src {
		if f.N == n && f.Err == "" {
			out = append(out, f)
		}
	}
	return out
}

// medianRun is the run with the median p99 (the lower middle one of an
// even count), nil for none.
func medianRun(runs []fanResult) *fanResult {
	if len(runs) == 0 {
		return nil
	}
	s := append([]fanResult(nil), runs...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Stats.P99ms < s[j].Stats.P99ms })
	return &s[(len(s)-1)/2]
}

// fanAgg is one system at one size: the median over its rounds of each
// figure.
type fanAgg struct {
	Runs                        int
	P50, P99, Max               float64
	MsgPerCPU, CPUPerMsg        float64
	KB, HeapKB, Gor             float64
	Delivered, Expected         int
	Connected, Failed           int
	FrameBytes                  int
	P99s, CPUPerMsgs, KBs, Rate []float64
}

func (r *report) agg(system string, n int) (fanAgg, bool) {
	runs := r.fanRuns(system, n)
	if len(runs) == 0 {
		return fanAgg{}, false
	}
	var a fanAgg
	var p50, max, mpc, heap, gor []float64
	for _, f := range runs {
		a.Runs++
		p50 = append(p50, f.Stats.P50ms)
		a.P99s = append(a.P99s, f.Stats.P99ms)
		max = append(max, f.Stats.Maxms)
		mpc = append(mpc, f.MsgPerCPU())
		a.CPUPerMsgs = append(a.CPUPerMsgs, f.CPUPerMsgUS())
		a.KBs = append(a.KBs, f.KBPerConn)
		heap = append(heap, f.HeapKBPerConn())
		gor = append(gor, f.GorPerConn)
		a.Rate = append(a.Rate, f.Stats.MsgsPerSec)
		a.Delivered += f.Stats.Delivered
		a.Expected += f.Stats.Expected
		a.Connected = max2(a.Connected, f.Stats.Connected)
		a.Failed += f.Stats.Failed
		if f.Stats.FrameBytes > 0 {
			a.FrameBytes = f.Stats.FrameBytes
		}
	}
	a.P50, a.P99, a.Max = median(p50), median(a.P99s), median(max)
	a.MsgPerCPU, a.CPUPerMsg = median(mpc), median(a.CPUPerMsgs)
	a.KB, a.HeapKB, a.Gor = median(a.KBs), median(heap), median(gor)
	return a, true
}

func max2(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func floats(xs []float64, format string) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf(format, x))
	}
	return strings.Join(parts, ", ")
}

// goalSize is the size the goals are judged at: 10k, else the largest measured.
func (r *report) goalSize() int {
	if _, ok := r.agg("recordsync", 10000); ok {
		return 10000
	}
	n := 0
	for _, f := range r.Fan {
		if f.Err == "" && f.N > n {
			n = f.N
		}
	}
	return n
}

// goal is one row of the goals table.
type goal struct {
	Name, Measured, Goal, Bound string
	Met, Known                  bool
}

// goals are the fan-out, memory and storm goals, each a ratio of figures
// measured in the same run.
func (r *report) goals() []goal {
	var gs []goal
	n := r.goalSize()
	rs, okR := r.agg("recordsync", n)
	cf, okC := r.agg("centrifugo", n)
	fl := r.floor(n)
	k := fmt.Sprintf("%dk", n/1000)
	floorP99 := ""
	if fl != nil {
		floorP99 = fmt.Sprintf("the bare-write floor's own p99 at %s is %.0f ms in this run", k, fl.P99ms)
	}
	switch {
	case okR && okC:
		gs = append(gs, goal{Name: "Fan-out p99 at " + k + " ≤ Centrifugo's", Known: true, Met: rs.P99 <= cf.P99,
			Measured: fmt.Sprintf("%.0f vs %.0f ms (%.2f×; medians of %d and %d runs: %s vs %s)", rs.P99, cf.P99, rs.P99/math.Max(cf.P99, 0.001), rs.Runs, cf.Runs, floats(rs.P99s, "%.0f"), floats(cf.P99s, "%.0f")),
			Goal:     "≤ 1.00×", Bound: floorP99})
		gs = append(gs, goal{Name: "CPU per delivered message at " + k + " ≤ Centrifugo's", Known: true, Met: rs.CPUPerMsg <= cf.CPUPerMsg,
			Measured: fmt.Sprintf("%.1f vs %.1f µs (%.2f×; runs %s vs %s)", rs.CPUPerMsg, cf.CPUPerMsg, rs.CPUPerMsg/math.Max(cf.CPUPerMsg, 0.001), floats(rs.CPUPerMsgs, "%.1f"), floats(cf.CPUPerMsgs, "%.1f")),
			Goal:     "≤ 1.00×", Bound: floorCPU(fl)})
	case okR:
		gs = append(gs, goal{Name: "Fan-out p99 and CPU per message at " + k + " ≤ Centrifugo's", Measured: "Centrifugo not measured in this run", Goal: "≤ 1.00×"})
	}
	// memory: at every size both measured, judged at the largest
	for _, size := range r.Cfg.Sizes {
		a, ok1 := r.agg("recordsync", size)
		c, ok2 := r.agg("centrifugo", size)
		if !ok1 || !ok2 || c.KB <= 0 {
			continue
		}
		best := c.KB
		gs = append(gs, goal{Name: fmt.Sprintf("Idle memory per socket at %dk ≤ 0.5× the best peer (Centrifugo; Mercure not measurable here)", size/1000), Known: true, Met: a.KB <= 0.5*best,
			Measured: fmt.Sprintf("%.1f vs %.1f KB RSS (%.2f×); own metrics (heap + stacks in use) %.1f vs %.1f KB; goroutines %.2f vs %.2f per socket", a.KB, best, a.KB/best, a.HeapKB, c.HeapKB, a.Gor, c.Gor),
			Goal:     "≤ 0.50×"})
	}
	if okR && fl != nil && fl.WritesPerCPU() > 0 {
		x := rs.MsgPerCPU / fl.WritesPerCPU()
		gs = append(gs, goal{Name: "Delivered messages per CPU-second at " + k + " ≥ 0.85× the bare-write floor", Known: true, Met: x >= 0.85,
			Measured: fmt.Sprintf("%.0f vs %.0f per CPU-second (%.2f×)", rs.MsgPerCPU, fl.WritesPerCPU(), x),
			Goal:     "≥ 0.85×", Bound: "the floor: one write(2) of the same frame per socket, no websocket library, no hub"})
	}
	if s := r.Storm; s != nil && s.Connected > 0 {
		gs = append(gs, goal{Name: fmt.Sprintf("Reconnect storm (%d sockets of %d users, instance killed %.0f s after subscribing): all back", s.Connected, s.Users, s.AfterSecs),
			Known: true, Met: s.AllBack && s.NotBack == 0,
			Measured: fmt.Sprintf("%d of %d back on the other instance in %.1f s (p50 %.1f s, p99 %.1f s)", s.Back, s.Connected, s.AllBackSecs, s.BackP50, s.BackP99),
			Goal:     "all", Bound: s.bound()})
		gs = append(gs, goal{Name: "… nothing missed (every flow saved again during the outage; each socket ends with its flow's newest version)", Known: true, Met: s.Missed == 0 && s.NotBack == 0 && s.OutageSaves > 0,
			Measured: fmt.Sprintf("%d missed; %d saves during the outage (%d answered before all were back); %d record subscriptions carried `since`, %d sockets caught up by it", s.Missed, s.OutageSaves, s.OutageSavesBeforeBack, s.SinceSent, s.CaughtUp),
			Goal:     "0 missed"})
		gs = append(gs, goal{Name: "… resubscriptions whose `/broadcasting/auth` reached PHP", Known: true, Met: s.Resubscriptions > 0 && s.Ratio() <= 0.10,
			Measured: fmt.Sprintf("%d of %d (%.0f%%)", s.AuthPHP, s.Resubscriptions, 100*s.Ratio()), Goal: "≤ 10%", Bound: s.ratioBound()})
	}
	return gs
}

// floorCPU says what one write costs at the floor.
func floorCPU(fl *floorResult) string {
	if fl == nil || fl.WritesPerCPU() <= 0 {
		return ""
	}
	return fmt.Sprintf("the floor: %.1f µs of CPU per bare write(2) of the same frame", 1e6/fl.WritesPerCPU())
}

// bound says what bounds the time until all are back.
func (s *stormResult) bound() string {
	if s.Resubscriptions == 0 {
		return ""
	}
	spread := "the clients reconnect over a random 0–1 s"
	if s.AuthPHP == 0 || s.PHPAuthPerSec == 0 {
		return fmt.Sprintf("%s; no auth request waited for PHP; the surviving instance used %.1f CPU-seconds", spread, s.CaddyBCPU)
	}
	return fmt.Sprintf("%s; PHP (%d php-fpm workers) answered %.0f auth requests per second during the storm (besides %d other requests, the saves); %d auth requests at that rate take %.0f s",
		spread, s.PHPFPMWorkers, s.PHPAuthPerSec, s.OtherPHP, s.AuthPHP, float64(s.AuthPHP)/s.PHPAuthPerSec)
}

// countsStr is "a 1, b 2" in key order.
func countsStr(m map[string]int) string {
	return joinSorted(m, ", ", func(k string, v int) string { return fmt.Sprintf("%s %d", k, v) })
}

// joinSorted is each entry of m as item formats it, in key order, joined
// by sep.
func joinSorted[V any](m map[string]V, sep string, item func(k string, v V) string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, item(k, m[k]))
	}
	return strings.Join(parts, sep)
}

// grantAges are how long before the kill the first grants were given, the
// newest and the oldest (seconds); reports that predate the fields give
// the wait after subscribing and that plus the time subscribing took.
func (s *stormResult) grantAges() (lo, hi float64) {
	if s.GrantAgeMax > 0 {
		return s.GrantAgeMin, s.GrantAgeMax
	}
	return s.AfterSecs, s.AfterSecs + s.InitialPHPAuthDuration
}

// authResults lists AuthResults ("result=\"signed\" 600, …").
func (s *stormResult) authResults() string {
	if len(s.AuthResults) == 0 {
		return fmt.Sprintf("%.0f signed", s.Signed)
	}
	return labelCounts(s.AuthResults)
}

// labelCounts lists samples by label set, sorted ("result=\"signed\" 600, …").
func labelCounts(m map[string]float64) string {
	return joinSorted(m, ", ", func(k string, v float64) string { return fmt.Sprintf("%s %.0f", strings.Trim(k, "{}"), v) })
}

// ratioBound says what bounds the share reaching PHP.
func (s *stormResult) ratioBound() string {
	if s.Resubscriptions == 0 {
		return ""
	}
	itself := max(s.AuthRequests-s.AuthErrors-s.AuthPHP, 0)
	b := fmt.Sprintf("each resubscription is a new socket id, so pusher-js sends a new auth request (%d sent, %d failed): %d reached PHP, recordsync answered %d itself (the surviving instance's `recordsync_auth_signatures_total` over the storm: %s)",
		s.AuthRequests, s.AuthErrors, s.AuthPHP, itself, s.authResults())
	if len(s.Answers) > 0 {
		b += "; the answers by channel kind and how (`X-Recordsync-Grant`): " + countsStr(s.Answers)
	}
	if len(s.GrantsA) > 0 {
		b += "; the grant memory (`recordsync_grants_total`) of A while subscribing: " + labelCounts(s.GrantsA)
	}
	if len(s.GrantsB) > 0 {
		b += "; of B during the storm: " + labelCounts(s.GrantsB)
	}
	if len(s.PHPByKind) > 0 {
		b += "; reaching PHP by channel kind: " + countsStr(s.PHPByKind)
	}
	if s.PHPCallers > 0 {
		b += fmt.Sprintf(", from %d of the %d users", s.PHPCallers, s.Users)
	}
	lo, hi := s.grantAges()
	b += fmt.Sprintf("; an auth request stays away from PHP only when a grant remembered from before the kill (cluster-wide, for the caller and channel) answers it, and the app gave those grants %.0f–%.0f s before the kill (subscribing %d sockets through PHP took %.0f s), while the storm lasted %.0f s more", lo, hi, s.Connected, hi-lo, s.AllBackSecs)
	return b
}

// goalsTable writes the goals with their verdicts.
func (r *report) goalsTable(b *strings.Builder) {
	gs := r.goals()
	if len(gs) == 0 {
		return
	}
	fmt.Fprintf(b, "| Goal (same run) | Measured | Goal | Verdict | What bounds it (same run) |\n|---|---|---|---|---|\n")
	for _, g := range gs {
		v := "–"
		if g.Known {
			v = verdict(g.Met)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", g.Name, g.Measured, g.Goal, v, orDash(g.Bound))
	}
	b.WriteString("\n")
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// peersNote says which peers ran and which could not.
func (r *report) peersNote(b *strings.Builder) {
	if r.CentrifugoBuild != "" {
		fmt.Fprintf(b, "**Centrifugo** (`%s`, built by the bench with `go install` into the user's cache folder, outside the repository; memory engine, the generated config shown under Configurations) runs beside recordsync in the same run, measured the same way with the bench's own client of its protocol. ", r.CentrifugoBuild)
	} else if !r.Cfg.SkipPeers {
		fmt.Fprintf(b, "**Centrifugo** could not be built in this run (see the errors above). ")
	}
	if r.Mercure != "" {
		fmt.Fprintf(b, "**Mercure** is not measurable here: its Go modules are not served by the module registry this machine can reach (%s).", strings.ReplaceAll(r.Mercure, "|", "/"))
	}
	b.WriteString("\n\n")
}

// fanSection is section 4–5: recordsync and Centrifugo side by side.
func (r *report) fanSection(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## 4–5. Fan-out and idle connections, recordsync and Centrifugo\n\n")
	r.peersNote(b)
	p("For each size and round a fresh server: Caddy with recordsync (websocket at `/ws/app/%s`), or Centrifugo. A separate generator process (`bench -role=subscribers`, its own 20k-file limit) opens N websockets from 127.0.0.1 with the bench's own client of each protocol: recordsync's subscribe to `private-record.flow.1` with an HMAC signature (the bench knows `app_secret`), Centrifugo's connect with a JWT the bench signs (HS256) and subscribe to `rec:flow.1`. The two systems alternate (A, B, then B, A, …; %d rounds per size) and the tables give the median of the rounds. ", benchAppKey, r.Cfg.FanRounds)
	p("Idle cost: server VmRSS, and the server's own Go metrics (heap + stacks in use, goroutines: Caddy's admin `/metrics`, Centrifugo's `/metrics`), 2 s after all subscribed minus before connecting, divided by N. ")
	p("Then 20 publishes 250 ms apart: recordsync's are PUTs of the record through Caddy (the Go upstream answers, recordsync learns and broadcasts `record.updated`), Centrifugo's are `POST /api/publish` of a payload of the same fields and size. Latency = receive time in the generator − the time just before the request was sent, over all deliveries (same clock, same machine). CPU is the server process's during the publishes and 2 s after; per delivered message and its inverse, delivered messages per CPU-second. Messages/s is per publish burst N / (last delivery − publish), median over publishes.\n\n")
	p("| Subscribers | System | Runs | Connected (failed) | KB per conn (RSS) | KB per conn (own metrics) | Goroutines per conn | Delivered / expected | p50 ms | p99 ms | max ms | msg/s (burst) | msg per server CPU-s | CPU µs per msg |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range r.Cfg.Sizes {
		for _, sys := range []string{"recordsync", "centrifugo"} {
			a, ok := r.agg(sys, n)
			if !ok {
				for _, f := range append(append([]fanResult(nil), r.Fan...), r.CentFan...) {
					if f.N == n && f.sys() == sys && f.Err != "" {
						p("| %d | %s | error: %s ||||||||||||\n", n, sys, strings.ReplaceAll(truncate(f.Err, 200), "\n", " "))
						break
					}
				}
				continue
			}
			p("| %d | %s | %d | %d (%d) | %.1f | %.1f | %.2f | %d / %d | %.1f | %.1f | %.1f | %.0f | %.0f | %.1f |\n",
				n, sysName(sys), a.Runs, a.Connected, a.Failed, a.KB, a.HeapKB, a.Gor, a.Delivered, a.Expected, a.P50, a.P99, a.Max, median(a.Rate), a.MsgPerCPU, a.CPUPerMsg)
		}
	}
	p("\nEvery run (round, system): p99 ms, CPU µs per message, KB per connection (RSS):\n\n")
	for _, n := range r.Cfg.Sizes {
		var parts []string
		for _, f := range append(append([]fanResult(nil), r.Fan...), r.CentFan...) {
			if f.N == n && f.Err == "" {
				parts = append(parts, fmt.Sprintf("%d %s: %.0f ms, %.1f µs, %.1f KB", f.Round, sysName(f.sys()), f.Stats.P99ms, f.CPUPerMsgUS(), f.KBPerConn))
			}
		}
		if len(parts) > 0 {
			p("- %d: %s\n", n, strings.Join(parts, "; "))
		}
	}
	p("\n")
	if len(r.Floor) > 0 {
		p("**The floor** (same run, same sizes): a writer process holds N TCP connections from a reader process (one goroutine per connection, like the generator) and, 20 times 250 ms apart, writes a frame of the same size to every connection from %d goroutines: a bare write(2) per delivery, no websocket library, no hub, no queue. On loopback that call also runs the receiver's TCP input and wakes its reader, so it is most of what a delivery costs; no server can go below it.\n\n", runtime.GOMAXPROCS(0))
		p("| Sockets | Frame bytes | Floor: writes per CPU-s | recordsync msg per CPU-s | recordsync / floor | Centrifugo msg per CPU-s | Centrifugo / floor | floor p50 / p99 / max ms | recordsync p50 / p99 / max ms | Centrifugo p50 / p99 / max ms |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, fl := range r.Floor {
			if fl.Err != "" {
				p("| %d | error: %s |||||||||\n", fl.N, strings.ReplaceAll(truncate(fl.Err, 200), "\n", " "))
				continue
			}
			a, ok := r.agg("recordsync", fl.N)
			if !ok {
				continue
			}
			cs, cr, cl := "–", "–", "–"
			if c, ok := r.agg("centrifugo", fl.N); ok {
				cs, cr, cl = fmt.Sprintf("%.0f", c.MsgPerCPU), fmt.Sprintf("%.2f×", c.MsgPerCPU/math.Max(fl.WritesPerCPU(), 1)), fmt.Sprintf("%.1f / %.1f / %.1f", c.P50, c.P99, c.Max)
			}
			p("| %d | %d | %.0f | %.0f | %.2f× | %s | %s | %.1f / %.1f / %.1f | %.1f / %.1f / %.1f | %s |\n", fl.N, fl.Size, fl.WritesPerCPU(), a.MsgPerCPU,
				a.MsgPerCPU/math.Max(fl.WritesPerCPU(), 1), cs, cr, fl.P50ms, fl.P99ms, fl.Maxms, a.P50, a.P99, a.Max, cl)
		}
		p("\n")
	}
	for _, f := range append(append([]fanResult(nil), r.Fan...), r.CentFan...) {
		if f.Stats.FirstError != "" {
			p("First connect error (%s, %d): `%s`\n\n", sysName(f.sys()), f.N, f.Stats.FirstError)
		}
		if f.Stats.Unknown > 0 || f.Stats.Closed > 0 {
			p("%s at %d (round %d): %d deliveries of unknown versions, %d sockets closed during the run.\n\n", sysName(f.sys()), f.N, f.Round, f.Stats.Unknown, f.Stats.Closed)
		}
	}
	r.chart(b, "fanout_latency", "Fan-out latency, recordsync and Centrifugo")
	r.chart(b, "fanout_rate", "Delivered messages per CPU-second")
	r.chart(b, "memory", "Memory per idle connection")
}

func sysName(s string) string {
	if s == "centrifugo" {
		return "Centrifugo"
	}
	return s
}

// shapeAgg is one system at one rate: medians over rounds.
type shapeAgg struct {
	Runs                        int
	P50, P99, Max               float64
	SaveP50, SaveP99            float64
	CPUPerMsg, Achieved, UpCPUs float64
	Delivered, Expected, Errs   int
}

func (s *shapeResult) agg(system string, rate int) (shapeAgg, bool) {
	runs := s.runs(system, rate)
	if len(runs) == 0 {
		return shapeAgg{}, false
	}
	var a shapeAgg
	var p50, p99, mx, cpu, ach, up, s50, s99 []float64
	for _, r := range runs {
		a.Runs++
		s50, s99 = append(s50, r.SaveP50), append(s99, r.SaveP99)
		p50, p99, mx = append(p50, r.Stats.P50ms), append(p99, r.Stats.P99ms), append(mx, r.Stats.Maxms)
		cpu, ach = append(cpu, r.CPUPerMsgUS()), append(ach, r.Achieved)
		if r.Stats.Delivered > 0 {
			up = append(up, 1e6*r.UpCPU/float64(r.Stats.Delivered))
		}
		a.Delivered += r.Stats.Delivered
		a.Expected += r.Stats.Expected
		a.Errs += r.SaveErrs
	}
	a.P50, a.P99, a.Max, a.CPUPerMsg, a.Achieved, a.UpCPUs = median(p50), median(p99), median(mx), median(cpu), median(ach), median(up)
	a.SaveP50, a.SaveP99 = median(s50), median(s99)
	return a, true
}

// rates are the rates measured, in order.
func (s *shapeResult) rates() []int {
	var out []int
	for _, r := range s.Runs {
		if !containsInt(out, r.Rate) {
			out = append(out, r.Rate)
		}
	}
	sort.Ints(out)
	return out
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// shapeSection is section 8.
func (r *report) shapeSection(b *strings.Builder) {
	s := r.Shape
	if s == nil {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## 8. The realistic shape: many small channels\n\n")
	p("%d sockets, each on a record channel, a list channel and a presence channel, over %d records in lists of %d (3–4 sockets per record, ~%d per list; each socket its own user). ",
		s.Sockets, s.Records, s.PerList, s.Sockets*s.PerList/max(s.Records, 1))
	p("recordsync: `private-record.projecttask.{id}`, `private-project.{p}` (the route's `list` rule) and `presence-record.projecttask.{id}` (configuration S below); a save is a PUT of `/api/v1/projects/{p}/tasks/{id}` through Caddy with recordsync to the Go upstream (the proxy path, not the HTTP API), announced as `record.updated` and `task.updated`. ")
	p("Centrifugo: the same layout in namespaces `rec`, `list` and `pres` (presence and join/leave messages on); a save is one `POST /api/broadcast` of the same payload to the record's two channels. ")
	p("A save's event leaves only after its request is answered (recordsync publishes after the app's answer; Centrifugo after the API call is handled), so the save request's own round trip is part of every delivery's latency: the table gives it. ")
	p("Saves come at a steady rate from 32 workers, the record of each the next of a walk over all %d (so consecutive saves hit different records and lists), for %.0f s per rate; both servers and both generators are up at once and the systems alternate per rate (A, B; the next round B, A). Latency: receive time − the time just before the save's request, over all deliveries. CPU per delivered message: the server process's CPU during the saves and 2 s after, over its deliveries — recordsync's includes proxying each PUT to the app and reading its answer (the Go upstream's own CPU is given apart).\n\n", s.Records, s.Seconds)
	if len(s.Errors) > 0 {
		for _, e := range s.Errors {
			p("- error: %s\n", strings.ReplaceAll(truncate(e, 300), "\n", " "))
		}
		p("\n")
	}
	p("| System | Connected (failed) | Connect time | KB per socket, 3 subscriptions (RSS) | KB per socket (own metrics) |\n|---|---|---|---|---|\n")
	for _, sys := range []string{"recordsync", "centrifugo"} {
		if c, ok := s.Conn[sys]; ok {
			p("| %s | %d (%d) | %.1f s | %.1f | %.1f |\n", sysName(sys), c.Connected, c.Failed, c.ConnectSecs, c.KBPerConn, c.HeapKBPerConn)
		}
	}
	p("\n| Saves per second | System | Runs | Saves made per s | Save request round trip p50 / p99 ms | Delivered / expected | p50 ms | p99 ms | max ms | server CPU µs per delivered msg | upstream CPU µs per msg | recordsync / Centrifugo: p99, CPU per msg |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, rate := range s.rates() {
		ra, okR := s.agg("recordsync", rate)
		ca, okC := s.agg("centrifugo", rate)
		for _, sys := range []string{"recordsync", "centrifugo"} {
			a, ok := ra, okR
			if sys == "centrifugo" {
				a, ok = ca, okC
			}
			if !ok {
				continue
			}
			up, rat := "–", ""
			if sys == "recordsync" {
				up = fmt.Sprintf("%.1f", a.UpCPUs)
				if okC && ca.P99 > 0 && ca.CPUPerMsg > 0 {
					rat = fmt.Sprintf("%.2f×, %.2f×", ra.P99/ca.P99, ra.CPUPerMsg/ca.CPUPerMsg)
				}
			}
			p("| %d | %s | %d | %.0f | %.1f / %.1f | %d / %d | %.1f | %.1f | %.1f | %.1f | %s | %s |\n", rate, sysName(sys), a.Runs, a.Achieved, a.SaveP50, a.SaveP99, a.Delivered, a.Expected, a.P50, a.P99, a.Max, a.CPUPerMsg, up, orDash(rat))
		}
	}
	p("\n")
	for _, run := range s.Runs {
		if run.FirstErr != "" {
			p("- %s at %d/s, round %d: %d save errors, first: `%s`\n", sysName(run.System), run.Rate, run.Round, run.SaveErrs, truncate(run.FirstErr, 200))
		}
	}
	r.chart(b, "shape", "The realistic shape: delivery latency")
	r.chart(b, "shape_cpu", "The realistic shape: CPU per delivered message")
}

// stormSection is section 9.
func (r *report) stormSection(b *strings.Builder) {
	s := r.Storm
	if s == nil {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## 9. The reconnect storm\n\n")
	p("A two-instance cluster (two Caddies with recordsync and `cluster` on one local Redis, configuration R below) in front of the example Laravel app on php-fpm (%d workers, SQLite; Laravel's redis broadcaster, so `/broadcasting/auth` answers `true` or the member's `channel_data` and recordsync signs it). ", s.PHPFPMWorkers)
	p("%d users log in (`POST /login`); the storm generator (`bench -role=storm`) opens %d sockets on instance A, socket i being tab i div %d of user i mod %d; each tab shows one of %d flows (a user's tabs show different flows) and subscribes as pusher-js does: for `private-record.flow.{f}` and `presence-record.flow.{f}` a form POST of `socket_id` and `channel_name` to `/broadcasting/auth` through Caddy with the user's session cookie and CSRF token, then `pusher:subscribe` with the answer. Every flow is saved once through A, so each socket knows its flow's version. ",
		s.Users, s.Sockets, s.Users, s.Users, s.Flows)
	p("%.0f s after subscribing, A is killed (SIGKILL); each socket reconnects to B after a random 0–1 s, authorises both channels again for its new socket id and subscribes the record channel with `\"since\":\"<the last version it got>\"`; meanwhile every flow is saved again through B. A FastCGI forwarder between Caddy and php-fpm counts what reached PHP.\n\n", s.AfterSecs)
	for _, e := range s.Errors {
		p("- error: %s\n", strings.ReplaceAll(truncate(e, 400), "\n", " "))
	}
	if len(s.Errors) > 0 {
		p("\n")
	}
	p("| | Subscribing at the start (A) | The storm (A killed, back on B) |\n|---|---|---|\n")
	p("| Sockets | %d subscribed (%d failed) in %.1f s; %d users logged in in %.1f s | %d of %d back; all back: %s |\n", s.Connected, s.Failed, s.InitialSecs, s.Users, s.LoginSecs, s.Back, s.Connected, yesNo(s.AllBack && s.NotBack == 0))
	p("| Time | – | all back %.1f s after the kill; per socket p50 %.1f s, p99 %.1f s |\n", s.AllBackSecs, s.BackP50, s.BackP99)
	p("| Subscriptions | %d | %d resubscriptions (%d with `since`; %d sockets caught up by it) |\n", s.InitialSubscriptions, s.Resubscriptions, s.SinceSent, s.CaughtUp)
	p("| `/broadcasting/auth` requests sent by the clients | %d (%d failed) | %d (%d failed) |\n", s.InitialAuthRequests, s.InitialAuthErrors, s.AuthRequests, s.AuthErrors)
	p("| … that reached PHP (php-fpm) | %d (%.0f per second) | **%d = %.0f%% of the resubscriptions** (%.0f per second); other PHP requests meanwhile: %d |\n", s.InitialAuthPHP, s.InitialAuthPHPPerSec, s.AuthPHP, 100*s.Ratio(), s.PHPAuthPerSec, s.OtherPHP)
	p("| Saves | %d through A (%d failed) | %d through B during the outage (%d failed; %d answered before all were back) |\n", s.PreSaves, s.PreSaveErrors, s.OutageSaves, s.OutageSaveErrors, s.OutageSavesBeforeBack)
	p("| Missed | – | %d sockets without their flow's newest version; %d not back |\n", s.Missed, s.NotBack)
	p("| CPU during the storm | – | php-fpm %.1f s, Caddy B %.1f s |\n", s.PHPCPU, s.CaddyBCPU)
	p("\n")
	if s.FirstError != "" {
		p("First error while subscribing: `%s`\n\n", truncate(s.FirstError, 300))
	}
	if s.FirstStormError != "" || s.DialErrors > 0 || s.SubErrors > 0 || s.ClosedBeforeKill > 0 {
		p("During the storm: %d dial errors, %d subscription errors, %d sockets closed before the kill; first error: `%s`\n\n", s.DialErrors, s.SubErrors, s.ClosedBeforeKill, truncate(s.FirstStormError, 300))
	}
	if b := s.ratioBound(); b != "" {
		p("What bounds the share reaching PHP: %s. What bounds the time: %s.\n\n", b, orDash(s.bound()))
	}
	r.chart(b, "storm", "The reconnect storm: auth requests reaching PHP")
}

// headlinePeers are the headline's rows about fan-out, memory, the shape
// and the storm: recordsync against Centrifugo and the floor of the same run.
func (r *report) headlinePeers(b *strings.Builder) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	n := r.goalSize()
	k := fmt.Sprintf("%dk", n/1000)
	rs, okR := r.agg("recordsync", n)
	cf, okC := r.agg("centrifugo", n)
	if okR && okC {
		p("| Fan-out to %s subscribers, p99 | p50 %.0f / p99 %.0f / max %.0f ms | Centrifugo: p50 %.0f / p99 %.0f / max %.0f ms | %.2f× | ≤ 1.00× Centrifugo | %s |\n",
			k, rs.P50, rs.P99, rs.Max, cf.P50, cf.P99, cf.Max, rs.P99/math.Max(cf.P99, 0.001), yesNo(rs.P99 <= cf.P99))
		p("| CPU per delivered message (%s) | %.1f µs (%.0f msg per CPU-s) | Centrifugo: %.1f µs (%.0f msg per CPU-s) | %.2f× | ≤ 1.00× Centrifugo | %s |\n",
			k, rs.CPUPerMsg, rs.MsgPerCPU, cf.CPUPerMsg, cf.MsgPerCPU, rs.CPUPerMsg/math.Max(cf.CPUPerMsg, 0.001), yesNo(rs.CPUPerMsg <= cf.CPUPerMsg))
	} else if okR {
		p("| Fan-out to %s subscribers | p50 %.0f / p99 %.0f / max %.0f ms, %.1f µs CPU per message | Centrifugo not measured | – | ≤ 1.00× Centrifugo | – |\n", k, rs.P50, rs.P99, rs.Max, rs.CPUPerMsg)
	}
	if fl := r.floor(n); okR && fl != nil && fl.WritesPerCPU() > 0 {
		x := rs.MsgPerCPU / fl.WritesPerCPU()
		p("| Delivered messages per CPU-second (%s) | %.0f | bare write(2) per socket, no websocket, no hub: %.0f | %.2f× the floor | ≥ 0.85× | %s |\n", k, rs.MsgPerCPU, fl.WritesPerCPU(), x, yesNo(x >= 0.85))
	}
	if a, ok := r.agg("recordsync", 1000); ok && n != 1000 {
		if c, ok := r.agg("centrifugo", 1000); ok {
			p("| Fan-out to 1k subscribers, p99 | p50 %.0f / p99 %.0f / max %.0f ms | Centrifugo: p50 %.0f / p99 %.0f / max %.0f ms | %.2f× | – | – |\n", a.P50, a.P99, a.Max, c.P50, c.P99, c.Max, a.P99/math.Max(c.P99, 0.001))
		}
	}
	// memory at the largest size both measured
	for i := len(r.Cfg.Sizes) - 1; i >= 0; i-- {
		size := r.Cfg.Sizes[i]
		a, ok1 := r.agg("recordsync", size)
		c, ok2 := r.agg("centrifugo", size)
		if !ok1 {
			continue
		}
		if !ok2 || c.KB <= 0 {
			p("| Memory per idle connection (%dk) | %.1f KB | Centrifugo not measured | – | ≤ 0.5× the best peer | – |\n", size/1000, a.KB)
		} else {
			p("| Memory per idle connection (%dk) | %.1f KB (own metrics %.1f KB) | Centrifugo: %.1f KB (own metrics %.1f KB); Mercure not measurable here | %.2f× | ≤ 0.50× the best peer | %s |\n",
				size/1000, a.KB, a.HeapKB, c.KB, c.HeapKB, a.KB/c.KB, yesNo(a.KB <= 0.5*c.KB))
		}
		p("| Goroutines per idle connection (%dk) | %.2f | Centrifugo: %s | – | ≤ 2 | %s |\n", size/1000, a.Gor, fmtOr(ok2, "%.2f", c.Gor), yesNo(a.Gor <= 2.05))
		break
	}
	if s := r.Shape; s != nil {
		rates := s.rates()
		for i := len(rates) - 1; i >= 0; i-- {
			ra, ok1 := s.agg("recordsync", rates[i])
			ca, ok2 := s.agg("centrifugo", rates[i])
			if !ok1 || !ok2 {
				continue
			}
			p("| Realistic shape (%dk sockets × record, list, presence channel; %d saves/s through the proxy) | p99 %.0f ms, %.1f µs CPU per delivered message | Centrifugo, same layout and rate: p99 %.0f ms, %.1f µs | %.2f× p99, %.2f× CPU | no goal (info) | – |\n",
				s.Sockets/1000, rates[i], ra.P99, ra.CPUPerMsg, ca.P99, ca.CPUPerMsg, ra.P99/math.Max(ca.P99, 0.001), ra.CPUPerMsg/math.Max(ca.CPUPerMsg, 0.001))
			break
		}
	}
	if s := r.Storm; s != nil && s.Connected > 0 {
		p("| Reconnect storm: %d sockets of %d users, instance killed | all back in %.1f s, %d missed | – | – | all back, nothing missed | %s |\n",
			s.Connected, s.Users, s.AllBackSecs, s.Missed, yesNo(s.AllBack && s.NotBack == 0 && s.Missed == 0))
		p("| … resubscriptions whose `/broadcasting/auth` reached PHP | %d of %d | %d auth requests sent by the clients, %d answered by recordsync itself | %.0f%% | ≤ 10%% | %s |\n",
			s.AuthPHP, s.Resubscriptions, s.AuthRequests, max(s.AuthRequests-s.AuthErrors-s.AuthPHP, 0), 100*s.Ratio(), yesNo(s.Resubscriptions > 0 && s.Ratio() <= 0.10))
	}
}

func fmtOr(ok bool, format string, v float64) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf(format, v)
}
