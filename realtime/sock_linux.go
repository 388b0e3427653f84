package realtime

import (
	"syscall"
	"unsafe"
)

// rawWrite is one non-blocking write(2) of w.p (the socket is in
// non-blocking mode, as every socket of the Go runtime): a full send buffer
// writes nothing (EAGAIN). It never asks RawConn to wait.
//
// It is a raw system call: the scheduler is not told (no entersyscall and
// exitsyscall, and no hand-off of the P by sysmon), as the runtime does for
// its own calls that cannot block. A non-blocking write returns as soon as
// the kernel has queued (on loopback: delivered) what fits.
func (w *sockWriter) rawWrite(fd uintptr) bool {
	if len(w.p) == 0 {
		w.n = 0
		return true
	}
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&w.p[0])), uintptr(len(w.p)))
		if errno == syscall.EINTR {
			continue
		}
		// EAGAIN (a full send buffer) and a broken connection alike write
		// nothing: the frame is queued, and the writer's blocking write
		// waits or fails.
		w.n = 0
		if errno == 0 {
			w.n = int(n)
		}
		return true
	}
}
