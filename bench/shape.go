package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/recordsync/recordsync/internal/harness"
)

// ---- section 8: the realistic shape ----
//
// What a deployment of this product mostly sees is not one channel with
// 10,000 viewers but many small channels: here 10,000 sockets, each on a
// record channel, a list channel and a presence channel, over 3,000 records
// in lists of 10 (shapePlan: 3–4 sockets per record, ~33 per list), and a
// steady stream of saves at several rates.
//
// recordsync: the saves are PUTs of /api/v1/projects/{p}/tasks/{id} through
// Caddy with recordsync to the Go upstream (the proxy path, not the HTTP
// API), so each is learned from the app's answer and announced as
// record.updated on private-record.projecttask.{id} and task.updated on
// private-project.{p} (a `list` rule). Centrifugo: the same layout
// (rec:projecttask.{id}, list:project.{p}, pres:projecttask.{id} with
// presence and join/leave on), and each save is one broadcast of the same
// payload to the record's two channels through its HTTP API at the same
// rate. Both servers and both generators are up at once; the rates run in
// A/B alternation. Latency is receive time − the time just before the save
// (or broadcast) request was sent, over all deliveries; CPU per delivered
// message is the server process's CPU during the phase (the saves and 2 s
// after) over its deliveries — for recordsync that includes proxying each
// PUT (the upstream's own CPU is given apart).

const (
	shapeRecords = maxTasks
	shapePerList = 10
	shapeWorkers = 32
)

// shapeRun is one rate of one system.
type shapeRun struct {
	System   string
	Round    int
	Rate     int     // saves per second asked for
	Saves    int     // made
	Achieved float64 // saves per second made
	SaveErrs int
	FirstErr string `json:",omitempty"`
	Stats    fanStats
	// SaveP50 and SaveP99 are the save requests' own round trips (ms):
	// part of every delivery's latency, since an event goes out after the
	// answer.
	SaveP50, SaveP99 float64
	ServerCPU        float64 // CPU-seconds of Caddy or Centrifugo during the phase
	UpCPU            float64 // the Go upstream's (recordsync only)
	Seconds          float64
}

// CPUPerMsgUS is server CPU per delivered message in µs.
func (r *shapeRun) CPUPerMsgUS() float64 {
	if r.Stats.Delivered == 0 {
		return 0
	}
	return 1e6 * r.ServerCPU / float64(r.Stats.Delivered)
}

// shapeConn is what connecting cost one system.
type shapeConn struct {
	Connected, Failed int
	ConnectSecs       float64
	FirstError        string  `json:",omitempty"`
	KBPerConn         float64 // RSS growth per socket (3 subscriptions each)
	HeapKBPerConn     float64 // heap + stacks in use growth per socket (own metrics)
}

// shapeResult is the whole section.
type shapeResult struct {
	Sockets, Records, PerList int
	Seconds                   float64 // per rate
	Site                      string
	Conn                      map[string]shapeConn
	Runs                      []shapeRun
	Errors                    []string
}

// runs are the runs of system at rate without error.
func (s *shapeResult) runs(system string, rate int) []shapeRun {
	var out []shapeRun
	for _, r := range s.Runs {
		if r.System == system && r.Rate == rate && r.Stats.Delivered > 0 {
			out = append(out, r)
		}
	}
	return out
}

// shapeSite is recordsync's site for the shape: tasks with a list rule.
func shapeSite(upPort int) string {
	return harness.Site(":{PORT}", harness.Block("recordsync",
		harness.Block("record projecttask /api/v1/projects/{project}/tasks/{id}", "list project.{project} task.updated task_id"),
		"app_id 1",
		"app_key "+benchAppKey,
		"app_secret "+benchAppSecret), fmt.Sprintf("reverse_proxy 127.0.0.1:%d", upPort))
}

// shapeSaver makes saves at a steady rate from a pool of workers; each
// save is one request, and its key ("<record>/<version>") and send time
// are collected.
type shapeSaver struct {
	next atomic.Int64 // save counter across phases: which record is next
}

// record is save k's record: a walk over all records (7919 is prime to
// 3000), so consecutive saves hit different records and lists.
func (s *shapeSaver) record(k int64) int { return 1 + int((k*7919)%shapeRecords) }

// run makes rate saves per second for d; save does one and returns its
// version.
func (s *shapeSaver) run(rate int, d time.Duration, save func(rec int) (string, error)) (pubs []published, rtts []int64, errs int, firstErr string, secs float64) {
	jobs := make(chan int, 1024)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < shapeWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range jobs {
				t0 := time.Now()
				v, err := save(rec)
				rtt := time.Since(t0)
				mu.Lock()
				rtts = append(rtts, int64(rtt))
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					pubs = append(pubs, published{fmt.Sprintf("%d/%s", rec, v), t0.UnixNano()})
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	total := int(float64(rate) * d.Seconds())
	for k := 0; k < total; k++ {
		time.Sleep(time.Until(start.Add(time.Duration(k) * time.Second / time.Duration(rate))))
		jobs <- s.record(s.next.Add(1))
	}
	close(jobs)
	wg.Wait()
	return pubs, rtts, errs, firstErr, time.Since(start).Seconds()
}

var shapeClient = &http.Client{Timeout: 30 * time.Second,
	Transport: &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128, IdleConnTimeout: 60 * time.Second, DisableCompression: true}}

// putTask saves task rec through base (recordsync) and returns the version
// the upstream answered.
func putTask(base string, rec int) (string, error) {
	p := (rec-1)/shapePerList + 1
	req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/v1/projects/%d/tasks/%d", base, p, rec), strings.NewReader(fmt.Sprintf(`{"name":"Saved %d"}`, rec)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := shapeClient.Do(req)
	if err != nil {
		return "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("PUT task %d: %d %s", rec, resp.StatusCode, truncate(string(b), 200))
	}
	var r struct {
		Data struct {
			UpdatedAt string `json:"updated_at"`
		} `json:"data"`
	}
	json.Unmarshal(b, &r)
	return r.Data.UpdatedAt, nil
}

// centSave broadcasts a save of task rec to its record and list channels
// through Centrifugo's API and returns the version it carried.
func centSave(c *centrifugo, rec int) (string, error) {
	p := (rec-1)/shapePerList + 1
	v := time.Now().UTC().Format(versionLayout)
	body, _ := json.Marshal(map[string]any{
		"channels": []string{fmt.Sprintf("rec:projecttask.%d", rec), fmt.Sprintf("list:project.%d", p)},
		"data":     json.RawMessage(recordEventData("projecttask", rec, v)),
	})
	if err := c.api("broadcast", body); err != nil {
		return "", err
	}
	return v, nil
}

// runShape measures section 8.
func runShape(cfg runConfig, self, caddyBin, centBin, work string, upPort int, up *harness.Proc) *shapeResult {
	res := &shapeResult{Sockets: cfg.ShapeSockets, Records: shapeRecords, PerList: shapePerList, Seconds: cfg.ShapeDur.Seconds(),
		Site: shapeSite(upPort), Conn: map[string]shapeConn{}}
	fail := func(err error) *shapeResult {
		res.Errors = append(res.Errors, err.Error())
		logf("  shape: %v", err)
		return res
	}
	plan := shapePlan{Records: shapeRecords, PerList: shapePerList}

	type side struct {
		name  string
		gen   *child
		pid   func() int
		save  func(rec int) (string, error)
		upCPU bool
	}
	var sides []*side

	logf("8. the realistic shape: %d sockets on a record, a list and a presence channel each, over %d records", cfg.ShapeSockets, shapeRecords)
	c, err := startCaddy(caddyBin, work, "shape", res.Site, nil)
	if err != nil {
		return fail(err)
	}
	defer c.Stop()
	connect := func(name string, rss func() int64, mem func() goMem, spec genSpec) (*child, error) {
		time.Sleep(time.Second)
		rss0, mem0 := rss(), mem()
		gen, err := startGen(self, spec)
		if err != nil {
			return nil, err
		}
		ready, err := gen.readLine("READY ", 300*time.Second)
		if err != nil {
			gen.Stop()
			return nil, err
		}
		time.Sleep(2 * time.Second)
		var connected, failed int
		var first string
		fmt.Sscanf(ready, "%d %d %q", &connected, &failed, &first)
		sc := shapeConn{Connected: connected, Failed: failed, FirstError: first}
		if connected > 0 {
			sc.KBPerConn = float64(rss()-rss0) / float64(connected)
			m := mem()
			if m.HeapInuse > 0 {
				sc.HeapKBPerConn = (m.HeapInuse + m.StackInuse - mem0.HeapInuse - mem0.StackInuse) / 1024 / float64(connected)
			}
		}
		res.Conn[name] = sc
		logf("  shape, %s: %s; %.1f KB per socket (own metrics %.1f KB)", name, ready, sc.KBPerConn, sc.HeapKBPerConn)
		return gen, nil
	}
	t0 := time.Now()
	rgen, err := connect("recordsync", func() int64 { return rssKB(c.Pid()) }, c.goMem,
		genSpec{Proto: "pusher", URLs: []string{fmt.Sprintf("ws://127.0.0.1:%d/ws/app/%s", c.HTTPPort, benchAppKey)}, N: cfg.ShapeSockets,
			Shape: plan, Key: benchAppKey, Secret: benchAppSecret})
	if err != nil {
		return fail(err)
	}
	defer rgen.Stop()
	sc := res.Conn["recordsync"]
	sc.ConnectSecs = time.Since(t0).Seconds()
	res.Conn["recordsync"] = sc
	sides = append(sides, &side{name: "recordsync", gen: rgen, pid: c.Pid, upCPU: true,
		save: func(rec int) (string, error) { return putTask(c.URL(), rec) }})

	if centBin != "" {
		cf, err := startCentrifugo(centBin, work, "shape")
		if err != nil {
			fail(err)
		} else {
			defer cf.Stop()
			t0 := time.Now()
			mem := func() goMem {
				m, err := cf.metrics()
				if err != nil {
					return goMem{}
				}
				return goMemOf(m)
			}
			cgen, err := connect("centrifugo", func() int64 { return rssKB(cf.Pid()) }, mem,
				genSpec{Proto: "centrifugo", URLs: []string{cf.WSURL()}, N: cfg.ShapeSockets, Shape: plan, Secret: centSecret})
			if err != nil {
				fail(err)
			} else {
				defer cgen.Stop()
				sc := res.Conn["centrifugo"]
				sc.ConnectSecs = time.Since(t0).Seconds()
				res.Conn["centrifugo"] = sc
				sides = append(sides, &side{name: "centrifugo", gen: cgen, pid: cf.Pid,
					save: func(rec int) (string, error) { return centSave(cf, rec) }})
			}
		}
	}

	rounds := 2
	if cfg.Quick {
		rounds = 1
	}
	saver := &shapeSaver{}
	for round := 0; round < rounds; round++ {
		for _, rate := range cfg.ShapeRates {
			order := sides
			if round%2 == 1 {
				order = append([]*side(nil), sides...)
				for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
					order[i], order[j] = order[j], order[i]
				}
			}
			for _, s := range order {
				time.Sleep(time.Second)
				cpu0, up0 := cpuTicks(s.pid()), cpuTicks(up.Pid())
				pubs, rtts, errs, firstErr, secs := saver.run(rate, cfg.ShapeDur, s.save)
				time.Sleep(2 * time.Second)
				r := shapeRun{System: s.name, Round: round + 1, Rate: rate, Saves: len(pubs), SaveErrs: errs, FirstErr: firstErr, Seconds: secs,
					ServerCPU: float64(cpuTicks(s.pid())-cpu0) / ticksPerSecond}
				if secs > 0 {
					r.Achieved = float64(len(pubs)) / secs
				}
				sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
				r.SaveP50, r.SaveP99, _ = percentiles(rtts)
				if s.upCPU {
					r.UpCPU = float64(cpuTicks(up.Pid())-up0) / ticksPerSecond
				}
				st, err := s.gen.phase(pubs)
				if err != nil {
					res.Errors = append(res.Errors, fmt.Sprintf("%s at %d/s: %v", s.name, rate, err))
					continue
				}
				r.Stats = st
				logf("  shape %s %d/s (round %d): %d saves (%.0f/s, %d errors, round trip p50 %.1f p99 %.1f ms), delivered %d/%d, p50 %.1f ms p99 %.1f ms max %.1f ms, cpu %.2f s (%.1f µs/msg)",
					s.name, rate, round+1, r.Saves, r.Achieved, errs, r.SaveP50, r.SaveP99, st.Delivered, st.Expected, st.P50ms, st.P99ms, st.Maxms, r.ServerCPU, r.CPUPerMsgUS())
				res.Runs = append(res.Runs, r)
			}
		}
	}
	return res
}
