package realtime

// Per-connection cost and fan-out, with the subscribers in a child process
// (this test binary re-executed) so that only the hub's side is measured and
// 10k sockets fit the 20,000-file limit:
//
//	go test -run '^$' -bench 'IdleConns|Fanout' -benchtime 1x ./realtime        # idle cost
//	go test -run '^$' -bench 'Fanout' -benchtime 200x -count 5 ./realtime       # publish, and its floor
//
// RECORDSYNC_BENCH_SIZES=1000,10000 sets the socket counts;
// RECORDSYNC_IDLE_CHANNEL the channel idle sockets subscribe to ("none": none);
// RECORDSYNC_IDLE_HEAP=file writes a heap profile of the idle hub (10k);
// RECORDSYNC_IDLE_GOROUTINES=file a goroutine profile.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/pusher"
)

const subscriberProcEnv = "RECORDSYNC_SUBSCRIBER_PROC"

// TestSubscriberProcess is the child process of the benchmarks below; it does
// nothing in a normal test run.
func TestSubscriberProcess(t *testing.T) {
	spec := os.Getenv(subscriberProcEnv)
	if spec == "" {
		t.Skip("child process of the fan-out benchmarks")
	}
	parts := strings.Split(spec, "|")
	n, _ := strconv.Atoi(parts[1])
	run := runSubscriberProcess
	if size, ok := strings.CutPrefix(parts[2], "raw:"); ok {
		run = func(addr string, n int, _ string) error {
			sz, _ := strconv.Atoi(size)
			return runRawReaders(addr, n, sz)
		}
	}
	if err := run(parts[0], n, parts[2]); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runSubscriberProcess opens n subscribed sockets, prints "ready", then prints
// "round" each time every socket has received one more event, until stdin
// closes.
func runSubscriberProcess(url string, n int, channel string) error {
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	var got atomic.Int64
	conns := make([]*websocket.Conn, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			ws, err := dialSubscribed(url, channel) // channel "none": no subscribe
			if err != nil {
				errs <- err
				return
			}
			conns[i] = ws
			errs <- nil
			go func() {
				for {
					_, msg, err := ws.Read(context.Background())
					if err != nil {
						return
					}
					if !bytes.Contains(msg, []byte(`"bench.event"`)) {
						continue
					}
					if got.Add(1)%int64(n) == 0 {
						outMu.Lock()
						out.WriteString("round\n")
						out.Flush()
						outMu.Unlock()
					}
				}
			}()
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			return err
		}
	}
	outMu.Lock()
	out.WriteString("ready\n")
	out.Flush()
	outMu.Unlock()
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, ws := range conns {
		_ = ws.CloseNow()
	}
	return nil
}

// runRawReaders is the floor's child: n TCP connections to addr, each read
// in frames of size bytes; it prints "ready", then "round" each time every
// connection has read one more frame, until stdin closes.
func runRawReaders(addr string, n, size int) error {
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	var got atomic.Int64
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		conns[i] = c
		go func() {
			buf := make([]byte, size)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if got.Add(1)%int64(n) == 0 {
					outMu.Lock()
					out.WriteString("round\n")
					out.Flush()
					outMu.Unlock()
				}
			}
		}()
	}
	outMu.Lock()
	out.WriteString("ready\n")
	out.Flush()
	outMu.Unlock()
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.Close()
	}
	return nil
}

func dialSubscribed(url, channel string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	_, b, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	var f struct{ Data string }
	var est struct {
		SocketID string `json:"socket_id"`
	}
	_ = json.Unmarshal(b, &f)
	_ = json.Unmarshal([]byte(f.Data), &est)
	if channel == "none" {
		return ws, nil
	}
	auth := pusher.ChannelAuth(testKey, testSecret, est.SocketID, channel, "")
	msg := `{"event":"pusher:subscribe","data":{"channel":"` + channel + `","auth":"` + auth + `"}}`
	if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		ws.CloseNow()
		return nil, err
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			ws.CloseNow()
			return nil, err
		}
		if bytes.Contains(b, []byte("subscription_succeeded")) {
			return ws, nil
		}
		if bytes.Contains(b, []byte("error")) {
			ws.CloseNow()
			return nil, fmt.Errorf("subscribe: %s", b)
		}
	}
}

// subscriberProc is the parent's handle on the child.
type subscriberProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	rounds chan struct{}
	ready  chan error
}

func startSubscribers(tb testing.TB, url string, n int, channel string) *subscriberProc {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSubscriberProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), subscriberProcEnv+"="+url+"|"+strconv.Itoa(n)+"|"+channel)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &subscriberProc{cmd: cmd, stdin: stdin, rounds: make(chan struct{}, 1<<16), ready: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			switch line := sc.Text(); {
			case line == "ready":
				p.ready <- nil
			case line == "round":
				p.rounds <- struct{}{}
			case strings.HasPrefix(line, "error:"):
				p.ready <- fmt.Errorf("subscribers: %s", line)
			}
		}
		close(p.rounds)
	}()
	select {
	case err := <-p.ready:
		if err != nil {
			p.stop()
			tb.Fatal(err)
		}
	case <-time.After(5 * time.Minute):
		p.stop()
		tb.Fatal("subscribers not ready")
	}
	return p
}

// awaitRound waits (at most a minute) until the child reports that every
// socket read round i; who and what name them in the failure.
func (p *subscriberProc) awaitRound(b *testing.B, who, what string, i int) {
	select {
	case _, ok := <-p.rounds:
		if !ok {
			b.Fatal(who + " ended")
		}
	case <-time.After(60 * time.Second):
		b.Fatalf("%s %d not read", what, i)
	}
}

// cpuSelf is this process's user and system CPU time so far.
func cpuSelf() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

// reportPerMessage reports cpu-ns/msg and msgs/s for msgs deliveries that
// cost cpu.
func reportPerMessage(b *testing.B, cpu time.Duration, msgs int) {
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(msgs), "cpu-ns/msg")
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
}

func (p *subscriberProc) stop() {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func benchHub(tb testing.TB) (*Hub, string, func()) {
	// The subscribers never answer pusher:ping: with the default activity
	// and pong timeouts the hub would close them a minute in.
	hub, err := NewHub(Options{AppKey: testKey, AppSecret: testSecret, SendQueue: 1024, ActivityTimeout: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = hub.ServeWebSocket(wrappedWriter{w}, r, "")
	}))
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/app/" + testKey
	return hub, url, func() { hub.Close(); srv.Close() }
}

func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkIdleConns measures what one idle subscribed socket costs the hub's
// process: goroutines, stack and heap in use (after GC) and RSS (before and
// after a forced GC), per socket. Run with -benchtime 1x.
func BenchmarkIdleConns(b *testing.B) {
	channel := cmp.Or(os.Getenv("RECORDSYNC_IDLE_CHANNEL"), "private-record.flow.1")
	for _, n := range benchSizes() {
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			hub, url, closeHub := benchHub(b)
			defer closeHub()
			runtime.GC()
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			g0, rss0 := runtime.NumGoroutine(), rssBytes()
			p := startSubscribers(b, url, n, channel)
			defer p.stop()
			time.Sleep(2 * time.Second)
			g1, rssIdle := runtime.NumGoroutine(), rssBytes()
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&m1)
			rssGC := rssBytes()
			if hub.Connections() != n {
				b.Fatalf("%d connections", hub.Connections())
			}
			if f := os.Getenv("RECORDSYNC_IDLE_HEAP"); f != "" && n == 10000 {
				writeProfile(b, "heap", f)
			}
			if f := os.Getenv("RECORDSYNC_IDLE_GOROUTINES"); f != "" && n == 10000 {
				writeProfile(b, "goroutine", f)
			}
			per := func(a, z uint64) float64 { return (float64(z) - float64(a)) / float64(n) / 1024 }
			b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/conn")
			b.ReportMetric(per(m0.StackInuse, m1.StackInuse), "KB-stack/conn")
			b.ReportMetric(per(m0.HeapInuse, m1.HeapInuse), "KB-heap/conn")
			b.ReportMetric(per(rss0, rssIdle), "KB-rss/conn")
			b.ReportMetric(per(rss0, rssGC), "KB-rss-gc/conn")
			for range b.N {
			}
		})
	}
}

// benchSizes are the socket counts: RECORDSYNC_BENCH_SIZES (comma
// separated), default 1000 and 10000.
func benchSizes() []int {
	v := cmp.Or(os.Getenv("RECORDSYNC_BENCH_SIZES"), "1000,10000")
	var sizes []int
	for _, f := range strings.Split(v, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			sizes = append(sizes, n)
		}
	}
	return sizes
}

func writeProfile(tb testing.TB, name, file string) {
	f, err := os.Create(file)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkFanoutFloor is BenchmarkFanout's floor: the same number of bare
// write(2)s of a frame of the same size (the bench event's websocket frame),
// one per TCP connection, from GOMAXPROCS goroutines, no websocket and no
// hub; another process reads them the same way. cpu-ns/msg is this
// process's CPU per write: BenchmarkFanout's over it is the share of a
// delivery that is not the kernel's. Alternate the two (-bench
// 'Fanout(Floor)?$' runs both, one after the other, per size).
func BenchmarkFanoutFloor(b *testing.B) {
	data := []byte(`{"tenant_id":null,"record_type":"flow","record_id":1,"updated_by_id":2,"updated_by_name":"Bob","tab_id":null}`)
	frame := wsText(eventFrame("bench.event", "private-record.flow.1", data))
	for _, n := range benchSizes() {
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan []net.Conn, 1)
			go func() {
				conns := make([]net.Conn, 0, n)
				for len(conns) < n {
					c, err := ln.Accept()
					if err != nil {
						break
					}
					conns = append(conns, c)
				}
				accepted <- conns
			}()
			p := startSubscribers(b, ln.Addr().String(), n, "raw:"+strconv.Itoa(len(frame)))
			defer p.stop()
			conns := <-accepted
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			workers := runtime.GOMAXPROCS(0)
			per := (len(conns) + workers - 1) / workers
			b.ResetTimer()
			cpu0 := cpuSelf()
			for i := 0; i < b.N; i++ {
				var wg sync.WaitGroup
				for w := 0; w < len(conns); w += per {
					part := conns[w:min(w+per, len(conns))]
					wg.Go(func() {
						for _, c := range part {
							if _, err := c.Write(frame); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				p.awaitRound(b, "readers", "round", i)
			}
			b.StopTimer()
			reportPerMessage(b, cpuSelf()-cpu0, b.N*n)
		})
	}
}

// BenchmarkFanout: one Publish to n subscribed sockets (another process
// reads them), waited for until every socket has received it. ns/op is the
// whole fan-out; allocs/op and B/op count this process only (the hub's
// publish and its writers); cpu-ns/msg is this process's CPU time per
// delivered message (1e9 / it = deliveries per core-second).
func BenchmarkFanout(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			hub, url, closeHub := benchHub(b)
			defer closeHub()
			p := startSubscribers(b, url, n, "private-record.flow.1")
			defer p.stop()
			data := []byte(`{"tenant_id":null,"record_type":"flow","record_id":1,"updated_by_id":2,"updated_by_name":"Bob","tab_id":null}`)
			ev := Event{Channel: "private-record.flow.1", Name: "bench.event", Data: data}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuSelf()
			for i := 0; i < b.N; i++ {
				hub.Publish(ev)
				p.awaitRound(b, "subscribers", "publish", i)
			}
			b.StopTimer()
			reportPerMessage(b, cpuSelf()-cpu0, b.N*n)
		})
	}
}
