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
	// 4. fan-out latency, recordsync and Centrifugo side by side
	{
		c := barChart{Title: "Fan-out latency: one publish to N subscribers",
			Subtitle: "receive time - publish time over all deliveries, 20 publishes 250 ms apart; median of the A/B rounds; same run, same machine",
			Axis:     "milliseconds", Log: true, Series: []string{"p50", "p99", "max"}, Format: ms}
		for _, n := range r.Cfg.Sizes {
			for _, sys := range []string{"recordsync", "centrifugo"} {
				if a, ok := r.agg(sys, n); ok {
					c.Groups = append(c.Groups, barGroup{Label: k(n) + " " + sysName(sys), Values: []float64{a.P50, a.P99, a.Max}})
				}
			}
			if cf := r.clusterFan(n); cf != nil {
				c.Groups = append(c.Groups, barGroup{Label: k(n) + " recordsync, 2-instance cluster", Values: []float64{cf.Stats.P50ms, cf.Stats.P99ms, cf.Stats.Maxms}})
			}
			if fl := r.floor(n); fl != nil {
				c.Groups = append(c.Groups, barGroup{Label: k(n) + " floor: bare write(2)", Values: []float64{fl.P50ms, fl.P99ms, fl.Maxms}})
			}
		}
		save("fanout_latency", c)
	}
	// 4. delivered messages per server CPU-second, with the floor
	{
		c := barChart{Title: "Delivered messages per CPU-second of the server process",
			Subtitle: "during the publishes; floor: a bare write(2) of the same frame per socket; goal: recordsync >= 0.85x the floor",
			Axis:     "messages per CPU-second", Series: []string{"recordsync", "Centrifugo", "floor: bare write(2)"}, Colors: []int{1, 2, 0}}
		for _, n := range r.Cfg.Sizes {
			a, ok := r.agg("recordsync", n)
			if !ok {
				continue
			}
			vals := []float64{a.MsgPerCPU, math.NaN(), math.NaN()}
			if cf, ok := r.agg("centrifugo", n); ok {
				vals[1] = cf.MsgPerCPU
			}
			if fl := r.floor(n); fl != nil {
				vals[2] = fl.WritesPerCPU()
			}
			c.Groups = append(c.Groups, barGroup{Label: k(n) + " subscribers", Values: vals})
			if cf := r.clusterFan(n); cf != nil {
				c.Groups = append(c.Groups, barGroup{Label: k(n) + " recordsync 2-instance cluster", Values: []float64{cf.MsgPerCPU(), math.NaN(), math.NaN()}})
			}
		}
		save("fanout_rate", c)
	}
	// 5. memory per idle connection, both systems, RSS and own metrics
	{
		c := barChart{Title: "Memory per idle subscribed websocket",
			Subtitle: "RSS after connecting minus before, / N; and heap + stacks in use (own metrics); goal: <= 0.5x the best peer",
			Axis:     "KB per connection", Series: []string{"recordsync (RSS)", "Centrifugo (RSS)", "recordsync (own metrics)", "Centrifugo (own metrics)"}, Colors: []int{1, 2, 3, 4},
			Format: func(v float64) string { return fmt.Sprintf("%.1f KB", v) }}
		for _, n := range r.Cfg.Sizes {
			a, ok := r.agg("recordsync", n)
			if !ok {
				continue
			}
			vals := []float64{a.KB, math.NaN(), a.HeapKB, math.NaN()}
			label := fmt.Sprintf("%s (recordsync %.2f goroutines/conn", k(n), a.Gor)
			if cf, ok := r.agg("centrifugo", n); ok {
				vals[1], vals[3] = cf.KB, cf.HeapKB
				label += fmt.Sprintf(", Centrifugo %.2f", cf.Gor)
			}
			c.Groups = append(c.Groups, barGroup{Label: label + ")", Values: vals})
		}
		if s := r.Shape; s != nil {
			if a, ok := s.Conn["recordsync"]; ok {
				vals := []float64{a.KBPerConn, math.NaN(), a.HeapKBPerConn, math.NaN()}
				if cf, ok := s.Conn["centrifugo"]; ok {
					vals[1], vals[3] = cf.KBPerConn, cf.HeapKBPerConn
				}
				c.Groups = append(c.Groups, barGroup{Label: fmt.Sprintf("%s, 3 channels each (section 8)", k(s.Sockets)), Values: vals})
			}
		}
		save("memory", c)
	}
	// 6. cluster fan-out vs one instance
	{
		c := barChart{Title: "Two-instance cluster vs one instance: fan-out p99",
			Subtitle: "publisher writes through A; in the cluster half the subscribers sit on B and get the event via Redis",
			Axis:     "p99 latency, milliseconds", Log: true, Series: []string{"one instance", "cluster: subscribers on A", "cluster: subscribers on B (via Redis)"},
			Format: ms}
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
	// 8. the realistic shape
	if s := r.Shape; s != nil {
		lat := barChart{Title: "The realistic shape: record, list and presence channel per socket",
			Subtitle: fmt.Sprintf("%d sockets over %d records; receive - save request sent, all deliveries; median of the rounds", s.Sockets, s.Records),
			Axis:     "milliseconds", Log: true, Series: []string{"p50", "p99", "max"}, Format: ms}
		cpu := barChart{Title: "The realistic shape: server CPU per delivered message",
			Subtitle: "recordsync's includes proxying each save (PUT) to the app; Centrifugo's includes its API call",
			Axis:     "CPU microseconds per delivered message", Series: []string{"recordsync", "Centrifugo"}, Colors: []int{1, 2},
			Format: func(v float64) string { return fmt.Sprintf("%.1f us", v) }}
		for _, rate := range s.rates() {
			vals := []float64{math.NaN(), math.NaN()}
			for i, sys := range []string{"recordsync", "centrifugo"} {
				if a, ok := s.agg(sys, rate); ok {
					lat.Groups = append(lat.Groups, barGroup{Label: fmt.Sprintf("%d saves/s, %s", rate, sysName(sys)), Values: []float64{a.P50, a.P99, a.Max}})
					vals[i] = a.CPUPerMsg
				}
			}
			cpu.Groups = append(cpu.Groups, barGroup{Label: fmt.Sprintf("%d saves per second", rate), Values: vals})
		}
		save("shape", lat)
		save("shape_cpu", cpu)
	}
	// 9. the reconnect storm
	if s := r.Storm; s != nil && s.Connected > 0 {
		c := barChart{Title: "Reconnect storm: what reached PHP",
			Subtitle: fmt.Sprintf("%d sockets of %d users, private + presence channel each; goal after the kill: <= 10%% of resubscriptions reach PHP", s.Connected, s.Users),
			Axis:     "requests", Series: []string{"subscriptions", "/broadcasting/auth requests sent", "... reaching PHP"}, Colors: []int{0, 1, 2},
			Format: func(v float64) string { return fmt.Sprintf("%.0f", v) }, Target: 0.1 * float64(s.Resubscriptions), TargetLabel: "goal: 10% of the resubscriptions"}
		c.Groups = append(c.Groups, barGroup{Label: fmt.Sprintf("subscribing at the start (%.0f s)", s.InitialSecs),
			Values: []float64{float64(s.InitialSubscriptions), float64(s.InitialAuthRequests), float64(s.InitialAuthPHP)}})
		after := barGroup{Label: fmt.Sprintf("after the kill: all back in %.1f s, %d missed", s.AllBackSecs, s.Missed),
			Values: []float64{float64(s.Resubscriptions), float64(s.AuthRequests), float64(s.AuthPHP)}}
		if s.AuthPHP == 0 && s.Resubscriptions > 0 {
			after.Notes = []string{"", "", "0 (none reached PHP)"} // measured, not missing
		}
		c.Groups = append(c.Groups, after)
		save("storm", c)
	}
}
