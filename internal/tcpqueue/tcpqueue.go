// Package tcpqueue reads the kernel's send queues of a local server's TCP
// connections from /proc/net/tcp and /proc/net/tcp6 (Linux). The slow-
// consumer drill and benchmark use it to see when a socket that is never
// read has filled its buffers: its server-side send queue stops growing.
package tcpqueue

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// SendQueues returns the send queue in bytes of every established TCP
// connection whose local port is port, keyed by the connection's remote
// port. It fails when there is none.
func SendQueues(port int) (map[int]int64, error) {
	out := map[int]int64{}
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue ...
			fields := strings.Fields(sc.Text())
			if len(fields) < 5 || fields[3] != "01" { // ESTABLISHED
				continue
			}
			local, remote := fields[1], fields[2]
			lp, err1 := strconv.ParseInt(local[strings.LastIndexByte(local, ':')+1:], 16, 32)
			rp, err2 := strconv.ParseInt(remote[strings.LastIndexByte(remote, ':')+1:], 16, 32)
			if err1 != nil || err2 != nil || int(lp) != port {
				continue
			}
			tx, _, _ := strings.Cut(fields[4], ":")
			if q, err := strconv.ParseInt(tx, 16, 64); err == nil {
				out[int(rp)] = q
			}
		}
		f.Close()
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no established connections on local port %d in /proc/net/tcp*", port)
	}
	return out, nil
}
