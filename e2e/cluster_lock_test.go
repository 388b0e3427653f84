package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lockDrillApp is an upstream whose optimistic check is racy on purpose:
// it compares client_version with the record's version, sleeps 20 ms, then
// writes, so two writers that loaded the same version can both get through
// and the second overwrites the first (a lost update). It keeps every write
// it applied, with the version it was based on and the version that was
// really current when it was applied.
type lockDrillApp struct {
	window time.Duration

	mu      sync.Mutex
	clock   int
	records map[string]*lockDrillRecord
}

type lockDrillRecord struct {
	version string
	history []lockDrillWrite
}

// lockDrillWrite is one write the app applied.
type lockDrillWrite struct {
	Writer  string
	Base    string // client_version the writer loaded
	Prev    string // the record's version when the write was applied
	Version string // the version the write made
}

func newLockDrillApp(records int) *lockDrillApp {
	a := &lockDrillApp{window: 20 * time.Millisecond, records: map[string]*lockDrillRecord{}}
	for i := 1; i <= records; i++ {
		a.records[strconv.Itoa(i)] = &lockDrillRecord{version: a.nextLocked()}
	}
	return a
}

// nextLocked is a new Laravel-style updated_at, later than all before.
func (a *lockDrillApp) nextLocked() string {
	a.clock++
	return time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(a.clock) * time.Microsecond).
		Format("2006-01-02T15:04:05.000000Z")
}

func (a *lockDrillApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/api/v1/flows/")
	a.mu.Lock()
	rec := a.records[id]
	var cur string
	if rec != nil {
		cur = rec.version
	}
	a.mu.Unlock()
	if !ok || rec == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet {
		fmt.Fprintf(w, `{"success":true,"data":{"id":%s,"updated_at":%q}}`, id, cur)
		return
	}
	var body struct {
		Writer        string `json:"writer"`
		ClientVersion string `json:"client_version"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if body.ClientVersion != cur {
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, `{"success":false,"message":"This record was changed by someone else.","data":{"updated_at":%q}}`, cur)
		return
	}
	time.Sleep(a.window) // the race window between check and write
	a.mu.Lock()
	prev := rec.version
	next := a.nextLocked()
	rec.version = next
	rec.history = append(rec.history, lockDrillWrite{Writer: body.Writer, Base: body.ClientVersion, Prev: prev, Version: next})
	a.mu.Unlock()
	fmt.Fprintf(w, `{"success":true,"data":{"id":%s,"updated_at":%q}}`, id, next)
}

// histories returns a copy of every record's history.
func (a *lockDrillApp) histories() map[string][]lockDrillWrite {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string][]lockDrillWrite, len(a.records))
	for id, r := range a.records {
		out[id] = append([]lockDrillWrite(nil), r.history...)
	}
	return out
}

// lostUpdates counts writes applied on a version other than the one they
// were based on: each overwrote a write its writer never saw.
func lostUpdates(hist map[string][]lockDrillWrite) (lost int, example string) {
	for id, h := range hist {
		for _, w := range h {
			if w.Base != w.Prev {
				lost++
				example = fmt.Sprintf("flow %s: %s based on %s applied over %s", id, w.Writer, w.Base, w.Prev)
			}
		}
	}
	return lost, example
}

// The app alone really loses updates, so the drill below means something.
func TestLockDrillAppIsRacy(t *testing.T) {
	app := newLockDrillApp(1)
	srv := httptest.NewServer(app)
	defer srv.Close()
	loaded := app.records["1"].version
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/api/v1/flows/1",
				strings.NewReader(fmt.Sprintf(`{"writer":"w%d","client_version":%q}`, i, loaded)))
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if lost, _ := lostUpdates(app.histories()); lost == 0 {
		t.Fatal("10 concurrent writers on one version lost no update: the app is not racy")
	}
}

// lockDrillSite is the instances' Caddyfile: one cluster on redisAddr, or
// none when redisAddr is "".
func lockDrillSite(upstream, redisAddr string) string {
	cluster := ""
	if redisAddr != "" {
		cluster = fmt.Sprintf(`
		cluster redis://%s/0
		cluster_name lockdrill
		cluster_secret lockdrill-secret
		cluster_lock_timeout 5s`, redisAddr)
	}
	return fmt.Sprintf(`:{PORT} {
	recordsync {
		name drill
		record flow /api/v1/flows/{id}
		write_wait 10s%s
	}
	reverse_proxy %s
}
`, cluster, upstream)
}

// lockDrillMetrics reads the cluster lock's counters from c's metrics.
func lockDrillMetrics(t *testing.T, c *caddyProc) map[string]float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", c.AdminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, name := range []string{
			`recordsync_cluster_lock_fallbacks_total`,
			`recordsync_cluster_lock_expired_total`,
			`recordsync_cluster_lock_wait_seconds_count{outcome="acquired"}`,
			`recordsync_cluster_lock_wait_seconds_count{outcome="timeout"}`,
			`recordsync_cluster_lock_wait_seconds_sum{outcome="acquired"}`,
			`recordsync_conflicts_total{answered_by="cache"}`,
			`recordsync_conflicts_total{answered_by="upstream"}`,
		} {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				out[name] = f
			}
		}
	}
	return out
}

// TestClusterLockLostUpdateDrill is the lost-update drill at a size
// that fits a test run: 3 Caddy processes on one Redis in front of ONE racy
// app, 30 writers doing read-modify-write loops on 5 records (GET through a
// random instance, PUT with client_version through another random instance,
// on 409 read again and retry) for RECORDSYNC_DRILL_SECONDS (default 10;
// with RECORDSYNC_SOAK=1 (make soak), full size: 50 writers for 30 s).
// The checker proves every write answered 200 is in the app's history, in
// the order of the versions it was answered with, and that no write in the
// history was applied on a version other than the one its writer loaded:
// 0 lost updates.
func TestClusterLockLostUpdateDrill(t *testing.T) {
	duration, writers := 10*time.Second, 30
	if drillSoak() {
		duration, writers = 30*time.Second, 50
	}
	if s := os.Getenv("RECORDSYNC_DRILL_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("RECORDSYNC_DRILL_SECONDS=%q", s)
		}
		duration = time.Duration(n) * time.Second
	}
	redisAddr, _, _ := startRedis(t)
	lost := runLockDrill(t, redisAddr, writers, duration)
	if lost != 0 {
		t.Errorf("%d lost updates", lost)
	}
}

// The same drill without `cluster`: each instance serialises only its own
// writers, and the racy app loses updates. The drill above is meaningful.
func TestClusterLockDrillWithoutClusterLoses(t *testing.T) {
	if lost := runLockDrill(t, "", 30, 3*time.Second); lost == 0 {
		t.Fatal("3 instances without a cluster lost no update: the drill proves nothing")
	}
}

// runLockDrill runs the drill with writers for duration against 3
// instances (with a cluster on redisAddr, or none when it is ""), checks
// everything but lost updates, logs the counts and returns the number of
// lost updates.
func runLockDrill(t *testing.T, redisAddr string, writers int, duration time.Duration) int {
	const (
		instances = 3
		records   = 5
	)
	app := newLockDrillApp(records)
	up := httptest.NewServer(app)
	t.Cleanup(up.Close)
	var cs [instances]*caddyProc
	for i := range cs {
		cs[i] = startCaddy(t, lockDrillSite(up.Listener.Addr().String(), redisAddr))
	}

	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 2 * writers, MaxConnsPerHost: 0},
	}
	defer client.CloseIdleConnections()
	var (
		mu        sync.Mutex
		successes = map[string][]lockDrillSuccess{} // by record id
		conflicts atomic.Int64
		retries   atomic.Int64
		busy      atomic.Int64
		failures  atomic.Int64
	)
	read := func(c *caddyProc, id, auth string) (string, error) {
		req, _ := http.NewRequest(http.MethodGet, c.URL()+"/api/v1/flows/"+id, nil)
		req.Header.Set("Authorization", auth)
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				UpdatedAt string `json:"updated_at"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
			return "", fmt.Errorf("GET %s: %d %v", id, resp.StatusCode, err)
		}
		return body.Data.UpdatedAt, nil
	}
	write := func(c *caddyProc, id, auth, writer, loaded string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodPut, c.URL()+"/api/v1/flows/"+id,
			strings.NewReader(fmt.Sprintf(`{"writer":%q,"client_version":%q}`, writer, loaded)))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var body struct {
			Data struct {
				UpdatedAt string `json:"updated_at"`
			} `json:"data"`
		}
		_ = json.Unmarshal(b, &body)
		return resp.StatusCode, body.Data.UpdatedAt, nil
	}

	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			auth := fmt.Sprintf("Bearer writer-%d", w)
			for op := 0; time.Now().Before(stop); op++ {
				id := strconv.Itoa(1 + rand.IntN(records))
				writer := fmt.Sprintf("w%d.%d", w, op)
				for attempt := 0; time.Now().Before(stop); attempt++ {
					if attempt > 0 {
						retries.Add(1)
					}
					loaded, err := read(cs[rand.IntN(instances)], id, auth)
					if err != nil {
						failures.Add(1)
						t.Errorf("%s: %v", writer, err)
						return
					}
					status, version, err := write(cs[rand.IntN(instances)], id, auth, writer, loaded)
					if err != nil {
						failures.Add(1)
						t.Errorf("%s: %v", writer, err)
						return
					}
					if status == http.StatusOK {
						mu.Lock()
						successes[id] = append(successes[id], lockDrillSuccess{writer, version})
						mu.Unlock()
						break
					}
					switch status {
					case http.StatusConflict:
						conflicts.Add(1)
					case http.StatusServiceUnavailable:
						busy.Add(1)
					default:
						failures.Add(1)
						t.Errorf("%s: PUT answered %d", writer, status)
						return
					}
				}
			}
		}()
	}
	wg.Wait()

	// The checker.
	hist := app.histories()
	applied, ok := 0, 0
	for id := range hist {
		h := hist[id]
		applied += len(h)
		byWriter := make(map[string]int, len(h))
		for i, w := range h {
			byWriter[w.Writer] = i
			if i > 0 && w.Prev != h[i-1].Version {
				t.Errorf("flow %s: history broken at %d", id, i)
			}
		}
		got := successes[id]
		ok += len(got)
		last := -1
		// In the order of the versions the writers were answered with
		// (Laravel timestamps of one length sort as strings).
		slices.SortFunc(got, func(a, b lockDrillSuccess) int { return strings.Compare(a.version, b.version) })
		for _, s := range got {
			i, found := byWriter[s.writer]
			if !found {
				t.Errorf("flow %s: %s was answered 200 (%s) but is not in the app's history: lost", id, s.writer, s.version)
				continue
			}
			if h[i].Version != s.version {
				t.Errorf("flow %s: %s answered %s, history has %s", id, s.writer, s.version, h[i].Version)
			}
			if i <= last {
				t.Errorf("flow %s: %s out of order in the history", id, s.writer)
			}
			last = i
		}
	}
	lost, example := lostUpdates(hist)
	if lost != 0 {
		t.Logf("%d lost updates, e.g. %s", lost, example)
	}

	var fallbacks, expired, acquired, timeouts, fromCache, fromApp, waitSum float64
	for i, c := range cs {
		m := lockDrillMetrics(t, c)
		fallbacks += m[`recordsync_cluster_lock_fallbacks_total`]
		expired += m[`recordsync_cluster_lock_expired_total`]
		acquired += m[`recordsync_cluster_lock_wait_seconds_count{outcome="acquired"}`]
		timeouts += m[`recordsync_cluster_lock_wait_seconds_count{outcome="timeout"}`]
		waitSum += m[`recordsync_cluster_lock_wait_seconds_sum{outcome="acquired"}`]
		fromCache += m[`recordsync_conflicts_total{answered_by="cache"}`]
		fromApp += m[`recordsync_conflicts_total{answered_by="upstream"}`]
		if redisAddr != "" && m[`recordsync_cluster_lock_wait_seconds_count{outcome="acquired"}`] == 0 {
			t.Errorf("instance %d took no cluster lock", i)
		}
	}
	if fallbacks != 0 || expired != 0 {
		t.Errorf("%v fallbacks, %v expired locks with Redis up", fallbacks, expired)
	}
	if redisAddr != "" && applied != ok {
		t.Errorf("the app applied %d writes, %d were answered 200", applied, ok)
	}
	if ok == 0 {
		t.Fatal("no write succeeded")
	}
	meanWait := time.Duration(0)
	if acquired > 0 {
		meanWait = time.Duration(waitSum / acquired * float64(time.Second))
	}
	t.Logf("%s, %d instances, %d writers, %d records: %d successes (= %d applied), %d conflicts (%v from cache, %v from the app), %d retries, %d busy (503), %d failures; cluster locks %v acquired (mean wait %s), %v timeouts, %v fallbacks, %v expired; lost updates %d",
		duration, instances, writers, records, ok, applied, conflicts.Load(), fromCache, fromApp, retries.Load(), busy.Load(), failures.Load(),
		acquired, meanWait.Round(time.Microsecond), timeouts, fallbacks, expired, lost)
	return lost
}

// lockDrillSuccess is a write answered 200: who, and the version it made.
type lockDrillSuccess struct {
	writer, version string
}

// Redis stops under one instance: conditional writes go on, serialised
// locally, counted as fallbacks and logged once; Redis comes back: the
// instance takes cluster locks again by itself.
func TestClusterLockRedisOutage(t *testing.T) {
	redisAddr, stopRedis, startRedisAgain := startRedis(t)
	app := newLockDrillApp(1)
	up := httptest.NewServer(app)
	t.Cleanup(up.Close)
	c := startCaddy(t, lockDrillSite(up.Listener.Addr().String(), redisAddr))
	rmw := func(writer string) int {
		t.Helper()
		resp := get(t, c.URL()+"/api/v1/flows/1", "Authorization", "Bearer alice")
		var body struct {
			Data struct {
				UpdatedAt string `json:"updated_at"`
			} `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		req, _ := http.NewRequest(http.MethodPut, c.URL()+"/api/v1/flows/1",
			strings.NewReader(fmt.Sprintf(`{"writer":%q,"client_version":%q}`, writer, body.Data.UpdatedAt)))
		req.Header.Set("Authorization", "Bearer alice")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const acquired = `recordsync_cluster_lock_wait_seconds_count{outcome="acquired"}`
	const fallbacks = `recordsync_cluster_lock_fallbacks_total`

	if s := rmw("before"); s != http.StatusOK {
		t.Fatalf("PUT %d", s)
	}
	if m := lockDrillMetrics(t, c); m[acquired] != 1 || m[fallbacks] != 0 {
		t.Fatalf("before the outage: %v", m)
	}

	stopRedis()
	for i := 0; i < 5; i++ {
		if s := rmw(fmt.Sprint("during", i)); s != http.StatusOK {
			t.Fatalf("PUT during the outage: %d", s)
		}
	}
	m := lockDrillMetrics(t, c)
	if m[fallbacks] != 5 || m[acquired] != 1 {
		t.Fatalf("during the outage: %v", m)
	}
	if n := strings.Count(c.Log(), "cluster lock: Redis unreachable"); n != 1 {
		t.Fatalf("the outage was logged %d times:\n%s", n, c.Log())
	}

	startRedisAgain()
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		if s := rmw(fmt.Sprint("after", i)); s != http.StatusOK {
			t.Fatalf("PUT after the outage: %d", s)
		}
		if lockDrillMetrics(t, c)[acquired] > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cluster lock taken after Redis came back: %v", lockDrillMetrics(t, c))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lost, example := lostUpdates(app.histories()); lost != 0 {
		t.Fatalf("%d lost updates: %s", lost, example)
	}
}
