package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"
)

// ---- the fan-out floor: bare write(2) to each socket, no websocket, no hub ----
//
// Fan-out cost on loopback is mostly the kernel's: each delivery is one
// write(2) on its own socket, and on loopback that call also runs the
// receiving side's TCP input and wakes the reader. The floor measures that
// part alone, with the same machine, socket count, frame size and publish
// rhythm as section 4–5: a writer process (bench -role=rawwriter) holds n
// TCP connections from a reader process (bench -role=rawreaders, one
// goroutine per connection, as the websocket generator has) and, per
// publish, writes the frame to each connection from GOMAXPROCS goroutines
// with nothing else around it. recordsync cannot deliver for less CPU than
// this; the report gives its msg per CPU-second as a share of the floor's.

// floorResult is the floor at one size.
type floorResult struct {
	N, Publishes, Size  int
	WriterCPU           float64 // CPU-seconds of the writer process during the publishes
	Writes              int
	P50ms, P99ms, Maxms float64
	Received            int
	Err                 string
}

// WritesPerCPU is writes per writer CPU-second.
func (f *floorResult) WritesPerCPU() float64 {
	if f.WriterCPU <= 0 {
		return 0
	}
	return float64(f.Writes) / f.WriterCPU
}

// runRawWriter is bench -role=rawwriter: it listens on addr, accepts n
// connections, prints READY, and on "GO" from stdin makes publishes writes
// of size bytes to every connection, 250 ms apart. Each frame starts with
// the time it was written (unix nanos) for the readers' latency. Then it
// prints RESULT with its CPU-seconds and the write count.
func runRawWriter(addr string, n, publishes, size int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("LISTEN")
	conns := make([]net.Conn, 0, n)
	for len(conns) < n {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	fmt.Println("READY")
	sc := bufio.NewScanner(os.Stdin)
	if !sc.Scan() || sc.Text() != "GO" {
		return fmt.Errorf("rawwriter: no GO")
	}
	workers := runtime.GOMAXPROCS(0)
	cpu0 := cpuTicks(os.Getpid())
	writes := 0
	var failed error
	tick := time.Now()
	for p := 0; p < publishes; p++ {
		frame := make([]byte, size)
		binary.BigEndian.PutUint64(frame, uint64(time.Now().UnixNano()))
		var wg sync.WaitGroup
		var mu sync.Mutex
		per := (len(conns) + workers - 1) / workers
		for w := 0; w < workers; w++ {
			part := conns[min(w*per, len(conns)):min((w+1)*per, len(conns))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, c := range part {
					if _, err := c.Write(frame); err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		writes += len(conns)
		tick = tick.Add(250 * time.Millisecond)
		time.Sleep(time.Until(tick))
	}
	cpu := float64(cpuTicks(os.Getpid())-cpu0) / ticksPerSecond
	if failed != nil {
		return failed
	}
	b, _ := json.Marshal(map[string]any{"cpu": cpu, "writes": writes})
	fmt.Printf("RESULT %s\n", b)
	// Stay until the orchestrator is done with the readers.
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// runRawReaders is bench -role=rawreaders: n connections to addr, each read
// by its own goroutine in frames of size bytes; on "END" from stdin it
// prints RESULT with the latency percentiles.
func runRawReaders(addr string, n, size int) error {
	type reader struct {
		mu   sync.Mutex
		lats []int64
	}
	readers := make([]*reader, n)
	for i := range readers {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		rd := &reader{}
		readers[i] = rd
		go func() {
			buf := make([]byte, size)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				lat := time.Now().UnixNano() - int64(binary.BigEndian.Uint64(buf))
				rd.mu.Lock()
				rd.lats = append(rd.lats, lat)
				rd.mu.Unlock()
			}
		}()
	}
	fmt.Println("READY")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() && sc.Text() != "END" {
	}
	var lats []int64
	for _, rd := range readers {
		rd.mu.Lock()
		lats = append(lats, rd.lats...)
		rd.mu.Unlock()
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	p50, p99, mx := percentiles(lats)
	b, _ := json.Marshal(map[string]any{"received": len(lats), "p50": p50, "p99": p99, "max": mx})
	fmt.Printf("RESULT %s\n", b)
	return nil
}

// runFloor measures the floor for n sockets: publishes rounds of one write
// of size bytes to each.
func runFloor(self string, n, publishes, size int) floorResult {
	res := floorResult{N: n, Publishes: publishes, Size: size}
	fail := func(err error) floorResult { res.Err = err.Error(); logf("  floor %d: %v", n, err); return res }
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	w, err := startChild(self, "-role=rawwriter", "-addr", addr, "-n", strconv.Itoa(n),
		"-publishes", strconv.Itoa(publishes), "-size", strconv.Itoa(size))
	if err != nil {
		return fail(err)
	}
	defer w.Stop()
	if _, err := w.readLine("LISTEN", 30*time.Second); err != nil {
		return fail(err)
	}
	r, err := startChild(self, "-role=rawreaders", "-addr", addr, "-n", strconv.Itoa(n), "-size", strconv.Itoa(size))
	if err != nil {
		return fail(err)
	}
	defer r.Stop()
	for _, g := range []*child{r, w} {
		if _, err := g.readLine("READY", 120*time.Second); err != nil {
			return fail(err)
		}
	}
	time.Sleep(time.Second)
	io.WriteString(w.stdin, "GO\n")
	out, err := w.readLine("RESULT ", time.Duration(publishes)*time.Second+60*time.Second)
	if err != nil {
		return fail(err)
	}
	var wr struct {
		CPU    float64 `json:"cpu"`
		Writes int     `json:"writes"`
	}
	json.Unmarshal([]byte(out), &wr)
	res.WriterCPU, res.Writes = wr.CPU, wr.Writes
	io.WriteString(r.stdin, "END\n")
	out, err = r.readLine("RESULT ", 60*time.Second)
	if err != nil {
		return fail(err)
	}
	var rd struct {
		Received      int
		P50, P99, Max float64
	}
	json.Unmarshal([]byte(out), &rd)
	res.Received, res.P50ms, res.P99ms, res.Maxms = rd.Received, rd.P50, rd.P99, rd.Max
	return res
}
