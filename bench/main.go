// Command bench measures recordsync against its baselines and its peers
// (Centrifugo, built by the bench) in one run and writes bench/REPORT.md.
// See bench/README.md.
//
//	cd bench && go run .            # the full run (~30 minutes)
//	cd bench && go run . -quick     # ~9 minutes: shorter loads, no 18k fan-out, a smaller shape and storm
//
// The bench is a Go module of its own (its chart renderer's dependency is
// not the product's); it builds against the checkout around it.
//
// It builds Caddy from ./cmd/caddy, starts every server on free loopback
// ports (a Go upstream, plain Caddy, Caddy with recordsync, the example
// Laravel app on php-fpm, Redis, Centrifugo), drives them with wrk and with
// separate websocket generator processes (this binary with
// -role=subscribers and -role=storm), and stops everything at the end.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/recordsync/recordsync/internal/harness"
)

const (
	benchAppKey    = "benchkey"
	benchAppSecret = "benchsecret"
)

var logStart = time.Now()

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(logStart).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	role := flag.String("role", "", "internal: upstream | subscribers | storm | rawwriter | rawreaders")
	addr := flag.String("addr", "", "internal (upstream, rawwriter, rawreaders): listen or dial address")
	url := flag.String("url", "", "internal (subscribers): websocket URL")
	n := flag.Int("n", 0, "internal (subscribers): connections")
	channel := flag.String("channel", "", "internal (subscribers): channel")
	key := flag.String("key", "", "internal (subscribers): app key")
	secret := flag.String("secret", "", "internal (subscribers): app secret")
	publishes := flag.Int("publishes", 20, "internal (rawwriter): rounds of writes")
	size := flag.Int("size", 300, "internal (rawwriter, rawreaders): frame bytes")
	silent := flag.Int("silent", 0, "internal (subscribers): sockets that subscribe and never read")
	silentChannel := flag.String("silent-channel", "", "internal (subscribers): a second channel for the silent sockets")
	cookies := flag.String("cookies", "", "internal (storm): file of the users' cookies and CSRF tokens")
	flows := flag.Int("flows", 0, "internal (storm): flows the tabs show")
	proto := flag.String("proto", "pusher", "internal (subscribers): pusher (recordsync) or centrifugo")
	shape := flag.String("shape", "0,0", "internal (subscribers): records,per-list of the realistic layout (0: one channel)")

	quick := flag.Bool("quick", false, "about 9 minutes: 2 s loads, fan-out at 1k and 10k only, a smaller shape and storm")
	out := flag.String("out", "", "report path (default bench/REPORT.md in the repository)")
	dur := flag.Duration("d", 0, "duration of one wrk run (default 6s, quick 2s)")
	rounds := flag.Int("rounds", 0, "A/B alternations per comparison (default 3)")
	conns := flag.Int("c", 32, "wrk connections")
	sizes := flag.String("sizes", "", "fan-out subscriber counts (default 1000,10000,18000; quick 1000,10000)")
	skipLaravel := flag.Bool("skip-laravel", false, "skip the Laravel (php-fpm) baseline")
	skipWS := flag.Bool("skip-ws", false, "skip fan-out and connection memory")
	skipCluster := flag.Bool("skip-cluster", false, "skip the two-instance cluster (needs redis-server)")
	skipSlow := flag.Bool("skip-slow", false, "skip the slow-consumer comparison")
	skipPeers := flag.Bool("skip-peers", false, "do not build or run Centrifugo beside recordsync")
	only := flag.String("only", "", "run only these sections (comma-separated): http, laravel, fanout, slow, cluster, shape, storm, hooks")
	fanRounds := flag.Int("fan-rounds", 0, "A/B rounds of recordsync and Centrifugo per fan-out size (default 3, quick 2)")
	shapeRates := flag.String("shape-rates", "", "saves per second of the realistic shape (default 50,200,500; quick 50,200)")
	shapeDur := flag.Duration("shape-d", 0, "how long each rate of the realistic shape runs (default 10s, quick 4s)")
	shapeSockets := flag.Int("shape-n", 0, "sockets of the realistic shape (default 10000)")
	stormSockets := flag.Int("storm-n", 0, "sockets of the reconnect storm (default 5000, quick 1000)")
	stormUsers := flag.Int("storm-users", 0, "distinct logged-in users of the storm's sockets (default 1000, quick 200)")
	stormAfter := flag.Duration("storm-after", 0, "how long after subscribing the storm's instance is killed (default 3m, quick 20s)")
	stormExtra := flag.String("storm-recordsync", "", "extra lines for the storm's recordsync block (e.g. grant settings), separated by ';'")
	fromJSON := flag.String("render", "", "only re-render the report and charts from this REPORT.json (no measuring)")
	flag.Parse()

	switch *role {
	case "upstream":
		if err := runUpstream(*addr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	case "subscribers":
		if err := runSubscribers(genSpecFrom(*proto, *url, *n, *channel, *key, *secret, *silent, *silentChannel, *shape)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	case "storm":
		if err := runStormGen(stormSpecFrom(*url, *addr, *n, *flows, *cookies)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	case "hookload":
		if err := runHookLoad(*url, *n, *key, *secret); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	case "rawwriter", "rawreaders":
		run := func() error { return runRawReaders(*addr, *n, *size) }
		if *role == "rawwriter" {
			run = func() error { return runRawWriter(*addr, *n, *publishes, *size) }
		}
		if err := run(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	case "":
	default:
		fmt.Fprintln(os.Stderr, "unknown role", *role)
		os.Exit(2)
	}

	if *fromJSON != "" {
		if err := render(*fromJSON, *out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}

	cfg := runConfig{Quick: *quick, Conns: *conns, SkipLaravel: *skipLaravel, SkipWS: *skipWS, SkipCluster: *skipCluster, SkipSlow: *skipSlow,
		SkipPeers: *skipPeers, StormExtra: *stormExtra}
	cfg.Dur, cfg.Rounds, cfg.FanRounds = 6*time.Second, 3, 3
	cfg.Sizes = []int{1000, 10000, 18000}
	cfg.ShapeRates, cfg.ShapeDur, cfg.ShapeSockets = []int{50, 200, 500}, 10*time.Second, 10000
	cfg.StormSockets, cfg.StormUsers, cfg.StormAfter = 5000, 1000, 3*time.Minute
	if *quick {
		cfg.Dur = 2 * time.Second
		cfg.Sizes = []int{1000, 10000}
		cfg.FanRounds = 2
		cfg.ShapeRates, cfg.ShapeDur = []int{50, 200}, 4*time.Second
		cfg.StormSockets, cfg.StormUsers, cfg.StormAfter = 1000, 200, 20*time.Second
	}
	if *fanRounds > 0 {
		cfg.FanRounds = *fanRounds
	}
	if *shapeRates != "" {
		cfg.ShapeRates = intList(*shapeRates)
	}
	if *shapeDur > 0 {
		cfg.ShapeDur = *shapeDur
	}
	if *shapeSockets > 0 {
		cfg.ShapeSockets = *shapeSockets
	}
	if *stormSockets > 0 {
		cfg.StormSockets = *stormSockets
	}
	if *stormUsers > 0 {
		cfg.StormUsers = *stormUsers
	}
	if *stormAfter > 0 {
		cfg.StormAfter = *stormAfter
	}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	if *dur > 0 {
		cfg.Dur = *dur
	}
	if *rounds > 0 {
		cfg.Rounds = *rounds
	}
	if *sizes != "" {
		cfg.Sizes = intList(*sizes)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		logf("interrupted: stopping servers")
		stopAll()
		os.Exit(130)
	}()

	code := 0
	if err := run(cfg, *out); err != nil {
		logf("error: %v", err)
		code = 1
	}
	stopAll()
	os.Exit(code)
}

type runConfig struct {
	Quick       bool
	Dur         time.Duration
	Rounds      int
	Conns       int
	Sizes       []int
	SkipLaravel bool
	SkipWS      bool
	SkipSlow    bool
	SkipCluster bool
	SkipPeers   bool
	// Only, when set, names the sections to run (want).
	Only []string `json:",omitempty"`
	// FanRounds: A/B rounds per fan-out size.
	FanRounds int
	// The realistic shape (section 8): saves per second, how long each
	// rate runs, sockets.
	ShapeRates   []int
	ShapeDur     time.Duration
	ShapeSockets int
	// The reconnect storm (section 9).
	StormSockets, StormUsers int
	StormAfter               time.Duration
	StormExtra               string `json:",omitempty"`
}

// want says whether section (http, laravel, fanout, slow, cluster, shape,
// storm) runs.
func (c runConfig) want(section string) bool {
	switch section {
	case "laravel":
		if c.SkipLaravel {
			return false
		}
	case "fanout", "slow", "shape", "hooks":
		if c.SkipWS || (section == "slow" && c.SkipSlow) {
			return false
		}
	case "cluster":
		if c.SkipCluster {
			return false
		}
	case "storm":
		if c.SkipCluster || c.SkipLaravel || c.SkipWS {
			return false
		}
	}
	return len(c.Only) == 0 || slices.Contains(c.Only, section)
}

// intList parses "1000,10000".
func intList(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var v int
		fmt.Sscan(strings.TrimSpace(f), &v)
		if v > 0 {
			out = append(out, v)
		}
	}
	return out
}

// repoRoot finds the checkout: the directory of the product's go.mod (the
// bench is a module of its own inside it).
func repoRoot() (string, error) {
	dir, _ := os.Getwd()
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && slices.Contains(strings.Split(string(data), "\n"), "module github.com/recordsync/recordsync") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run from inside the recordsync checkout")
		}
		dir = parent
	}
}

func run(cfg runConfig, outPath string) error {
	repo, err := repoRoot()
	if err != nil {
		return err
	}
	if outPath == "" {
		outPath = filepath.Join(repo, "bench", "REPORT.md")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk not found (apt-get install wrk)")
	}
	work, err := os.MkdirTemp("", "recordsync-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	wrkDir = work
	self, err := os.Executable()
	if err != nil {
		return err
	}

	rep := &report{Cfg: cfg, Started: time.Now(), LoadStart: loadAvg()}
	rep.Commit = strings.TrimSpace(cmdOut(repo, "git", "rev-parse", "--short", "HEAD"))
	if strings.TrimSpace(cmdOut(repo, "git", "status", "--porcelain", "--untracked-files=no")) != "" {
		rep.Commit += " + uncommitted changes"
	}
	rep.GoVersion = strings.TrimSpace(cmdOut(repo, "go", "version"))
	rep.Wrk = strings.TrimSpace(strings.SplitN(cmdOut(repo, "wrk", "-v"), "\n", 2)[0])

	logf("memory per cached record, with and without field fingerprints")
	if m, err := measureCacheMemory(20000); err != nil {
		rep.Errors = append(rep.Errors, "cache memory: "+err.Error())
	} else {
		rep.CacheMemory = &m
	}

	logf("building caddy from ./cmd/caddy")
	caddyBin := filepath.Join(work, "caddy")
	if err := harness.BuildCaddy(repo, caddyBin); err != nil {
		return err
	}

	upPort := freePort()
	up, err := startProc("upstream", work, self, "-role=upstream", "-addr", fmt.Sprintf("127.0.0.1:%d", upPort))
	if err != nil {
		return err
	}
	if err := up.WaitListen(fmt.Sprintf("127.0.0.1:%d", upPort), 20*time.Second); err != nil {
		return err
	}
	proxy := fmt.Sprintf("reverse_proxy 127.0.0.1:%d", upPort)
	siteA := harness.Site(":{PORT}", proxy)
	siteB := harness.Site(":{PORT}", harness.Block("recordsync",
		"record flow /api/v1/flows/{id}",
		"app_id 1",
		"app_key "+benchAppKey,
		"app_secret "+benchAppSecret), proxy)
	rep.SiteA, rep.SiteB = siteA, siteB

	if cfg.want("http") {
		a, err := startCaddy(caddyBin, work, "plain", siteA, nil)
		if err != nil {
			return err
		}
		b, err := startCaddy(caddyBin, work, "recordsync", siteB, nil)
		if err != nil {
			return err
		}
		upTicks := watched{"upstream", func() int64 { return cpuTicks(up.Pid()) }}
		aTicks := watched{"caddy", func() int64 { return cpuTicks(a.Pid()) }}
		bTicks := watched{"caddy", func() int64 { return cpuTicks(b.Pid()) }}

		logf("warm-up")
		for _, c := range []*caddy{a, b} {
			runWrk(c.URL(), load{Path: "/api/v1/other"}, 2*time.Second, cfg.Conns, nil)
			runWrk(c.URL(), load{Lua: luaGetRandom}, 1*time.Second, cfg.Conns, nil)
		}

		// 1. Pass-through.
		logf("1. pass-through (non-record path)")
		other := load{Path: "/api/v1/other", Headers: []string{"Accept: application/json"}}
		rep.Pass, err = compare(cfg.Rounds, cfg.Dur, cfg.Conns,
			variant{Name: "plain reverse_proxy", Base: a.URL(), Load: other, Watch: []watched{aTicks, upTicks}},
			variant{Name: "recordsync + reverse_proxy", Base: b.URL(), Load: other, Watch: []watched{bTicks, upTicks}})
		if err != nil {
			rep.Errors = append(rep.Errors, "pass-through: "+err.Error())
		}

		// 2. Inspected record GET and PUT.
		logf("2. inspected record GET / PUT")
		getL := load{Path: "/api/v1/flows/1", Lua: luaGetRandom}
		rep.Get, err = compare(cfg.Rounds, cfg.Dur, cfg.Conns,
			variant{Name: "plain GET", Base: a.URL(), Load: getL, Watch: []watched{aTicks, upTicks}},
			variant{Name: "recordsync GET", Base: b.URL(), Load: getL, Watch: []watched{bTicks, upTicks}})
		if err != nil {
			rep.Errors = append(rep.Errors, "record GET: "+err.Error())
		}
		putL := load{Path: "/api/v1/flows/1", Lua: luaPut(`{"name":"Bench flow","description":"Saved by wrk."}`, true)}
		rep.Put, err = compare(cfg.Rounds, cfg.Dur, cfg.Conns,
			variant{Name: "plain PUT", Base: a.URL(), Load: putL, Watch: []watched{aTicks, upTicks}},
			variant{Name: "recordsync PUT", Base: b.URL(), Load: putL, Watch: []watched{bTicks, upTicks}})
		if err != nil {
			rep.Errors = append(rep.Errors, "record PUT: "+err.Error())
		}

		// 3a. Conflicts and polls, Go upstream.
		logf("3a. conflict / poll from cache vs the Go upstream")
		const bearer = "Authorization: Bearer bench-user-token"
		staleBody := `{"name":"Stale","client_version":"2020-01-01T00:00:00.000000Z"}`
		rep.GoChecks = preflight(b.URL(), []string{"Authorization", "Bearer bench-user-token"}, staleBody)
		conflictL := load{Path: "/api/v1/flows/1", Lua: luaPut(staleBody, false), Headers: []string{bearer}}
		pollL := load{Path: "/api/v1/records/flow/1/version", Headers: []string{bearer, "Accept: application/json"}}
		rep.GoConflict, err = compare(cfg.Rounds, cfg.Dur, cfg.Conns,
			variant{Name: "409 by the Go upstream (plain Caddy)", Base: a.URL(), Load: conflictL, Watch: []watched{aTicks, upTicks}},
			cacheVariant("409 from recordsync's cache", b, conflictL, []watched{bTicks, upTicks}, "recordsync_conflicts_total", `answered_by="cache"`, &rep.GoConflictCacheShare))
		if err != nil {
			rep.Errors = append(rep.Errors, "Go conflict: "+err.Error())
		}
		rep.GoPoll, err = compare(cfg.Rounds, cfg.Dur, cfg.Conns,
			variant{Name: "poll by the Go upstream (plain Caddy)", Base: a.URL(), Load: pollL, Watch: []watched{aTicks, upTicks}},
			cacheVariant("poll from recordsync's cache", b, pollL, []watched{bTicks, upTicks}, "recordsync_version_polls_total", `answered_by="cache"`, &rep.GoPollCacheShare))
		if err != nil {
			rep.Errors = append(rep.Errors, "Go poll: "+err.Error())
		}
		// 3c. The floor of any answer Caddy gives: a Caddy with no module
		// answering the poll with a fixed body (`respond`), alternated with the
		// poll from recordsync's cache.
		logf("3c. poll from cache vs Caddy `respond` (the floor)")
		floorSite := ":{PORT} {\n\theader Content-Type application/json\n\trespond `" + pollFloorBody + "` 200\n}\n"
		rep.SiteF = floorSite
		if f, err := startCaddy(caddyBin, work, "respond", floorSite, nil); err != nil {
			rep.Errors = append(rep.Errors, "respond floor: "+err.Error())
		} else {
			fTicks := watched{"caddy", func() int64 { return cpuTicks(f.Pid()) }}
			runWrk(f.URL(), pollL, time.Second, cfg.Conns, nil)
			var share []float64
			rep.PollFloor, err = compare(cfg.Rounds, cfg.Dur, cfg.Conns,
				variant{Name: "Caddy `respond`, no module (the floor)", Base: f.URL(), Load: pollL, Watch: []watched{fTicks}},
				cacheVariant("poll from recordsync's cache", b, pollL, []watched{bTicks, upTicks}, "recordsync_version_polls_total", `answered_by="cache"`, &share))
			if err != nil {
				rep.Errors = append(rep.Errors, "respond floor: "+err.Error())
			}
			f.Stop()
		}
		a.Stop()
		b.Stop()
	}

	// 3b. Conflicts and polls, the real Laravel app.
	if cfg.want("laravel") {
		logf("3b. conflict / poll from cache vs the Laravel app (php-fpm)")
		if err := runLaravel(cfg, rep, repo, work, caddyBin); err != nil {
			rep.Errors = append(rep.Errors, "laravel: "+err.Error())
			logf("  laravel: %v", err)
		}
	}

	// 4 and 5. Fan-out and connection memory, recordsync and Centrifugo
	// alternated (A, B, then B, A, …), a fresh server for every run.
	var centBin string
	if (cfg.want("fanout") || cfg.want("shape")) && !cfg.SkipPeers {
		rep.Mercure = mercureStatus()
		logf("peers: Mercure: %s", rep.Mercure)
		var err error
		if centBin, rep.CentrifugoBuild, err = centrifugoBinary(); err != nil {
			rep.Errors = append(rep.Errors, "centrifugo: "+err.Error())
			logf("  centrifugo: %v", err)
			centBin = ""
		} else {
			logf("peers: Centrifugo %s", rep.CentrifugoBuild)
		}
	}
	if cfg.want("fanout") {
		for _, n := range cfg.Sizes {
			for round := 0; round < cfg.FanRounds; round++ {
				systems := []string{"recordsync", "centrifugo"}
				if round%2 == 1 {
					systems = []string{"centrifugo", "recordsync"}
				}
				for _, sys := range systems {
					var r fanResult
					switch {
					case sys == "recordsync":
						logf("4/5. fan-out and idle memory, %d subscribers, round %d: recordsync", n, round+1)
						r = runFanout(self, caddyBin, work, siteB, n, 20)
					case centBin != "":
						logf("4/5. fan-out and idle memory, %d subscribers, round %d: Centrifugo", n, round+1)
						r = runCentFanout(self, centBin, work, n, 20)
					default:
						continue
					}
					r.Round = round + 1
					logf("  %s %d: %.1f KB/conn (own metrics %.1f KB), %.2f goroutines/conn, p50 %.1f ms p99 %.1f ms max %.1f ms, delivered %d/%d, %.0f msg/s, cpu %.2fs (%.1f µs/msg)",
						sys, n, r.KBPerConn, r.HeapKBPerConn(), r.GorPerConn, r.Stats.P50ms, r.Stats.P99ms, r.Stats.Maxms, r.Stats.Delivered, r.Stats.Expected, r.Stats.MsgsPerSec, r.CaddyCPU, r.CPUPerMsgUS())
					if sys == "recordsync" {
						rep.Fan = append(rep.Fan, r)
					} else {
						rep.CentFan = append(rep.CentFan, r)
					}
				}
			}
			// The floor: the same number of bare write(2)s of a frame of
			// the same size (payload + the 4-byte websocket header).
			size := 300
			if r := rep.fan(n); r != nil && r.Stats.FrameBytes > 0 {
				size = r.Stats.FrameBytes + 4
			}
			f := runFloor(self, n, 20, size)
			logf("  floor %d: %.0f writes per CPU-s, p50 %.1f ms p99 %.1f ms max %.1f ms, received %d/%d",
				n, f.WritesPerCPU(), f.P50ms, f.P99ms, f.Maxms, f.Received, f.Writes)
			rep.Floor = append(rep.Floor, f)
		}
	}

	// 7. Slow consumers: 1% of 5,000 subscribers stop reading.
	if cfg.want("slow") {
		logf("7. slow consumers: 1%% of 5,000 subscribers stop reading")
		publishes, rounds := 40, cfg.Rounds
		if cfg.Quick {
			publishes, rounds = 20, 2
		}
		rep.Slow = runSlow(self, caddyBin, work, siteB, 4950, 50, publishes, rounds)
	}

	// 6. Two instances on one Redis vs one instance.
	if cfg.want("cluster") || cfg.want("storm") {
		rep.RedisVersion = redisVersion()
	}
	if cfg.want("cluster") {
		if err := runCluster(cfg, rep, self, caddyBin, work, upPort, up); err != nil {
			rep.Errors = append(rep.Errors, "cluster: "+err.Error())
			logf("  cluster: %v", err)
		}
	}

	// 8. The realistic shape: record, list and presence channel per socket.
	if cfg.want("shape") {
		rep.Shape = runShape(cfg, self, caddyBin, centBin, work, upPort, up)
	}

	// 9. The reconnect storm: a cluster instance dies under 5,000 sockets.
	if cfg.want("storm") {
		rep.Storm = runStorm(cfg, repo, self, caddyBin, work)
	}

	// 10. Webhooks and the live console on the publish path.
	if cfg.want("hooks") {
		rep.Hooks = runHooks(cfg, self, caddyBin, work, upPort)
	}
	up.Stop()

	rep.Finished = time.Now()
	rep.LoadEnd = loadAvg()
	rep.drawCharts(filepath.Dir(outPath))
	if err := os.WriteFile(outPath, []byte(rep.markdown()), 0o644); err != nil {
		return err
	}
	if raw, err := json.MarshalIndent(rep, "", "  "); err == nil {
		jsonPath := strings.TrimSuffix(outPath, ".md") + ".json"
		os.WriteFile(jsonPath, raw, 0o644)
	}
	logf("wrote %s (and the raw numbers as .json, for charts)", outPath)
	return nil
}

// pollFloorBody is what a version poll from the cache answers, for the
// `respond` floor.
const pollFloorBody = `{"success":true,"data":{"updated_at":"2026-11-25T21:00:16.221069Z","updated_by_id":null,"updated_by_name":null}}`

// cacheVariant is a variant whose share of requests answered from the cache
// is read from Caddy's metrics around each run.
func cacheVariant(name string, c *caddy, l load, ws []watched, metric, label string, share *[]float64) variant {
	var before float64
	return variant{Name: name, Base: c.URL(), Load: l, Watch: ws,
		Before: func() { before = c.metric(metric, label) },
		After: func(r wrkResult) {
			if r.Requests > 0 {
				*share = append(*share, (c.metric(metric, label)-before)/float64(r.Requests))
			}
		}}
}

// preflight authorises the caller (one GET of the record through
// recordsync), then checks one stale PUT and one poll, and says what came back.
func preflight(base string, auth []string, staleBody string) []string {
	var notes []string
	st, _, _, err := do("GET", base+"/api/v1/flows/1", "", auth...)
	notes = append(notes, fmt.Sprintf("GET /api/v1/flows/1 (authorises the caller): %d %v", st, errOrEmpty(err)))
	st, _, body, err := do("PUT", base+"/api/v1/flows/1", staleBody, auth...)
	notes = append(notes, fmt.Sprintf("stale PUT: %d %s%v", st, truncate(body, 160), errOrEmpty(err)))
	st, hdr, body, err := do("GET", base+"/api/v1/records/flow/1/version", "", auth...)
	notes = append(notes, fmt.Sprintf("poll: %d X-Recordsync-Cache=%s %s%v", st, hdr, truncate(body, 160), errOrEmpty(err)))
	st, hdr, _, _ = do("GET", base+"/api/v1/records/flow/1/version", "", auth...)
	notes = append(notes, fmt.Sprintf("second poll: %d X-Recordsync-Cache=%s", st, hdr))
	for _, n := range notes {
		logf("  preflight: %s", n)
	}
	return notes
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func cmdOut(dir string, name string, args ...string) string {
	c := exec.Command(name, args...)
	c.Dir = dir
	b, _ := c.CombinedOutput()
	return string(b)
}

func runLaravel(cfg runConfig, rep *report, repo, work, caddyBin string) error {
	l, err := startLaravel(repo, work)
	if err != nil {
		return err
	}
	defer l.Stop()
	plainSite := harness.Site(":{PORT}", l.Directives()...)
	rsSite := harness.Site(":{PORT}", append([]string{harness.Block("recordsync",
		"record flow /api/v1/flows/{id}",
		"laravel_app_key {env.BENCH_LARAVEL_APP_KEY}")}, l.Directives()...)...)
	// The report names no path of this machine: the checkout is <repo>.
	rep.SiteL = strings.ReplaceAll(plainSite, repo, "<repo>")
	rep.SiteLR = strings.ReplaceAll(rsSite, repo, "<repo>")
	lp, err := startCaddy(caddyBin, work, "laravel-plain", plainSite, nil)
	if err != nil {
		return err
	}
	defer lp.Stop()
	lr, err := startCaddy(caddyBin, work, "laravel-recordsync", rsSite, []string{"BENCH_LARAVEL_APP_KEY=" + l.AppKey})
	if err != nil {
		return err
	}
	defer lr.Stop()
	cookie, err := laravelLogin(lp.URL())
	if err != nil {
		return err
	}
	staleBody := `{"name":"Stale","client_version":"2020-01-01T00:00:00.000000Z"}`
	rep.LaravelChecks = preflight(lr.URL(), []string{"Cookie", cookie}, staleBody)
	fpm := watched{"php-fpm", func() int64 { return groupTicks(l.Pid()) }}
	lpT := watched{"caddy", func() int64 { return cpuTicks(lp.Pid()) }}
	lrT := watched{"caddy", func() int64 { return cpuTicks(lr.Pid()) }}
	hdr := []string{"Cookie: " + cookie}
	conflictL := load{Path: "/api/v1/flows/1", Lua: luaPut(staleBody, false), Headers: hdr}
	pollL := load{Path: "/api/v1/records/flow/1/version", Headers: append(hdr, "Accept: application/json")}
	// warm php's opcache
	runWrk(lp.URL(), pollL, 2*time.Second, 8, nil)
	rep.LaravelConflict, err = compare(cfg.Rounds, cfg.Dur, cfg.Conns,
		variant{Name: "409 by Laravel (php_fastcgi)", Base: lp.URL(), Load: conflictL, Watch: []watched{lpT, fpm}},
		cacheVariant("409 from recordsync's cache (Laravel behind)", lr, conflictL, []watched{lrT, fpm}, "recordsync_conflicts_total", `answered_by="cache"`, &rep.LaravelConflictCacheShare))
	if err != nil {
		return err
	}
	rep.LaravelPoll, err = compare(cfg.Rounds, cfg.Dur, cfg.Conns,
		variant{Name: "poll by Laravel (php_fastcgi)", Base: lp.URL(), Load: pollL, Watch: []watched{lpT, fpm}},
		cacheVariant("poll from recordsync's cache (Laravel behind)", lr, pollL, []watched{lrT, fpm}, "recordsync_version_polls_total", `answered_by="cache"`, &rep.LaravelPollCacheShare))
	return err
}

// render rewrites the report and its charts from a REPORT.json.
func render(jsonPath, outPath string) error {
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	rep := &report{}
	if err := json.Unmarshal(raw, rep); err != nil {
		return err
	}
	if outPath == "" {
		outPath = strings.TrimSuffix(jsonPath, ".json") + ".md"
	}
	rep.drawCharts(filepath.Dir(outPath))
	return os.WriteFile(outPath, []byte(rep.markdown()), 0o644)
}
