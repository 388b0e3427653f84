package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// syncBuf collects a child's output.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 { // keep the tail bounded
		b.buf.Reset()
	}
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a child process the bench started; every one is stopped by stopAll.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *syncBuf
	exited chan struct{}
}

var (
	procsMu sync.Mutex
	procs   []*proc
)

// startProc starts a child in its own process group (so that php-fpm's
// workers are stopped with it).
func startProc(name, dir string, env []string, stdin io.Reader, args ...string) (*proc, error) {
	p := &proc{name: name, out: &syncBuf{}, exited: make(chan struct{})}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Stdin = stdin
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	return p, nil
}

func (p *proc) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM, waits up to 10 s, then kills the process group.
func (p *proc) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	pgid := p.cmd.Process.Pid
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
	syscall.Kill(-pgid, syscall.SIGKILL) // children left behind (php-fpm workers), only ours
}

func stopAll() {
	procsMu.Lock()
	ps := procs
	procs = nil
	procsMu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func(p *proc) { defer wg.Done(); p.Stop() }(p)
	}
	wg.Wait()
}

// waitListen waits until addr accepts connections or p exits.
func waitListen(p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited early:\n%s", p.name, tail(p.out.String(), 3000))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not listen on %s:\n%s", p.name, addr, tail(p.out.String(), 3000))
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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

// caddy is one running Caddy.
type caddy struct {
	*proc
	Port, Admin int
}

func (c *caddy) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.Port) }

const caddyGlobal = `{
	admin 127.0.0.1:%d
	http_port %d
	auto_https off
	skip_install_trust
	persist_config off
	grace_period 1s
	log {
		level ERROR
	}
}
`

// startCaddy runs bin with the global block and site (":{PORT} {...}"; the
// token {PORT} is replaced by the site port).
func startCaddy(bin, workDir, name, site string, env []string) (*caddy, error) {
	c := &caddy{Port: freePort(), Admin: freePort()}
	dir, err := os.MkdirTemp(workDir, "caddy-"+name+"-")
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(caddyGlobal, c.Admin, c.Port) + strings.ReplaceAll(site, "{PORT}", strconv.Itoa(c.Port))
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	env = append(env, "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	p, err := startProc("caddy "+name, dir, env, nil, bin, "run", "--config", path, "--adapter", "caddyfile")
	if err != nil {
		return nil, err
	}
	c.proc = p
	if err := waitListen(p, fmt.Sprintf("127.0.0.1:%d", c.Port), 30*time.Second); err != nil {
		return nil, err
	}
	return c, nil
}

var adminClient = &http.Client{Timeout: 30 * time.Second}

// metric returns the sum of the Prometheus samples named name whose label
// text contains match, from Caddy's admin /metrics.
func (c *caddy) metric(name, match string) float64 {
	resp, err := adminClient.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", c.Admin))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var sum float64
	found := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if match != "" && !strings.Contains(rest, match) {
			continue
		}
		fs := strings.Fields(line)
		v, err := strconv.ParseFloat(fs[len(fs)-1], 64)
		if err == nil {
			sum += v
			found = true
		}
	}
	if !found {
		return 0
	}
	return sum
}

// goroutines is the total of Caddy's goroutine profile (admin /debug/pprof).
func (c *caddy) goroutines() int {
	resp, err := adminClient.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/goroutine?debug=1", c.Admin))
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
