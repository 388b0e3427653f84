//go:build unix

package realtime

import (
	"net"
	"syscall"
)

// rawConnOf returns the RawConn of nc's socket, nil when nc is not a socket
// of its own (a tls.Conn): its frames then go through the writer goroutine.
func rawConnOf(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
