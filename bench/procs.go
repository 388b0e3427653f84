package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/recordsync/recordsync/internal/harness"
)

// stopper is what the bench starts: a harness server or a child process.
type stopper interface{ Stop() }

var (
	procsMu sync.Mutex
	procs   []stopper
)

// track registers s to be stopped by stopAll (at the end and on Ctrl-C).
func track(s stopper) {
	procsMu.Lock()
	procs = append(procs, s)
	procsMu.Unlock()
}

// startProc starts a child in its own process group (harness.Start), its
// output bounded to its last MiB, and tracks it.
func startProc(name, dir string, args ...string) (*harness.Proc, error) {
	p, err := harness.Start(harness.Options{Name: name, Dir: dir, Group: true, Output: &harness.Output{Limit: 1 << 20}}, args...)
	if err != nil {
		return nil, err
	}
	track(p)
	return p, nil
}

func stopAll() {
	procsMu.Lock()
	ps := procs
	procs = nil
	procsMu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func(p stopper) { defer wg.Done(); p.Stop() }(p)
	}
	wg.Wait()
}

func freePort() int {
	port, err := harness.FreePort()
	if err != nil {
		panic(err)
	}
	return port
}

// cpuTicks is utime+stime of one process in clock ticks (USER_HZ = 100 on Linux).
func cpuTicks(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// after ")" : state(0) ppid(1) pgrp(2) ... utime(11) stime(12)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// groupTicks sums cpuTicks over every live process in process group pgid
// (php-fpm master and workers).
func groupTicks(pgid int) int64 {
	ents, _ := os.ReadDir("/proc")
	var sum int64
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g != pgid {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		sum += u + st
	}
	return sum
}

const ticksPerSecond = 100.0

// rssKB is VmRSS of pid in kB.
func rssKB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmRSS:") {
			fs := strings.Fields(line)
			if len(fs) >= 2 {
				n, _ := strconv.ParseInt(fs[1], 10, 64)
				return n
			}
		}
	}
	return 0
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return strings.TrimSpace(string(data))
	}
	return strings.Join(f[:3], " ")
}

// caddy is one running Caddy (harness.Caddy).
type caddy struct {
	*harness.Caddy
}

// startCaddy runs bin with the bench's global options (grace_period 1s,
// log level ERROR) and site (":{PORT} {...}"; the token {PORT} is replaced
// by the site port), in a folder of its own under workDir, and tracks it.
func startCaddy(bin, workDir, name, site string, env []string) (*caddy, error) {
	dir, err := os.MkdirTemp(workDir, "caddy-"+name+"-")
	if err != nil {
		return nil, err
	}
	c, err := harness.StartCaddy(harness.CaddyOptions{Bin: bin, Dir: dir, Name: "caddy " + name, Env: env,
		Global: harness.Global{GracePeriod: "1s", LogLevel: "ERROR"},
		Group:  true, Output: &harness.Output{Limit: 1 << 20}, Wait: 30 * time.Second}, site)
	if err != nil {
		return nil, err
	}
	track(c)
	return &caddy{c}, nil
}

var adminClient = &http.Client{Timeout: 30 * time.Second}

// metric returns the sum of the Prometheus samples named name whose label
// text contains match, from Caddy's admin /metrics (-1 when it cannot be
// read).
func (c *caddy) metric(name, match string) float64 {
	m, err := c.Metrics()
	if err != nil {
		return -1
	}
	var sum float64
	for k, v := range m {
		rest, ok := strings.CutPrefix(k, name)
		if !ok || (rest != "" && rest[0] != '{') || !strings.Contains(rest, match) {
			continue
		}
		sum += v
	}
	return sum
}

// goMem is Caddy's own Go metrics of memory (admin /metrics).
func (c *caddy) goMem() goMem {
	m, err := c.Metrics()
	if err != nil {
		return goMem{}
	}
	return goMemOf(m)
}

// goroutines is the total of Caddy's goroutine profile (admin /debug/pprof).
func (c *caddy) goroutines() int {
	resp, err := adminClient.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/goroutine?debug=1", c.AdminPort))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	var n int
	if _, err := fmt.Sscanf(line, "goroutine profile: total %d", &n); err != nil {
		return -1
	}
	return n
}
