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

// TestPartialWritesStayWhole: a frame far bigger than what the socket takes
// while the client does not read is written part way by the delivery and
// finished by the writer; meanwhile the library must not put its pong (the
// answer to the client's websocket ping, written from the reader) inside it,
// nor may the frames queued behind it overtake it.
func TestPartialWritesStayWhole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.SendQueue = 1 << 20 })
	ws, _, err := e.dialRaw(t, "/ws/app/"+testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	read := func() []byte {
		t.Helper()
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	read() // connection_established
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"event":"pusher:subscribe","data":{"channel":"big"}}`)); err != nil {
		t.Fatal(err)
	}
	if b := read(); !bytes.Contains(b, []byte("subscription_succeeded")) {
		t.Fatalf("%.80s", b)
	}

	// The client reads nothing now: the big frame fills the send buffer and
	// the client's window, the rest waits with the writer.
	big := strings.Repeat("x", 4<<20)
	e.hub.Publish(Event{Channel: "big", Name: "e", Data: []byte(`{"n":0,"b":"` + big + `"}`)})
	for n := 1; n <= 3; n++ {
		e.hub.Publish(Event{Channel: "big", Name: "e", Data: []byte(`{"n":` + strconv.Itoa(n) + `,"b":""}`)})
	}
	pinged := make(chan error, 1)
	go func() { pinged <- ws.Ping(ctx) }()
	time.Sleep(200 * time.Millisecond) // the server's reader has the ping and waits to answer
	for n := 0; n <= 3; n++ {
		b := read()
		var f struct{ Data string }
		var d struct {
			N int
			B string
		}
		if err := json.Unmarshal(b, &f); err != nil || json.Unmarshal([]byte(f.Data), &d) != nil {
			t.Fatalf("broken frame of %d bytes: %.80q", len(b), b)
		}
		if want := map[bool]int{true: len(big), false: 0}[n == 0]; d.N != n || len(d.B) != want {
			t.Fatalf("frame %d: n %d with %d bytes, want %d", n, d.N, len(d.B), want)
		}
	}
	go func() { _, _, _ = ws.Read(ctx) }() // the pong is read under Ping
	if err := <-pinged; err != nil {
		t.Fatalf("websocket ping: %v", err)
	}
}

// TestSockWriterHoldsPartialFrame: when the socket takes only part of a
// frame, the socket's lock stays held until the writer has written the rest,
// so the library's own frame (a pong) cannot land inside it.
func TestSockWriterHoldsPartialFrame(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	w := &sockWriter{nc: server, rc: rawConnOf(server)}
	if w.rc == nil {
		t.Skip("no raw socket on this system")
	}
	frame := wsText([]byte(strings.Repeat("x", 8<<20))) // more than the buffers take
	n, held := w.tryWrite(frame)
	if n == 0 || n == len(frame) || !held {
		t.Fatalf("tryWrite wrote %d of %d bytes, held %v: want part of it, held", n, len(frame), held)
	}
	pong := []byte{0x8a, 0}
	ponged := make(chan error, 1)
	go func() { _, err := w.Write(pong); ponged <- err }()
	time.Sleep(50 * time.Millisecond) // the pong waits for the lock
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(client, int64(len(frame)+len(pong))))
		got <- b
	}()
	if err := w.writeOut(frame[n:], nil); err != nil {
		t.Fatal(err)
	}
	if err := <-ponged; err != nil {
		t.Fatal(err)
	}
	b := <-got
	if !bytes.Equal(b[:len(frame)], frame) || !bytes.Equal(b[len(frame):], pong) {
		i := 0
		for i < len(frame) && b[i] == frame[i] {
			i++
		}
		t.Fatalf("the stream differs from the frame at byte %d (tryWrite wrote %d): the pong went inside it", i, n)
	}
}
