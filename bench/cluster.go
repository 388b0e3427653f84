package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/recordsync/recordsync/internal/harness"
)

// The two-instance cluster against one instance: fan-out with the
// publisher on instance A and half the subscribers on instance B, and the
// cost of the cluster-wide write lock on conditional writes.

// startRedis runs a throw-away redis-server (no persistence) on a free port
// (harness.StartRedis) in a folder under work, and tracks it.
func startRedis(work string) (*harness.Redis, error) {
	dir, err := os.MkdirTemp(work, "redis-")
	if err != nil {
		return nil, err
	}
	r, err := harness.StartRedis(dir)
	if err != nil {
		return nil, err
	}
	track(r)
	return r, nil
}

// clusterSiteFor is the recordsync site (siteB's block) with `cluster` on
// redisAddr under cluster_name name.
func clusterSiteFor(upPort int, redisAddr, name string) string {
	return fmt.Sprintf(`:{PORT} {
	recordsync {
		record flow /api/v1/flows/{id}
		app_id 1
		app_key %s
		app_secret %s
		cluster redis://%s/0
		cluster_name %s
	}
	reverse_proxy 127.0.0.1:%d
}
`, benchAppKey, benchAppSecret, redisAddr, name, upPort)
}

// waitClusterUp waits until c's metrics say its cluster bus is up.
func waitClusterUp(c *caddy) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c.metric("recordsync_cluster_up", "") == 1 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("cluster bus of %s not up:\n%s", c.Name, harness.Tail(c.Log(), 2000))
}

// startClusterPair starts two Caddy processes on one cluster.
func startClusterPair(caddyBin, work, site, label string) (*caddy, *caddy, error) {
	a, err := startCaddy(caddyBin, work, label+"-A", site, nil)
	if err != nil {
		return nil, nil, err
	}
	b, err := startCaddy(caddyBin, work, label+"-B", site, nil)
	if err != nil {
		a.Stop()
		return nil, nil, err
	}
	for _, c := range []*caddy{a, b} {
		if err := waitClusterUp(c); err != nil {
			a.Stop()
			b.Stop()
			return nil, nil, err
		}
	}
	return a, b, nil
}

// lockStat is what Caddy's cluster lock metrics say about one run.
type lockStat struct {
	Acquired  float64 // locks acquired per request
	MeanWaitM float64 // mean wait for the lock, ms
	Fallbacks float64
}

// shareVariant wraps v so that the share of its requests answered from the
// cache (metric with label, summed over cs) is appended to *share per run.
func shareVariant(v variant, cs []*caddy, metric, label string, share *[]float64) variant {
	var before float64
	sum := func() (t float64) {
		for _, c := range cs {
			t += c.metric(metric, label)
		}
		return
	}
	prevBefore, prevAfter := v.Before, v.After
	v.Before = func() {
		if prevBefore != nil {
			prevBefore()
		}
		before = sum()
	}
	v.After = func(r wrkResult) {
		if prevAfter != nil {
			prevAfter(r)
		}
		if r.Requests > 0 {
			*share = append(*share, (sum()-before)/float64(r.Requests))
		}
	}
	return v
}

// lockVariant wraps v so that the cluster lock metrics of cs are read
// around each run into out[v.Name].
func lockVariant(v variant, cs []*caddy, out map[string][]lockStat) variant {
	var cnt0, sum0, fb0 float64
	read := func() (cnt, sum, fb float64) {
		for _, c := range cs {
			cnt += c.metric("recordsync_cluster_lock_wait_seconds_count", `outcome="acquired"`)
			sum += c.metric("recordsync_cluster_lock_wait_seconds_sum", `outcome="acquired"`)
			fb += c.metric("recordsync_cluster_lock_fallbacks_total", "")
		}
		return
	}
	prevBefore, prevAfter := v.Before, v.After
	v.Before = func() {
		if prevBefore != nil {
			prevBefore()
		}
		cnt0, sum0, fb0 = read()
	}
	v.After = func(r wrkResult) {
		if prevAfter != nil {
			prevAfter(r)
		}
		cnt, sum, fb := read()
		ls := lockStat{Fallbacks: fb - fb0}
		if r.Requests > 0 {
			ls.Acquired = (cnt - cnt0) / float64(r.Requests)
		}
		if cnt > cnt0 {
			ls.MeanWaitM = 1000 * (sum - sum0) / (cnt - cnt0)
		}
		out[v.Name] = append(out[v.Name], ls)
	}
	return v
}

// wrkSplit runs the same wrk load against every base at once, conns split
// evenly, and adds the results up.
func wrkSplit(bases []string, l load, d time.Duration, conns int) (wrkResult, error) {
	res := wrkResult{CPU: map[string]float64{}}
	rs := make([]wrkResult, len(bases))
	errs := make([]error, len(bases))
	var wg sync.WaitGroup
	for i, b := range bases {
		wg.Add(1)
		go func(i int, b string) {
			defer wg.Done()
			rs[i], errs[i] = runWrk(b, l, d, conns/len(bases), nil)
		}(i, b)
	}
	wg.Wait()
	var lats []string
	for i, r := range rs {
		if errs[i] != nil {
			return res, errs[i]
		}
		res.RPS += r.RPS
		res.Requests += r.Requests
		res.Non2xx += r.Non2xx
		if r.Seconds > res.Seconds {
			res.Seconds = r.Seconds
		}
		lats = append(lats, r.Latency)
	}
	res.Latency = strings.Join(lats, "/")
	return res, nil
}

// condPuts is the successful-conditional-write load: conns workers, each
// owning record firstID+w, each doing read-modify-write in a loop for d: a
// PUT with client_version = the version the previous answer carried (so
// every write is current and should be 200). With several bases a worker
// alternates between them request by request (its record's writes go
// through A, B, A, …), so each write's version was learned on the other
// instance. Non2xx counts answers other than 200 (409s would be lost
// ordering, 503s a lock given up on).
func condPuts(bases []string, d time.Duration, conns, firstID int) (wrkResult, error) {
	tr := &http.Transport{MaxIdleConns: 4 * conns, MaxIdleConnsPerHost: 2 * conns, DisableCompression: true, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	type answer struct {
		Data struct {
			UpdatedAt string `json:"updated_at"`
		} `json:"data"`
	}
	send := func(method, url string, body []byte) (int, string, error) {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer bench-writer")
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var a answer
		json.Unmarshal(b, &a)
		return resp.StatusCode, a.Data.UpdatedAt, nil
	}
	// each worker starts from its record's current version
	versions := make([]string, conns)
	for w := 0; w < conns; w++ {
		st, v, err := send("GET", fmt.Sprintf("%s/api/v1/flows/%d", bases[0], firstID+w), nil)
		if err != nil || st != 200 || v == "" {
			return wrkResult{}, fmt.Errorf("conditional writes: GET of record %d: %d %v", firstID+w, st, err)
		}
		versions[w] = v
	}
	var ok, non, errs atomic.Int64
	lats := make([][]time.Duration, conns)
	var firstErr atomic.Value
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			v := versions[w]
			for i := 0; time.Now().Before(deadline); i++ {
				url := fmt.Sprintf("%s/api/v1/flows/%d", bases[(w+i)%len(bases)], firstID+w)
				body := []byte(fmt.Sprintf(`{"name":"Writer %d #%d","client_version":%q}`, w, i, v))
				t0 := time.Now()
				st, nv, err := send("PUT", url, body)
				lats[w] = append(lats[w], time.Since(t0))
				switch {
				case err != nil:
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					time.Sleep(10 * time.Millisecond)
				case st == 200:
					ok.Add(1)
				default:
					non.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d", st))
				}
				if nv != "" {
					v = nv
				}
			}
		}(w)
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	res := wrkResult{CPU: map[string]float64{}, Seconds: secs}
	res.Requests = ok.Load() + non.Load() + errs.Load()
	res.Non2xx = non.Load() + errs.Load()
	res.RPS = float64(res.Requests) / secs
	if len(all) > 0 {
		var sum time.Duration
		for _, x := range all {
			sum += x
		}
		res.Latency = fmt.Sprintf("%.2fms (p99 %.2fms)", float64(sum)/float64(len(all))/1e6, float64(all[int(0.99*float64(len(all)-1))])/1e6)
	}
	if fe, _ := firstErr.Load().(string); fe != "" {
		res.Errors = fe
	}
	return res, nil
}

// runCluster measures the cluster section: fan-out on two instances for
// each size, then conditional writes with and without the cluster lock.
func runCluster(cfg runConfig, rep *report, self, caddyBin, work string, upPort int, up *harness.Proc) error {
	redis, err := startRedis(work)
	if err != nil {
		return err
	}
	defer redis.Stop()
	redisAddr := redis.Addr()
	redisT := watched{"redis", func() int64 { return cpuTicks(redis.Pid()) }}
	upT := watched{"upstream", func() int64 { return cpuTicks(up.Pid()) }}
	rep.SiteC = clusterSiteFor(upPort, redisAddr, "bench")

	if !cfg.SkipWS {
		for _, n := range cfg.Sizes {
			if n > 10000 {
				continue // 18k: one instance only (time; each process holds 9k there)
			}
			logf("6a. cluster fan-out, %d subscribers over 2 instances (publishes through A)", n)
			a, b, err := startClusterPair(caddyBin, work, clusterSiteFor(upPort, redisAddr, fmt.Sprintf("bench-fan-%d", n)), fmt.Sprintf("cl%d", n))
			if err != nil {
				rep.ClusterFan = append(rep.ClusterFan, fanResult{N: n, Instances: 2, Err: err.Error()})
				continue
			}
			r := fanoutOn(self, []*caddy{a, b}, redis, n, 20)
			a.Stop()
			b.Stop()
			logf("  cluster %d: p50 %.1f ms p99 %.1f ms max %.1f ms, delivered %d/%d, %.0f msg/s, caddy cpu %.2fs, redis cpu %.2fs",
				n, r.Stats.P50ms, r.Stats.P99ms, r.Stats.Maxms, r.Stats.Delivered, r.Stats.Expected, r.Stats.MsgsPerSec, r.CaddyCPU, r.RedisCPU)
			rep.ClusterFan = append(rep.ClusterFan, r)
		}
	}

	logf("6b. conditional writes: one instance without cluster vs with the cluster lock")
	single, err := startCaddy(caddyBin, work, "single", rep.SiteB, nil)
	if err != nil {
		return err
	}
	defer single.Stop()
	a, b, err := startClusterPair(caddyBin, work, rep.SiteC, "cond")
	if err != nil {
		return err
	}
	defer a.Stop()
	defer b.Stop()
	sT := watched{"caddy", func() int64 { return cpuTicks(single.Pid()) }}
	aT := watched{"caddy", func() int64 { return cpuTicks(a.Pid()) }}
	bT := watched{"caddy", func() int64 { return cpuTicks(b.Pid()) }}

	// stale writes: the caller is authorised on each instance by one GET
	const bearer = "Authorization: Bearer bench-user-token"
	staleBody := `{"name":"Stale","client_version":"2020-01-01T00:00:00.000000Z"}`
	for i, c := range []*caddy{single, a, b} {
		for _, note := range preflight(c.URL(), []string{"Authorization", "Bearer bench-user-token"}, staleBody) {
			rep.ClusterChecks = append(rep.ClusterChecks, []string{"one instance", "A", "B"}[i]+": "+note)
		}
	}
	conflictL := load{Path: "/api/v1/flows/1", Lua: luaPut(staleBody, false), Headers: []string{bearer}}
	rep.ClusterStaleShare = map[string][]float64{}
	rep.ClusterStaleLock = map[string][]lockStat{}
	rep.ClusterPutLock = map[string][]lockStat{}
	const conflicts, byCache = "recordsync_conflicts_total", `answered_by="cache"`
	stale := func(name string, cs []*caddy, ws []watched, lock bool) variant {
		v := variant{Name: name, Base: cs[0].URL(), Load: conflictL, Watch: ws}
		if len(cs) > 1 {
			v.Run = func(d time.Duration, conns int) (wrkResult, error) {
				return wrkSplit([]string{cs[0].URL(), cs[1].URL()}, conflictL, d, conns)
			}
		}
		share := rep.ClusterStaleShare[name]
		v = shareVariant(v, cs, conflicts, byCache, &share)
		v.After = chainAfter(v.After, func() { rep.ClusterStaleShare[name] = share })
		if lock {
			v = lockVariant(v, []*caddy{a, b}, rep.ClusterStaleLock)
		}
		return v
	}
	rep.ClusterStale, err = compare(cfg.Rounds, cfg.Dur, cfg.Conns,
		stale("one instance, no cluster", []*caddy{single}, []watched{sT, upT}, false),
		stale("cluster: all through A", []*caddy{a}, []watched{aT, bT, upT, redisT}, true),
		stale("cluster: half through A, half through B", []*caddy{a, b}, []watched{aT, bT, upT, redisT}, true))
	if err != nil {
		rep.Errors = append(rep.Errors, "cluster stale writes: "+err.Error())
	}

	// successful conditional writes (read-modify-write, one record per worker)
	rep.ClusterPut, err = compare(cfg.Rounds, cfg.Dur, cfg.Conns,
		variant{Name: "one instance, no cluster", Watch: []watched{sT, upT},
			Run: func(d time.Duration, conns int) (wrkResult, error) {
				return condPuts([]string{single.URL()}, d, conns, 101)
			}},
		lockVariant(variant{Name: "cluster: all through A", Watch: []watched{aT, bT, upT, redisT},
			Run: func(d time.Duration, conns int) (wrkResult, error) { return condPuts([]string{a.URL()}, d, conns, 301) }},
			[]*caddy{a, b}, rep.ClusterPutLock),
		lockVariant(variant{Name: "cluster: each record's writes alternate A, B", Watch: []watched{aT, bT, upT, redisT},
			Run: func(d time.Duration, conns int) (wrkResult, error) {
				return condPuts([]string{a.URL(), b.URL()}, d, conns, 501)
			}}, []*caddy{a, b}, rep.ClusterPutLock))
	if err != nil {
		rep.Errors = append(rep.Errors, "cluster conditional writes: "+err.Error())
	}
	for _, s := range rep.ClusterPut {
		for _, r := range s.Runs {
			if r.Errors != "" {
				rep.ClusterPutNotes = append(rep.ClusterPutNotes, fmt.Sprintf("%s: first non-200: %s", s.Name, r.Errors))
				break
			}
		}
	}
	return nil
}

// redisVersion is redis-server --version's first words.
func redisVersion() string {
	out, err := exec.Command("redis-server", "--version").Output()
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(out))
	if len(f) > 2 {
		return strings.Join(f[:3], " ")
	}
	return strings.TrimSpace(string(out))
}

// chainAfter returns an After hook that runs prev, then f.
func chainAfter(prev func(wrkResult), f func()) func(wrkResult) {
	return func(r wrkResult) {
		if prev != nil {
			prev(r)
		}
		f()
	}
}
