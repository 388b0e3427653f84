// Package testredis runs a real redis-server for tests: on a free loopback
// port, without persistence, stopped when the test ends, and able to stop,
// start again on the same port, or pause, so that a test can take Redis
// away from the code under test. Only tests import it.
//
// A missing redis-server fails the test: what needs Redis cannot be tested
// without it (apt-get install redis-server).
package testredis

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one redis-server. Its methods are safe for concurrent use.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int
	out  *buffer

	mu     sync.Mutex // guards cmd, exited and paused
	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
}

// Start runs redis-server on a free 127.0.0.1 port and waits until it
// answers PING. It is stopped when the test ends; its output is logged if
// the test failed.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatal("redis-server not found: these tests need it (apt-get install redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir(), port: port, out: &buffer{}}
	s.Start()
	tb.Cleanup(func() {
		s.Stop()
		if tb.Failed() {
			tb.Logf("redis-server output:\n%s", s.out.String())
		}
	})
	return s
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// URL is "redis://127.0.0.1:port/0".
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// Output is what redis-server printed so far.
func (s *Server) Output() string { return s.out.String() }

// Start starts the server again on the same port (an empty Redis) and waits
// until it answers PING; it does nothing if it runs.
func (s *Server) Start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", s.dir, "--protected-mode", "no")
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		s.tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited, s.paused = cmd, exited, false
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := Ping(s.Addr()); err == nil {
			return
		}
		select {
		case <-exited:
			s.cmd = nil
			s.tb.Fatalf("redis-server exited early:\n%s", s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("redis-server did not answer on %s:\n%s", s.Addr(), s.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop shuts the server down (SIGTERM, as an orderly restart does; SIGKILL
// after 5 s) and waits until it exited. Idempotent.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

// Kill kills the server (SIGKILL, a crash) and waits until it exited.
// Idempotent.
func (s *Server) Kill() { s.stop(syscall.SIGKILL) }

func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	if s.paused {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd, s.paused = nil, false
}

// Pause stops the process (SIGSTOP): its connections stay open and it
// answers nothing, as a hung server or a lost network does, until Resume.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP, true) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT, false) }

func (s *Server) signal(sig syscall.Signal, paused bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.tb.Errorf("redis-server: %v: %v", sig, err)
	}
	s.paused = paused
}

// Ping sends PING to the Redis at addr and expects PONG (within a second).
func Ping(addr string) error {
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

// buffer collects the server's output: written by exec's copier goroutine,
// read by the test.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
