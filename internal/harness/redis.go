package harness

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Redis is a throw-away redis-server on a free 127.0.0.1 port, without
// persistence (https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/:
// `save ""`, `appendonly no`), that can be stopped and started again on the
// same port (empty), killed, or paused. Its methods are safe for
// concurrent use.
type Redis struct {
	bin, dir string
	port     int
	out      *Output

	mu     sync.Mutex // guards proc and paused
	proc   *Proc
	paused bool
}

// ErrNoRedis is returned when redis-server is not on PATH.
var ErrNoRedis = errors.New("redis-server not found (apt-get install redis-server)")

// NewRedis finds redis-server and picks a free port; dir is its working
// folder. It does not start it (Start does).
func NewRedis(dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedis
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return &Redis{bin: bin, dir: dir, port: port, out: &Output{}}, nil
}

// StartRedis is NewRedis and Start.
func StartRedis(dir string) (*Redis, error) {
	r, err := NewRedis(dir)
	if err != nil {
		return nil, err
	}
	if err := r.Start(); err != nil {
		return nil, err
	}
	return r, nil
}

// Addr is "127.0.0.1:port".
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// URL is "redis://127.0.0.1:port/0".
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Port is the server's port.
func (r *Redis) Port() int { return r.port }

// Output is what redis-server printed so far (over every start).
func (r *Redis) Output() string { return r.out.String() }

// Pid is the running server's process id (0 when stopped).
func (r *Redis) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return 0
	}
	return r.proc.Pid()
}

// Start starts the server (again, empty, on the same port) and waits until
// it answers PING; it does nothing if it runs.
func (r *Redis) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		return nil
	}
	p, err := Start(Options{Name: "redis-server", Dir: r.dir, Output: r.out, StopTimeout: 5 * time.Second},
		r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", r.dir, "--protected-mode", "no")
	if err != nil {
		return err
	}
	if err := p.waitFor(20*time.Second, func() error { return PingRedis(r.Addr()) }, "did not answer PING on "+r.Addr()); err != nil {
		p.Kill()
		return err
	}
	r.proc, r.paused = p, false
	return nil
}

// Stop shuts the server down (SIGTERM, as an orderly restart does; SIGKILL
// after 5 s) and waits until it exited. Idempotent.
func (r *Redis) Stop() { r.stop(false) }

// Kill kills the server (SIGKILL, a crash) and waits until it exited.
// Idempotent.
func (r *Redis) Kill() { r.stop(true) }

func (r *Redis) stop(kill bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return
	}
	if r.paused {
		_ = r.proc.Cmd.Process.Signal(syscall.SIGCONT)
	}
	if kill {
		r.proc.Kill()
	} else {
		r.proc.Stop()
	}
	r.proc, r.paused = nil, false
}

// Pause stops the process (SIGSTOP): its connections stay open and it
// answers nothing, as a hung server or a lost network does, until Resume.
func (r *Redis) Pause() error { return r.signal(syscall.SIGSTOP, true) }

// Resume continues a paused server (SIGCONT).
func (r *Redis) Resume() error { return r.signal(syscall.SIGCONT, false) }

func (r *Redis) signal(sig syscall.Signal, paused bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return nil
	}
	if err := r.proc.Cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("redis-server: %v: %w", sig, err)
	}
	r.paused = paused
	return nil
}

// PingRedis sends PING to the Redis at addr and expects PONG (within a
// second).
func PingRedis(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("redis answered %q to PING", line)
	}
	return nil
}
