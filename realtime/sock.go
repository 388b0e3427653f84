package realtime

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
)

// Buffer sizes of a socket's own bufio.Reader and bufio.Writer. net/http
// hands a hijacked connection a 4 KiB reader and a 4 KiB writer that stay
// with the socket for its life: 8 KiB of a 20 KiB budget per idle socket.
// The hub hijacks through sockHijacker instead and gives coder/websocket
// small ones: an inbound Pusher message (ping, subscribe) fits in
// sockReadBuf, a longer one is read in more than one read. The library
// writes only control frames (its pongs and the close frame; data frames are
// the hub's own, see sockWriter), so its bufio writer only needs to hold one
// control frame: 125 bytes of payload and its header.
const (
	sockReadBuf  = 512
	sockWriteBuf = 160
)

// wsMaxHeader is the longest header of an unmasked server frame (RFC 6455
// section 5.2): 2 bytes, a 64-bit length.
const wsMaxHeader = 10

// wsText returns payload as one whole websocket frame, bytes ready for the
// wire: FIN, opcode text, unmasked (a server's frames are never masked, RFC
// 6455 section 5.1), no extension bits (the hub negotiates no compression).
// A publish builds it once and every subscriber's socket writes the same
// bytes.
func wsText(payload []byte) []byte {
	n := len(payload)
	f := make([]byte, 0, wsMaxHeader+n)
	switch {
	case n <= 125:
		f = append(f, 0x81, byte(n))
	case n <= 0xffff:
		f = append(f, 0x81, 126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x81, 127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	return append(f, payload...)
}

// sockWriter is the socket's only way to its connection. The conn writes
// whole frames through it (tryWrite from whoever delivers to an idle
// socket, writeOut from the socket's writer goroutine), and it is what
// coder/websocket's bufio.Writer flushes to: the library's control frames
// (pongs, the close frame) fit its 160-byte buffer, so each arrives as one
// Write. mu keeps every frame whole and in order on the wire.
type sockWriter struct {
	mu sync.Mutex
	nc net.Conn
	// rc writes to nc's socket without the runtime's poller wait: nil when
	// nc is not a socket of its own (TLS) or the system is not unix, and
	// every write then goes through the writer goroutine.
	rc syscall.RawConn
	// closeSent: the library wrote a close frame; nothing may follow it
	// (RFC 6455 section 5.5.1). Guarded by mu.
	closeSent bool
	// p, n and rawFn are rawWrite's argument and result (rawFn is made
	// once, on the first write: a closure per write would allocate).
	p     []byte
	n     int
	rawFn func(uintptr) bool
}

// errCloseSent: a data frame after the close frame.
var errCloseSent = errors.New("realtime: close frame already sent")

// Write is coder/websocket's, for its control frames (and the data frame
// of a refused socket, before the hub has a writer for it).
func (w *sockWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(p) > 0 && p[0] == 0x88 { // FIN + close
		w.closeSent = true
	}
	return w.nc.Write(p)
}

// tryWrite writes as much of frame as the socket's send buffer takes now,
// without blocking, and returns how much. When it wrote part of frame only,
// held is true and w.mu stays locked: the caller hands the rest to the
// writer (writeOut), and no other frame may start before it. It writes nothing when another write
// is in progress, when the connection has no raw socket, or after the close
// frame.
func (w *sockWriter) tryWrite(frame []byte) (n int, held bool) {
	if w.rc == nil || !w.mu.TryLock() {
		return 0, false
	}
	if w.closeSent {
		w.mu.Unlock()
		return 0, false
	}
	if w.rawFn == nil {
		w.rawFn = w.rawWrite
	}
	w.p, w.n = frame, 0
	if err := w.rc.Write(w.rawFn); err != nil {
		w.n = 0 // closed: the writer goroutine will find out
	}
	n = w.n
	w.p = nil
	if n > 0 && n < len(frame) {
		return n, true
	}
	w.mu.Unlock()
	return n, false
}

// batchPool recycles the buffers writeOut gathers frames in: a socket holds
// one only while its writer writes.
var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// gatherMax bounds what one write of writeOut carries (whole frames, or one
// frame longer than this). The lock is let go between such writes, so the
// library's control frames wait for one write at most: coder/websocket
// gives a pong 5 seconds, then closes the connection.
const gatherMax = 16 << 10

// writeOut writes rest (the end of a frame tryWrite began, with w.mu held
// for the caller) and then frames, blocking; consecutive small frames go in
// one write. It is the socket's writer goroutine's.
func (w *sockWriter) writeOut(rest []byte, frames [][]byte) error {
	if rest != nil {
		err := w.writeLocked(rest)
		w.mu.Unlock()
		if err != nil {
			return err
		}
	}
	for len(frames) > 0 {
		n, size := 1, len(frames[0])
		for n < len(frames) && size+len(frames[n]) <= gatherMax {
			size += len(frames[n])
			n++
		}
		var err error
		w.mu.Lock()
		if n == 1 {
			err = w.writeLocked(frames[0])
		} else {
			bp := batchPool.Get().(*[]byte)
			b := (*bp)[:0]
			for _, f := range frames[:n] {
				b = append(b, f...)
			}
			err = w.writeLocked(b)
			*bp = b[:0]
			batchPool.Put(bp)
		}
		w.mu.Unlock()
		if err != nil {
			return err
		}
		frames = frames[n:]
	}
	return nil
}

// writeLocked writes p whole, blocking; w.mu held.
func (w *sockWriter) writeLocked(p []byte) error {
	if w.closeSent {
		return errCloseSent
	}
	_, err := w.nc.Write(p)
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
	h.sw.nc = nc
	h.sw.rc = rawConnOf(nc)
	// Bytes the client sent right after its upgrade request stay first.
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		nc = &prefixConn{Conn: nc, pending: append([]byte(nil), b...)}
	}
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
