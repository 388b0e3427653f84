package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recordsync/recordsync/internal/testredis"
)

// startRedis runs redis-server (internal/testredis) on a free 127.0.0.1 port
// without persistence and returns its address, a stop function (SIGTERM)
// and a start function that starts it again, empty, on the same port (both
// idempotent). It is stopped when the test ends.
func startRedis(t testing.TB) (addr string, stop func(), start func()) {
	t.Helper()
	r := testredis.Start(t)
	return r.Addr(), r.Stop, r.Start
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
