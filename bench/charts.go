package main

import (
	"fmt"
	"math"
	"path/filepath"
)

// drawCharts writes the report's PNG charts into dir (next to the report)
// and records their file names in r.Charts. A chart without data is skipped.
func (r *report) drawCharts(dir string) {
	r.Charts = map[string]string{}
	save := func(key string, c barChart) {
		if len(c.Groups) == 0 {
			return
		}
		name := key + ".png"
		if err := c.png(filepath.Join(dir, name)); err != nil {
			logf("chart %s: %v", name, err)
			return
		}
		r.Charts[key] = name
	}
	reqs := func(v float64) string { return fmt.Sprintf("%.0f req/s", v) }
	withRatio := func(ss []*series) []string {
		var notes []string
		for i, s := range ss {
			n := reqs(s.RPS())
			if i > 0 && ss[0].RPS() > 0 {
				n += fmt.Sprintf(" (%.2fx)", s.RPS()/ss[0].RPS())
			}
			notes = append(notes, n)
		}
		return notes
	}
	rates := func(ss []*series) []float64 {
		var vs []float64
		for _, s := range ss {
			vs = append(vs, s.RPS())
		}
		return vs
	}

	// 1–2. throughput vs plain reverse_proxy
	{
		c := barChart{Title: "Throughput vs plain Caddy reverse_proxy",
			Subtitle: fmt.Sprintf("Go upstream, wrk -c%d, median of %d alternated runs; targets: pass-through >= 0.97x, record routes >= 0.90x", r.Cfg.Conns, r.Cfg.Rounds),
			Axis:     "requests per second", Series: []string{"plain reverse_proxy", "recordsync + reverse_proxy"}, Format: reqs}
		for _, row := range []struct {
			name string
			ss   []*series
		}{{"pass-through GET", r.Pass}, {"record GET", r.Get}, {"record PUT", r.Put}} {
			if len(row.ss) == 2 {
				c.Groups = append(c.Groups, barGroup{Label: row.name, Values: rates(row.ss), Notes: withRatio(row.ss)})
			}
		}
		save("http", c)
	}

	// 3. conflicts and polls: the app vs the cache
	{
		c := barChart{Title: "Stale writes (409) and version polls",
			Subtitle: "answered by the app vs by recordsync's cache; target: cache >= 50x the PHP app",
			Axis:     "requests per second", Log: true, Series: []string{"answered by the app", "answered from recordsync's cache"}, Format: reqs}
		for _, row := range []struct {
			name string
			ss   []*series
		}{{"409, Laravel (php-fpm)", r.LaravelConflict}, {"poll, Laravel (php-fpm)", r.LaravelPoll},
			{"409, Go upstream", r.GoConflict}, {"poll, Go upstream", r.GoPoll}} {
			if len(row.ss) == 2 && len(row.ss[1].Runs) > 0 {
				c.Groups = append(c.Groups, barGroup{Label: row.name, Values: rates(row.ss), Notes: withRatio(row.ss)})
			}
		}
		save("cache", c)
	}

	ms := func(v float64) string { return fmt.Sprintf("%.1f ms", v) }
	k := func(n int) string { return fmt.Sprintf("%dk", n/1000) }
	// 4. fan-out latency, with the reference figures
	{
		c := barChart{Title: "Fan-out latency: one publish to N subscribers",
			Subtitle: "receive time - publish time over all deliveries, 20 publishes 250 ms apart; references from performance.md (same method)",
			Axis:     "milliseconds", Log: true, Series: []string{"p50", "p99", "max"}, Format: ms,
			Target: 60, TargetLabel: "target: p99 <= 60 ms at 10k"}
		refs := map[int][]struct {
			name          string
			p50, p99, max float64
		}{
			1000:  {{"Centrifugo v6", 9, 21, 0}, {"Mercure", 0, 50, 0}},
			10000: {{"Centrifugo v6", 78, 169, 0}, {"Mercure", 80, 151, 0}},
			18000: {{"Centrifugo v6", 141, 352, 0}},
		}
		for _, f := range r.Fan {
			if f.Err != "" {
				continue
			}
			c.Groups = append(c.Groups, barGroup{Label: k(f.N) + " recordsync", Values: []float64{f.Stats.P50ms, f.Stats.P99ms, f.Stats.Maxms}})
			if cf := r.clusterFan(f.N); cf != nil {
				c.Groups = append(c.Groups, barGroup{Label: k(f.N) + " recordsync, 2-instance cluster", Values: []float64{cf.Stats.P50ms, cf.Stats.P99ms, cf.Stats.Maxms}})
			}
			for _, ref := range refs[f.N] {
				c.Groups = append(c.Groups, barGroup{Label: k(f.N) + " " + ref.name + " (reference)", Values: []float64{ref.p50, ref.p99, ref.max}})
			}
		}
		save("fanout_latency", c)
	}
	// 4. delivered messages per Caddy CPU-second and per burst
	{
		c := barChart{Title: "Delivered messages",
			Subtitle: "per Caddy CPU-second during the publishes (target >= 100k per core), and per publish burst (wall clock)",
			Axis:     "messages per second", Series: []string{"per Caddy CPU-second", "per burst, wall clock"}, Colors: []int{1, 3},
			Target: 100000, TargetLabel: "target: 100k per core"}
		for _, f := range r.Fan {
			if f.Err == "" {
				c.Groups = append(c.Groups, barGroup{Label: k(f.N) + " one instance", Values: []float64{f.MsgPerCPU(), f.Stats.MsgsPerSec}})
			}
			if cf := r.clusterFan(f.N); cf != nil {
				c.Groups = append(c.Groups, barGroup{Label: k(f.N) + " 2-instance cluster", Values: []float64{cf.MsgPerCPU(), cf.Stats.MsgsPerSec}})
			}
		}
		save("fanout_rate", c)
	}
	// 5. memory per idle connection
	{
		c := barChart{Title: "Memory per idle subscribed websocket",
			Subtitle: "server RSS after connecting minus before, / N; goroutines per connection in the label; references from performance.md",
			Axis:     "KB per connection", Series: []string{"recordsync", "Centrifugo v6 (reference)", "Mercure (reference)"}, Colors: []int{1, 0, 4},
			Format: func(v float64) string { return fmt.Sprintf("%.1f KB", v) }, Target: 20, TargetLabel: "target: <= 20 KB"}
		refs := map[int][2]float64{1000: {53.6, 46.2}, 10000: {47.5, 47.1}, 18000: {45.7, math.NaN()}}
		for _, f := range r.Fan {
			if f.Err != "" {
				continue
			}
			ref, ok := refs[f.N]
			if !ok {
				ref = [2]float64{math.NaN(), math.NaN()}
			}
			label := fmt.Sprintf("%s (%d connected, %.2f goroutines/conn)", k(f.N), f.Stats.Connected, f.GorPerConn)
			c.Groups = append(c.Groups, barGroup{Label: label, Values: []float64{f.KBPerConn, ref[0], ref[1]}})
		}
		save("memory", c)
	}
	// 6. cluster fan-out vs one instance
	{
		c := barChart{Title: "Two-instance cluster vs one instance: fan-out p99",
			Subtitle: "publisher writes through A; in the cluster half the subscribers sit on B and get the event via Redis",
			Axis:     "p99 latency, milliseconds", Log: true, Series: []string{"one instance", "cluster: subscribers on A", "cluster: subscribers on B (via Redis)"},
			Format: ms, Target: 60, TargetLabel: "target: p99 <= 60 ms at 10k"}
		for _, cf := range r.ClusterFan {
			one := r.fan(cf.N)
			if cf.Err != "" || one == nil || len(cf.Stats.Groups) != 2 {
				continue
			}
			c.Groups = append(c.Groups, barGroup{Label: k(cf.N) + " subscribers", Values: []float64{one.Stats.P99ms, cf.Stats.Groups[0].P99ms, cf.Stats.Groups[1].P99ms}})
		}
		save("cluster_fanout", c)
	}
	// 6. the cluster lock on conditional writes
	{
		series := []string{"one instance, no cluster", "cluster, all through A", "cluster, spread over A and B"}
		c := barChart{Title: "Conditional writes with and without the cluster lock",
			Subtitle: "stale PUT answered 409 from the cache (one hot record) and successful read-modify-write PUTs (one record per writer)",
			Axis:     "requests per second", Series: series, Format: reqs}
		if len(r.ClusterStale) > 0 {
			c.Groups = append(c.Groups, barGroup{Label: "stale PUT -> 409 from cache", Values: rates(r.ClusterStale), Notes: withRatio(r.ClusterStale)})
		}
		if len(r.ClusterPut) > 0 {
			c.Groups = append(c.Groups, barGroup{Label: "conditional PUT -> 200", Values: rates(r.ClusterPut), Notes: withRatio(r.ClusterPut)})
		}
		save("cluster_writes", c)
	}
}
