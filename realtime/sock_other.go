//go:build !unix

package realtime

import (
	"net"
	"syscall"
)

// rawConnOf is nil here: without a non-blocking write(2) every frame goes
// through the socket's writer goroutine.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func (w *sockWriter) rawWrite(uintptr) bool { return true }
