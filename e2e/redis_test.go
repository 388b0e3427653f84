package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// redisServer is a redis-server on a loopback port that a test can stop and
// start again on the same port (issue 4: delivery resumes by itself).
type redisServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	out  *syncBuffer

	mu     sync.Mutex // guards cmd and exited
	cmd    *exec.Cmd
	exited chan struct{}
}

// startRedis runs redis-server on a free 127.0.0.1 port without persistence
// (--save "" --appendonly no) and returns its address, a stop function and a
// start function (both idempotent, start reuses the port). It is stopped when
// the test ends.
func startRedis(t testing.TB) (addr string, stop func(), start func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found: install redis-server (the README's test command does)")
	}
	r := &redisServer{t: t, bin: bin, dir: t.TempDir(), port: freePort(t), out: &syncBuffer{}}
	r.start()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("redis-server output:\n%s", r.out.String())
		}
	})
	return r.addr(), r.stop, r.start
}

func (r *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

func (r *redisServer) start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	cmd := exec.Command(r.bin,
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", r.dir, "--protected-mode", "no")
	cmd.Stdout, cmd.Stderr = r.out, r.out
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	r.cmd, r.exited = cmd, exited

	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := redisPing(r.addr()); err == nil {
			return
		}
		select {
		case <-exited:
			r.cmd = nil
			r.t.Fatalf("redis-server exited early:\n%s", r.out.String())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not answer on %s:\n%s", r.addr(), r.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisServer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
}

// redisPing sends PING and expects PONG.
func redisPing(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
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

// redisMessage is one message a redisSub received.
type redisMessage struct {
	Pattern, Channel, Payload string
}

// redisSub is a PSUBSCRIBE connection speaking just enough RESP to see what
// Laravel's redis broadcaster publishes.
type redisSub struct {
	t    testing.TB
	conn net.Conn
	msgs chan redisMessage
}

// redisPSubscribe subscribes to pattern on the Redis at addr; messages
// arrive on Next until the test ends.
func redisPSubscribe(t testing.TB, addr, pattern string) *redisSub {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := &redisSub{t: t, conn: conn, msgs: make(chan redisMessage, 100)}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "*2\r\n$10\r\nPSUBSCRIBE\r\n$%d\r\n%s\r\n", len(pattern), pattern)
	rd := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if reply, err := readRESP(rd); err != nil {
		t.Fatalf("PSUBSCRIBE %s: %v", pattern, err)
	} else if a, _ := reply.([]any); len(a) != 3 || a[0] != "psubscribe" {
		t.Fatalf("PSUBSCRIBE %s: unexpected reply %v", pattern, reply)
	}
	conn.SetReadDeadline(time.Time{})
	go func() {
		defer close(s.msgs)
		for {
			reply, err := readRESP(rd)
			if err != nil {
				return
			}
			if a, ok := reply.([]any); ok && len(a) == 4 && a[0] == "pmessage" {
				p, _ := a[1].(string)
				c, _ := a[2].(string)
				m, _ := a[3].(string)
				s.msgs <- redisMessage{Pattern: p, Channel: c, Payload: m}
			}
		}
	}()
	return s
}

// Next waits up to timeout for the next message; ok is false on timeout.
func (s *redisSub) Next(timeout time.Duration) (msg redisMessage, ok bool) {
	select {
	case msg, ok = <-s.msgs:
		return msg, ok
	case <-time.After(timeout):
		return redisMessage{}, false
	}
}

// readRESP reads one RESP2 value: simple strings, errors, integers and
// bulk strings as string/int, arrays as []any.
func readRESP(rd *bufio.Reader) (any, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, errors.New("resp: empty line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, errors.New("redis: " + line[1:])
	case ':':
		return strconv.Atoi(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = readRESP(rd); err != nil {
				return nil, err
			}
		}
		return a, nil
	}
	return nil, fmt.Errorf("resp: unexpected %q", line)
}
