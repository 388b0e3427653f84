package tcpqueue

import (
	"net"
	"testing"
	"time"
)

// A connection whose peer never reads: the server's send queue grows past
// what was read and then stays put.
func TestSendQueuesSeesUnreadData(t *testing.T) {
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
	port := ln.Addr().(*net.TCPAddr).Port
	remote := client.LocalAddr().(*net.TCPAddr).Port

	q, err := SendQueues(port)
	if err != nil {
		t.Fatal(err)
	}
	if q[remote] != 0 {
		t.Fatalf("idle connection: send queue %d", q[remote])
	}
	// Write until a write blocks: the client's receive buffer is full and
	// the rest waits in the server's send queue.
	buf := make([]byte, 64<<10)
	for {
		server.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := server.Write(buf); err != nil {
			break
		}
	}
	if q, err = SendQueues(port); err != nil {
		t.Fatal(err)
	}
	if q[remote] <= 0 {
		t.Fatalf("send queue %d after filling the peer, want > 0", q[remote])
	}
	if _, err := SendQueues(1); err == nil {
		t.Fatal("no error for a port without connections")
	}
}
