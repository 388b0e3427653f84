package realtime

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
)

// Buffer sizes of a socket's own bufio.Reader and bufio.Writer. net/http
// hands a hijacked connection a 4 KiB reader and a 4 KiB writer that stay
// with the socket for its life: 8 KiB of a 20 KiB budget per idle socket.
// The hub hijacks through sockHijacker instead and gives coder/websocket
// small ones: an inbound Pusher message (ping, subscribe) fits in
// sockReadBuf, a longer one is read in more than one read; frames written
// by the writer go through sockWriter, which coalesces them, so the bufio
// writer only needs to hold a frame header and a control frame.
const (
	sockReadBuf  = 512
	sockWriteBuf = 160 // a control frame: 125 bytes of payload and its header
)

// sockWriter is what the socket's bufio.Writer flushes to. Outside a batch
// it writes through to the connection; between begin and end (the conn's
// writer draining its queue) it appends to a pooled buffer, and end writes
// every frame of the batch with one write. Frames coder/websocket writes
// itself (pongs, the close frame) may come from another goroutine: mu
// keeps them whole and in order.
type sockWriter struct {
	mu       sync.Mutex
	nc       net.Conn
	batching bool
	buf      *[]byte
}

// batchPool recycles the batch buffers: a socket holds one only while its
// writer drains.
var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (w *sockWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.batching {
		*w.buf = append(*w.buf, p...)
		return len(p), nil
	}
	return w.nc.Write(p)
}

// begin starts a batch: writes are buffered until end.
func (w *sockWriter) begin() {
	w.mu.Lock()
	w.batching = true
	w.buf = batchPool.Get().(*[]byte)
	w.mu.Unlock()
}

// end writes the batch with one write and ends it.
func (w *sockWriter) end() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.batching = false
	bp := w.buf
	w.buf = nil
	var err error
	if len(*bp) > 0 {
		_, err = w.nc.Write(*bp)
	}
	if cap(*bp) <= 64<<10 {
		*bp = (*bp)[:0]
		batchPool.Put(bp)
	}
	return err
}

// sockHijacker wraps the upgrade's ResponseWriter so that coder/websocket's
// Accept gets the socket's small buffers from Hijack (see sockReadBuf).
type sockHijacker struct {
	http.ResponseWriter
	hj http.Hijacker
	sw *sockWriter
}

// newSockHijacker returns nil when w has no Hijacker (Accept then answers
// as it would).
func newSockHijacker(w http.ResponseWriter, sw *sockWriter) *sockHijacker {
	rw := w
	for {
		switch t := rw.(type) {
		case http.Hijacker:
			return &sockHijacker{ResponseWriter: w, hj: t, sw: sw}
		case interface{ Unwrap() http.ResponseWriter }:
			rw = t.Unwrap()
		default:
			return nil
		}
	}
}

func (h *sockHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := h.hj.Hijack()
	if err != nil {
		return nc, brw, err
	}
	// Bytes the client sent right after its upgrade request stay first.
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		nc = &prefixConn{Conn: nc, pending: append([]byte(nil), b...)}
	}
	h.sw.nc = nc
	return nc, bufio.NewReadWriter(bufio.NewReaderSize(nc, sockReadBuf), bufio.NewWriterSize(h.sw, sockWriteBuf)), nil
}

// prefixConn reads pending before the connection.
type prefixConn struct {
	net.Conn
	pending []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

var _ io.Writer = (*sockWriter)(nil)
