package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePorts returns n free ports, or the first error.
func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	return ports, nil
}

// Output collects a child's output: written by exec's copier goroutine,
// read by the caller at any time. The zero value keeps everything.
type Output struct {
	// Limit, when > 0, bounds what is kept: a write that finds more than
	// Limit bytes held starts the buffer again from empty.
	Limit int

	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.Limit > 0 && o.buf.Len() > o.Limit {
		o.buf.Reset()
	}
	return o.buf.Write(p)
}

// String is what was kept so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Tail is the last n bytes of s.
func Tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Options say how Start runs a process.
type Options struct {
	// Name names the process in errors ("caddy", "php-fpm", ...).
	Name string
	// Dir is its working directory.
	Dir string
	// Env is added to this process's environment (a later entry wins).
	Env []string
	// Stdin is its standard input (none when nil).
	Stdin io.Reader
	// Stdout is where its standard output goes; nil: Output.
	Stdout io.Writer
	// Output collects its standard error, and its standard output unless
	// Stdout is set; nil: a new, unbounded one.
	Output *Output
	// Group runs it in a process group of its own, which Stop kills after
	// it exited (php-fpm's workers). The group then does not get the
	// terminal's Ctrl-C: the caller stops it.
	Group bool
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL
	// (default 10 s).
	StopTimeout time.Duration
}

// Proc is a running child process.
type Proc struct {
	Name string
	Cmd  *exec.Cmd

	out         *Output
	exited      chan struct{}
	group       bool
	stopTimeout time.Duration
}

// Start starts argv (argv[0] is looked up on PATH) as o says. A goroutine
// waits for it; Exited is closed when it has exited.
func Start(o Options, argv ...string) (*Proc, error) {
	if len(argv) == 0 {
		return nil, errors.New("harness.Start: no command")
	}
	p := &Proc{Name: o.Name, out: o.Output, exited: make(chan struct{}), group: o.Group, stopTimeout: o.StopTimeout}
	if p.Name == "" {
		p.Name = argv[0]
	}
	if p.out == nil {
		p.out = &Output{}
	}
	if p.stopTimeout <= 0 {
		p.stopTimeout = 10 * time.Second
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stdin = o.Stdin
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	}
	if o.Group {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.Cmd = cmd
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Pid is the process id (with Group, also its process group's).
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Output is what the process printed so far (see Options.Output).
func (p *Proc) Output() string { return p.out.String() }

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Stop sends SIGTERM (a graceful shutdown for Caddy, php-fpm and Redis),
// waits up to the stop timeout, then kills it; with Group it then kills
// what is left of its process group. Idempotent; a nil Proc is stopped.
func (p *Proc) Stop() { p.stop(syscall.SIGTERM) }

// Kill kills the process (SIGKILL, a crash) and waits until it exited;
// with Group, its process group too. Idempotent.
func (p *Proc) Kill() { p.stop(syscall.SIGKILL) }

func (p *Proc) stop(sig syscall.Signal) {
	if p == nil || p.Cmd == nil {
		return
	}
	select {
	case <-p.exited:
	default:
		_ = p.Cmd.Process.Signal(sig)
		select {
		case <-p.exited:
		case <-time.After(p.stopTimeout):
			_ = p.Cmd.Process.Kill()
			<-p.exited
		}
	}
	if p.group {
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL) // children left behind, only ours
	}
}

// WaitListen waits until addr accepts TCP connections; it fails when the
// process exits first or timeout passes, with the tail of its output.
func (p *Proc) WaitListen(addr string, timeout time.Duration) error {
	return p.waitFor(timeout, func() error {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}, "did not listen on "+addr)
}

// waitFor polls ready until it returns nil; it fails when the process
// exits first or timeout passes (with what, the last error and the tail of
// the process's output).
func (p *Proc) waitFor(timeout time.Duration, ready func() error, what string) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited early:\n%s", p.Name, Tail(p.Output(), 3000))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s %s within %v (%v):\n%s", p.Name, what, timeout, err, Tail(p.Output(), 3000))
		}
		time.Sleep(30 * time.Millisecond)
	}
}
