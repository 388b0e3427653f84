package e2e

// The reliability drills: the real Caddy
// binary with recordsync, many sockets, reloads, a failing upstream and a
// hostile client. Every drill is a TestDrill... test sized for CI; with
// RECORDSYNC_SOAK=1 (`make soak`) the same code runs at full size (the sizes
// each drill's comment names). Speed targets are proved by bench/, never by
// timed assertions here: the drills assert delivery, refusal and disconnect
// correctness, bound memory generously, and log the ratios they measure.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// drillRace is set when the tests are built with -race (drill_race_test.go).
var drillRace bool

// drillSoak reports whether the drills run at full size (RECORDSYNC_SOAK=1).
func drillSoak() bool { return os.Getenv("RECORDSYNC_SOAK") == "1" }

// drillSize picks a size: ci in CI, soak under RECORDSYNC_SOAK=1.
func drillSize(ci, soak int) int {
	if drillSoak() {
		return soak
	}
	return ci
}

// drillDuration picks a duration like drillSize.
func drillDuration(ci, soak time.Duration) time.Duration {
	if drillSoak() {
		return soak
	}
	return ci
}

// drillCheckFiles skips a drill that needs more open files than the process
// may hold (each socket is one file here and one in Caddy).
func drillCheckFiles(t testing.TB, sockets int) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	if need := uint64(sockets) + 500; lim.Cur < need {
		if lim.Max >= need {
			lim.Cur = need
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
				return
			}
		}
		t.Skipf("needs %d open files, the limit is %d", need, lim.Cur)
	}
}

// drillAlive fails the test when Caddy has exited (a crash) or logged a panic.
func drillAlive(t testing.TB, c *caddyProc) {
	t.Helper()
	select {
	case <-c.Exited():
		t.Fatalf("caddy exited:\n%s", c.Log())
	default:
	}
	if strings.Contains(c.Log(), "panic") {
		t.Errorf("caddy logged a panic:\n%s", c.Log())
	}
}

// drillRSS is Caddy's resident memory in bytes (VmRSS of /proc/<pid>/status).
func drillRSS(t testing.TB, c *caddyProc) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.Pid()))
	if err != nil {
		t.Fatalf("reading caddy's status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in caddy's status")
	return 0
}

// drillMetrics scrapes Caddy's admin /metrics into "name{labels}" → value
// (labels as Prometheus prints them, sorted by name).
func drillMetrics(t testing.TB, c *caddyProc) map[string]float64 {
	t.Helper()
	m, err := c.Metrics()
	if err != nil {
		t.Fatalf("scraping metrics: %v", err)
	}
	return m
}

// drillWaitMetric polls a metric until ok(value) or the timeout; it returns
// the last value and whether ok held.
func drillWaitMetric(t testing.TB, c *caddyProc, name string, timeout time.Duration, ok func(float64) bool) (float64, bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := drillMetrics(t, c)[name]
		if ok(v) {
			return v, true
		}
		if time.Now().After(deadline) {
			return v, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// drillAPIRequest builds a signed Pusher HTTP API request as
// pusher-http-php and the npm SDK do (pusher.SignAPIRequest: auth_key,
// auth_timestamp, auth_version 1.0, body_md5, and auth_signature =
// hex(hmac_sha256(secret, METHOD\nPATH\nQUERY)) over the sorted parameters).
func drillAPIRequest(t testing.TB, method, baseURL, path, key, secret string, body []byte) *http.Request {
	t.Helper()
	url := baseURL + path + "?" + pusher.SignAPIRequest(method, path, nil, body, key, secret, time.Now())
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// drillPercentile is the p-th percentile (0..100) of sorted durations.
func drillPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// silentWS is a websocket opened by hand on a TCP socket with a tiny
// receive buffer: after its upgrade and its messages it reads nothing until
// the test drains it, like a browser tab frozen by the OS or a half-open
// connection. Its frames from the server pile up in the kernel, then in the
// server's send queue.
type silentWS struct {
	conn net.Conn
	rd   *bufio.Reader
}

// dialSilent opens a websocket to path (e.g. /ws/app/KEY?protocol=7) with
// host as the Host header (the tenant) and reads only the 101 answer.
func dialSilent(port int, host, path string) (*silentWS, error) {
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			// Set before connect, so the advertised window stays small.
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, err
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: ZHJpbGwtc2lsZW50LWtleQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	s := &silentWS{conn: conn, rd: bufio.NewReaderSize(conn, 512)}
	status, err := s.rd.ReadString('\n')
	if err != nil {
		conn.Close()
		return nil, err
	}
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			conn.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	if !strings.Contains(status, " 101 ") {
		conn.Close()
		return nil, fmt.Errorf("upgrade answered %q", strings.TrimSpace(status))
	}
	return s, nil
}

// writeFrame sends one masked client frame (opcode 1 text, 2 binary, 9 ping).
func (s *silentWS) writeFrame(opcode byte, payload []byte) error {
	hdr := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xffff:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	mask := [4]byte{0x11, 0x22, 0x33, 0x44}
	hdr = append(hdr, mask[:]...)
	masked := make([]byte, len(payload))
	for i, b := range payload {
		masked[i] = b ^ mask[i%4]
	}
	s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := s.conn.Write(append(hdr, masked...))
	return err
}

func (s *silentWS) send(msg string) error { return s.writeFrame(1, []byte(msg)) }

// drain reads every frame until the server closes the socket or timeout.
// It returns how many data frames it read, the close code (0 when the
// connection ended without a close frame) and an error only on timeout.
func (s *silentWS) drain(timeout time.Duration) (frames int, closeCode int, err error) {
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		opcode, payload, err := s.readFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return frames, 0, fmt.Errorf("still open after %v (%d frames read)", timeout, frames)
			}
			return frames, 0, nil // EOF or reset: the server closed it
		}
		switch opcode {
		case 8:
			if len(payload) >= 2 {
				return frames, int(binary.BigEndian.Uint16(payload)), nil
			}
			return frames, 1005, nil
		case 1, 2:
			frames++
		}
	}
}

// readFrame reads one unmasked server frame (continuations are counted as
// frames of their own; the server sends none).
func (s *silentWS) readFrame() (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(s.rd, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(s.rd, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(s.rd, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<24 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(s.rd, payload); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, payload, nil
}

func (s *silentWS) close() { s.conn.Close() }
