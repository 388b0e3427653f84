//go:build unix && !linux

package realtime

import "syscall"

// rawWrite is one non-blocking write(2) of w.p (the socket is in
// non-blocking mode, as every socket of the Go runtime): a full send buffer
// writes nothing (EAGAIN). It never asks RawConn to wait.
func (w *sockWriter) rawWrite(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), w.p)
		if err == syscall.EINTR {
			continue
		}
		w.n = max(n, 0) // EAGAIN or a broken connection: nothing written
		return true
	}
}
