package realtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// goroutinesIn counts the goroutines whose stack contains fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), fn+"(")
}

// TestWriterNoLostWakeups: producers race the writer's exit (it exits
// whenever it finds the queue empty, and the next enqueue starts a new one);
// every frame must arrive, each producer's in order. Run with -race.
func TestWriterNoLostWakeups(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.SendQueue = 1 << 20 })
	c := e.connect(t, "")
	c.subscribeOK("w")
	const producers, each = 4, 500
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range each {
				e.hub.Publish(Event{Channel: "w", Name: "e", Data: []byte(`{"p":` + strconv.Itoa(p) + `,"n":` + strconv.Itoa(n) + `}`)})
				if n%7 == 0 {
					time.Sleep(time.Duration(n%3) * 50 * time.Microsecond) // let the writer drain and exit
				} else {
					runtime.Gosched()
				}
			}
		}()
	}
	next := make([]int, producers)
	for range producers * each {
		_, _, data := c.next()
		raw, _ := json.Marshal(data)
		var d struct{ P, N int }
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if d.N != next[d.P] {
			t.Fatalf("producer %d: got %d, want %d", d.P, d.N, next[d.P])
		}
		next[d.P]++
	}
	wg.Wait()
	c.roundTrip()
}

// TestIdleSocketHasOneGoroutine: once its queue is written, a socket keeps
// its reader only; the hub adds one sweeper.
func TestIdleSocketHasOneGoroutine(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ActivityTimeout = time.Hour })
	const n = 20
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = e.connect(t, "")
		clients[i].subscribeOK("idle")
	}
	e.hub.Publish(Event{Channel: "idle", Name: "e", Data: []byte(`{}`)})
	for _, c := range clients {
		c.expect("e", "idle")
	}
	eventually(t, 5*time.Second, "writers to exit, one reader per socket", func() bool {
		return goroutinesIn("realtime.(*conn).writeLoop") == 0 && goroutinesIn("realtime.(*conn).readLoop") == n
	})
	if s := goroutinesIn("realtime.(*Hub).sweep"); s != 1 {
		t.Fatalf("%d sweepers", s)
	}
	for _, c := range clients {
		c.roundTrip() // a writer starts again on demand
	}
}

// TestWriteTimeoutClosesStuckSocket: a client that stops reading blocks the
// writer in a write; the sweeper closes the socket after WriteTimeout, well
// before the queue would overflow.
func TestWriteTimeoutClosesStuckSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) {
		o.WriteTimeout = 200 * time.Millisecond
		o.SendQueue = 1 << 20
		o.MaxMessageBytes = 1 << 20
	})
	ws, _, err := e.dialRaw(t, "/ws/app/"+testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := ws.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"event":"pusher:subscribe","data":{"channel":"big"}}`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.Read(ctx); err != nil || !bytes.Contains(b, []byte("subscription_succeeded")) {
		t.Fatalf("%s %v", b, err)
	}
	// The client reads no more: the socket buffers fill, a write blocks.
	data := []byte(`"` + strings.Repeat("x", 512<<10) + `"`)
	start := time.Now()
	for i := 0; e.hub.Connections() > 0; i++ {
		if i < 200 {
			e.hub.Publish(Event{Channel: "big", Name: "blob", Data: data})
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("stuck socket not closed")
		}
		time.Sleep(time.Millisecond)
	}
	if e.obs.slow.Load() != 0 {
		t.Fatal("closed as a slow consumer, not by the write timeout")
	}
	t.Logf("closed after %v", time.Since(start))
}

// TestFrameRightAfterUpgradeRequest: a client that sends its first frame in
// the same packet as the upgrade request (net/http has buffered it by the
// hijack) gets it handled: the socket's own small reader starts with it.
func TestFrameRightAfterUpgradeRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	nc, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	payload := []byte(`{"event":"pusher:ping","data":{}}`)
	mask := [4]byte{1, 2, 3, 4}
	frame := append([]byte{0x81, 0x80 | byte(len(payload))}, mask[:]...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	req := "GET /ws/app/" + testKey + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("%v %v", resp, err)
	}
	var got []string
	for len(got) < 2 {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatal(err)
		}
		n := int(h[1] & 0x7f)
		if n == 126 {
			var l [2]byte
			if _, err := io.ReadFull(br, l[:]); err != nil {
				t.Fatal(err)
			}
			n = int(l[0])<<8 | int(l[1])
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	if !strings.Contains(got[0], "pusher:connection_established") || got[1] != string(framePong) {
		t.Fatalf("frames %q", got)
	}
}

// TestPartialWritesStayWhole: with a send buffer far smaller than a frame,
// a delivery writes part of the frame at once and the writer the rest;
// frames from two publishers and the library's own pongs (answers to the
// client's websocket pings, written from the reader) must still arrive
// whole and in order.
func TestPartialWritesStayWhole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.SendQueue = 1 << 20 })
	c := e.connect(t, "")
	c.subscribeOK("big")
	e.hub.connsMu.Lock()
	for _, sc := range e.hub.conns {
		if err := sc.sw.nc.(*net.TCPConn).SetWriteBuffer(4096); err != nil {
			t.Fatal(err)
		}
	}
	e.hub.connsMu.Unlock()

	big := strings.Repeat("x", 64<<10)
	pingErr := make(chan error, 1)
	stopPings := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopPings:
				pingErr <- nil
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := c.ws.Ping(ctx)
			cancel()
			if err != nil {
				pingErr <- err
				return
			}
		}
	}()
	const producers, each = 2, 100
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for n := range each {
				body := ""
				if n%2 == 0 {
					body = big
				}
				e.hub.Publish(Event{Channel: "big", Name: "e", Data: []byte(`{"p":` + strconv.Itoa(p) + `,"n":` + strconv.Itoa(n) + `,"b":"` + body + `"}`)})
			}
		})
	}
	next := make([]int, producers)
	for range producers * each {
		select {
		case b, ok := <-c.frames:
			if !ok {
				t.Fatalf("socket closed: %v", <-c.closed)
			}
			var f struct{ Data string }
			var d struct {
				P, N int
				B    string
			}
			if err := json.Unmarshal(b, &f); err != nil || json.Unmarshal([]byte(f.Data), &d) != nil {
				t.Fatalf("broken frame of %d bytes: %.80q", len(b), b)
			}
			if d.N != next[d.P] {
				t.Fatalf("producer %d: got %d, want %d", d.P, d.N, next[d.P])
			}
			if want := map[bool]int{true: len(big), false: 0}[d.N%2 == 0]; len(d.B) != want {
				t.Fatalf("frame %d/%d: %d bytes of body, want %d", d.P, d.N, len(d.B), want)
			}
			p := d.P
			next[p]++
		case <-time.After(20 * time.Second):
			t.Fatalf("frames missing: got %v of %d each", next, each)
		}
	}
	wg.Wait()
	close(stopPings)
	if err := <-pingErr; err != nil {
		t.Fatalf("websocket ping: %v", err)
	}
	c.roundTrip()
}
