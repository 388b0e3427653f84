// Package testredis runs a real redis-server for tests: on a free loopback
// port, without persistence, stopped when the test ends, and able to stop,
// start again on the same port, or pause, so that a test can take Redis
// away from the code under test. Only tests import it; the server itself is
// internal/harness's Redis (which the benchmark uses too), this package
// fails the test where that returns an error.
//
// A missing redis-server fails the test: what needs Redis cannot be tested
// without it (apt-get install redis-server).
package testredis

import (
	"testing"

	"github.com/recordsync/recordsync/internal/harness"
)

// Server is one redis-server. Its methods are safe for concurrent use.
type Server struct {
	tb testing.TB
	r  *harness.Redis
}

// Start runs redis-server on a free 127.0.0.1 port and waits until it
// answers PING. It is stopped when the test ends; its output is logged if
// the test failed.
func Start(tb testing.TB) *Server {
	tb.Helper()
	r, err := harness.NewRedis(tb.TempDir())
	if err == harness.ErrNoRedis {
		tb.Fatal("redis-server not found: these tests need it (apt-get install redis-server)")
	} else if err != nil {
		tb.Fatal(err)
	}
	s := &Server{tb: tb, r: r}
	s.Start()
	tb.Cleanup(func() {
		s.Stop()
		if tb.Failed() {
			tb.Logf("redis-server output:\n%s", s.Output())
		}
	})
	return s
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return s.r.Addr() }

// URL is "redis://127.0.0.1:port/0".
func (s *Server) URL() string { return s.r.URL() }

// Port is the server's port.
func (s *Server) Port() int { return s.r.Port() }

// Output is what redis-server printed so far.
func (s *Server) Output() string { return s.r.Output() }

// Start starts the server again on the same port (an empty Redis) and waits
// until it answers PING; it does nothing if it runs.
func (s *Server) Start() {
	s.tb.Helper()
	if err := s.r.Start(); err != nil {
		s.tb.Fatal(err)
	}
}

// Stop shuts the server down (SIGTERM, as an orderly restart does; SIGKILL
// after 5 s) and waits until it exited. Idempotent.
func (s *Server) Stop() { s.r.Stop() }

// Kill kills the server (SIGKILL, a crash) and waits until it exited.
// Idempotent.
func (s *Server) Kill() { s.r.Kill() }

// Pause stops the process (SIGSTOP): its connections stay open and it
// answers nothing, as a hung server or a lost network does, until Resume.
func (s *Server) Pause() {
	if err := s.r.Pause(); err != nil {
		s.tb.Error(err)
	}
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	if err := s.r.Resume(); err != nil {
		s.tb.Error(err)
	}
}

// Ping sends PING to the Redis at addr and expects PONG (within a second).
func Ping(addr string) error { return harness.PingRedis(addr) }
