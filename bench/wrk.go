package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// load is one wrk load: a URL, an optional Lua script body, extra headers.
type load struct {
	Path    string   // path on the target
	Lua     string   // Lua script text ("" for a plain GET)
	Headers []string // "Name: value"
}

// watched is a process whose CPU is charged to a run.
type watched struct {
	Name  string
	Ticks func() int64
}

type wrkResult struct {
	RPS      float64
	Requests int64
	Non2xx   int64
	Errors   string
	Latency  string // wrk's mean latency
	Seconds  float64
	CPU      map[string]float64 // CPU-seconds per watched process
}

var (
	reRPS  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reReq  = regexp.MustCompile(`(\d+) requests in ([0-9.]+)(m?s|m)`)
	reNon  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	reErr  = regexp.MustCompile(`Socket errors: (.*)`)
	reLat  = regexp.MustCompile(`Latency\s+(\S+)`)
	wrkDir string
)

// runWrk runs wrk against base+l.Path for d with conns connections and 2
// threads, charging the CPU of ws to the run.
func runWrk(base string, l load, d time.Duration, conns int, ws []watched) (wrkResult, error) {
	args := []string{"-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())), "--timeout", "5s"}
	for _, h := range l.Headers {
		args = append(args, "-H", h)
	}
	if l.Lua != "" {
		f, err := os.CreateTemp(wrkDir, "load-*.lua")
		if err != nil {
			return wrkResult{}, err
		}
		f.WriteString(l.Lua)
		f.Close()
		args = append(args, "-s", f.Name())
	}
	args = append(args, base+l.Path)
	before := make([]int64, len(ws))
	for i, w := range ws {
		before[i] = w.Ticks()
	}
	out, err := exec.Command("wrk", args...).CombinedOutput()
	res := wrkResult{CPU: map[string]float64{}}
	for i, w := range ws {
		res.CPU[w.Name] += float64(w.Ticks()-before[i]) / ticksPerSecond
	}
	if err != nil {
		return res, fmt.Errorf("wrk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	s := string(out)
	if m := reRPS.FindStringSubmatch(s); m != nil {
		res.RPS, _ = strconv.ParseFloat(m[1], 64)
	} else {
		return res, fmt.Errorf("wrk output without Requests/sec:\n%s", s)
	}
	if m := reReq.FindStringSubmatch(s); m != nil {
		res.Requests, _ = strconv.ParseInt(m[1], 10, 64)
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "ms":
			v /= 1000
		case "m":
			v *= 60
		}
		res.Seconds = v
	}
	if m := reNon.FindStringSubmatch(s); m != nil {
		res.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reErr.FindStringSubmatch(s); m != nil {
		res.Errors = strings.TrimSpace(m[1])
	}
	if m := reLat.FindStringSubmatch(s); m != nil {
		res.Latency = m[1]
	}
	return res, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// variant is one side of a comparison: a target and the load sent to it.
type variant struct {
	Name   string
	Base   string
	Load   load
	Watch  []watched
	Before func() // called before each run (e.g. read metrics)
	After  func(wrkResult)
	// Run, when set, replaces wrk (the CPU of Watch is still charged).
	Run func(d time.Duration, conns int) (wrkResult, error)
}

// withCPU runs f and charges the CPU of ws during it to the result.
func withCPU(ws []watched, f func() (wrkResult, error)) (wrkResult, error) {
	before := make([]int64, len(ws))
	for i, w := range ws {
		before[i] = w.Ticks()
	}
	res, err := f()
	if res.CPU == nil {
		res.CPU = map[string]float64{}
	}
	for i, w := range ws {
		res.CPU[w.Name] += float64(w.Ticks()-before[i]) / ticksPerSecond
	}
	return res, err
}

// series is the results of one variant over the rounds.
type series struct {
	Name string
	Runs []wrkResult
}

func (s *series) RPS() float64 {
	var xs []float64
	for _, r := range s.Runs {
		xs = append(xs, r.RPS)
	}
	return median(xs)
}

// RPSList is the per-run rates, for the report.
func (s *series) RPSList() string {
	var parts []string
	for _, r := range s.Runs {
		parts = append(parts, fmt.Sprintf("%.0f", r.RPS))
	}
	return strings.Join(parts, ", ")
}

// CPUPerReq is the median over runs of the watched processes' CPU
// microseconds per request (summed over processes), and per process.
func (s *series) CPUPerReq() (total float64, per map[string]float64) {
	per = map[string]float64{}
	var tot []float64
	names := map[string][]float64{}
	for _, r := range s.Runs {
		if r.Requests == 0 {
			continue
		}
		t := 0.0
		for n, c := range r.CPU {
			us := c * 1e6 / float64(r.Requests)
			names[n] = append(names[n], us)
			t += us
		}
		tot = append(tot, t)
	}
	for n, xs := range names {
		per[n] = median(xs)
	}
	return median(tot), per
}

func (s *series) Non2xx() (non, total int64) {
	for _, r := range s.Runs {
		non += r.Non2xx
		total += r.Requests
	}
	return
}

// compare alternates the variants (A,B,A,B,...) for rounds rounds of d each.
func compare(rounds int, d time.Duration, conns int, vs ...variant) ([]*series, error) {
	out := make([]*series, len(vs))
	for i, v := range vs {
		out[i] = &series{Name: v.Name}
	}
	for r := 0; r < rounds; r++ {
		for i, v := range vs {
			if v.Before != nil {
				v.Before()
			}
			var res wrkResult
			var err error
			if v.Run != nil {
				res, err = withCPU(v.Watch, func() (wrkResult, error) { return v.Run(d, conns) })
			} else {
				res, err = runWrk(v.Base, v.Load, d, conns, v.Watch)
			}
			if err != nil {
				return out, fmt.Errorf("%s: %w", v.Name, err)
			}
			if v.After != nil {
				v.After(res)
			}
			logf("  %-44s %9.0f req/s  lat %-8s non-2xx %d/%d  cpu %v", v.Name, res.RPS, res.Latency, res.Non2xx, res.Requests, fmtCPU(res.CPU))
			out[i].Runs = append(out[i].Runs, res)
			waitIdle(v.Watch)
		}
	}
	return out, nil
}

func fmtCPU(m map[string]float64) string {
	return joinSorted(m, " ", func(k string, v float64) string { return fmt.Sprintf("%s=%.2fs", k, v) })
}

// luaPut is a wrk script sending PUT with a JSON body to path (or, with
// randomIDs, to /api/v1/flows/<1..1000>).
func luaPut(body string, randomIDs bool) string {
	s := fmt.Sprintf(`wrk.method = "PUT"
wrk.body = %q
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
`, body)
	if randomIDs {
		s += `request = function()
  return wrk.format(nil, "/api/v1/flows/" .. math.random(1, 1000))
end
`
	}
	return s
}

// luaGetRandom is a wrk script that GETs /api/v1/flows/<1..1000>.
const luaGetRandom = `wrk.headers["Accept"] = "application/json"
request = function()
  return wrk.format(nil, "/api/v1/flows/" .. math.random(1, 1000))
end
`

func init() {
	wrkDir = filepath.Join(os.TempDir())
}

// waitIdle waits (up to 20 s) until the watched processes use less than 10%
// of a core, so that work queued by one run (php-fpm's backlog) is not
// charged to the next.
func waitIdle(ws []watched) {
	if len(ws) == 0 {
		return
	}
	sum := func() int64 {
		var t int64
		for _, w := range ws {
			t += w.Ticks()
		}
		return t
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		t0 := sum()
		time.Sleep(300 * time.Millisecond)
		if sum()-t0 <= 3 {
			return
		}
	}
}
