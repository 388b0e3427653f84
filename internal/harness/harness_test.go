package harness

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The global options block, byte for byte as the end-to-end tests wrote it
// before it moved here (the order of options does not matter to Caddy).
func TestGlobal(t *testing.T) {
	g := Global{AdminPort: 2019, HTTPPort: 8080, GracePeriod: "2s", LogLevel: "WARN", Extra: []string{"metrics"}}
	want := "{\n\tadmin 127.0.0.1:2019\n\thttp_port 8080\n\tauto_https off\n\tskip_install_trust\n\tgrace_period 2s\n\tpersist_config off\n\tmetrics\n\tlog {\n\t\tlevel WARN\n\t}\n}\n"
	if got := g.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := (Global{}).String(); !strings.Contains(got, "\t\tlevel ERROR\n") || strings.Contains(got, "grace_period") {
		t.Fatalf("defaults:\n%s", got)
	}
}

func TestSite(t *testing.T) {
	got := Site(":{PORT}", Block("recordsync", "record flow /api/v1/flows/{id}", "app_id 1"), "reverse_proxy 127.0.0.1:9")
	want := ":{PORT} {\n\trecordsync {\n\t\trecord flow /api/v1/flows/{id}\n\t\tapp_id 1\n\t}\n\treverse_proxy 127.0.0.1:9\n}\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	c := &Caddy{HTTPPort: 1234}
	if got := c.Config(":{PORT} {\n}\n"); !strings.HasSuffix(got, "}\n:1234 {\n}\n") {
		t.Fatalf("config: %q", got)
	}
}

func TestFreePort(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d is not free: %v", port, err)
	}
	l.Close()
}

func TestOutputLimit(t *testing.T) {
	o := &Output{Limit: 4}
	o.Write([]byte("abcde"))
	o.Write([]byte("fg"))
	if got := o.String(); got != "fg" {
		t.Fatalf("got %q", got)
	}
}

func TestProc(t *testing.T) {
	p, err := Start(Options{Name: "sh", Group: true, StopTimeout: time.Second}, "sh", "-c", "echo started; exec sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	err = p.waitFor(5*time.Second, func() error {
		if !strings.Contains(p.Output(), "started") {
			return fmt.Errorf("nothing yet")
		}
		return nil
	}, "did not start")
	if err != nil {
		t.Fatal(err)
	}
	p.Stop()
	select {
	case <-p.Exited():
	default:
		t.Fatal("Stop returned before the process exited")
	}
	p.Stop() // idempotent

	q, err := Start(Options{}, "sh", "-c", "echo oops >&2; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Stop()
	err = q.WaitListen("127.0.0.1:1", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "sh exited early") {
		t.Fatalf("WaitListen on an exited process: %v", err)
	}
	if !strings.Contains(q.Output(), "oops") {
		t.Fatalf("stderr not kept: %q", q.Output())
	}
}

func TestMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "# HELP x y\n# TYPE recordsync_cluster_up gauge\nrecordsync_cluster_up 1\n"+
			"recordsync_conflicts_total{answered_by=\"cache\"} 12\nrecordsync_conflicts_total{answered_by=\"upstream\"} 3\n")
	}))
	defer srv.Close()
	c := &Caddy{AdminPort: srv.Listener.Addr().(*net.TCPAddr).Port}
	m, err := c.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || m["recordsync_cluster_up"] != 1 || m[`recordsync_conflicts_total{answered_by="cache"}`] != 12 {
		t.Fatalf("metrics: %v", m)
	}
}

func TestRedis(t *testing.T) {
	r, err := StartRedis(t.TempDir())
	if err == ErrNoRedis {
		t.Fatal("redis-server not found: this test needs it (apt-get install redis-server)")
	} else if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if err := PingRedis(r.Addr()); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	if err := PingRedis(r.Addr()); err == nil {
		t.Fatal("stopped Redis answers PING")
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	if err := r.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := PingRedis(r.Addr()); err == nil {
		t.Fatal("paused Redis answers PING")
	}
	r.Stop() // a paused server stops too
	if r.Pid() != 0 {
		t.Fatal("Pid of a stopped Redis")
	}
}
