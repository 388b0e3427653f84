package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recordsync/recordsync/versioncache"
)

// Credentials the fake app knows.
const (
	tokenOK        = "Bearer ok"
	tokenOther     = "Bearer other" // also allowed, a second user
	tokenForbidden = "Bearer forbidden"
)

func newStore(tb testing.TB) *versioncache.Store {
	tb.Helper()
	s, err := versioncache.New(versioncache.Options{MaxEntries: 1000})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// newTestHandler builds a Handler with flow and projecttask routes, a fresh
// store and a counting observer; edit adjusts the options.
func newTestHandler(tb testing.TB, edit func(*Options)) (*Handler, *countingObserver) {
	tb.Helper()
	obs := &countingObserver{}
	opts := Options{
		Routes: []RouteSpec{
			{Type: "flow", Pattern: "/api/v1/flows/{id}"},
			{Type: "projecttask", Pattern: "/api/v1/projects/{project}/tasks/{id}",
				Lists: []ListSpec{{Channel: "project.{project}", Event: "task.updated", IDKey: "task_id"}}},
		},
		UpdatedByIDField:   "data.updated_by",
		UpdatedByNameField: "data.updated_by_name",
		ImportHeader:       "X-Import",
		AuthEntries:        1000,
		Store:              newStore(tb),
		Observer:           obs,
	}
	if edit != nil {
		edit(&opts)
	}
	h, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Close)
	return h, obs
}

// countingObserver counts Observer events.
type countingObserver struct {
	mu      sync.Mutex
	counts  map[string]int
	waiting atomic.Int64
	maxWait atomic.Int64
	// onRefused, if set, hears of every Refused reason.
	onRefused atomic.Pointer[func(string)]
}

func (o *countingObserver) inc(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts = map[string]int{}
	}
	o.counts[name]++
}

func (o *countingObserver) get(name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[name]
}

func (o *countingObserver) Learned(source string) { o.inc("learned." + source) }
func (o *countingObserver) ConflictFromCache()    { o.inc("conflict_from_cache") }
func (o *countingObserver) UpstreamConflict()     { o.inc("upstream_conflict") }
func (o *countingObserver) MergedPatch()          { o.inc("merged_patch") }
func (o *countingObserver) Poll(fromCache bool)   { o.inc(fmt.Sprintf("poll.%v", fromCache)) }
func (o *countingObserver) WritersWaiting(d int) {
	n := o.waiting.Add(int64(d))
	for {
		m := o.maxWait.Load()
		if n <= m || o.maxWait.CompareAndSwap(m, n) {
			break
		}
	}
}
func (o *countingObserver) WriteWaitTimeout() { o.inc("write_wait_timeout") }
func (o *countingObserver) TenantMissing()    { o.inc("tenant_missing") }
func (o *countingObserver) ClusterLock(outcome string, _ time.Duration) {
	o.inc("cluster_lock." + outcome)
}
func (o *countingObserver) ClusterLockExpired()           { o.inc("cluster_lock_expired") }
func (o *countingObserver) AuthSignature(result string)   { o.inc("auth." + result) }
func (o *countingObserver) MethodOverride(outcome string) { o.inc("override." + outcome) }
func (o *countingObserver) Refused(reason string) {
	o.inc("refused." + reason)
	if f := o.onRefused.Load(); f != nil {
		(*f)(reason)
	}
}

// recordingPublisher keeps every save: all() the announced ones (what
// sockets hear of), versions() the VersionOnly ones (what only the other
// instances' caches learn).
type recordingPublisher struct {
	mu    sync.Mutex
	saves []versioncache.Saved
}

func (p *recordingPublisher) Saved(s versioncache.Saved) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.saves = append(p.saves, s)
}

func (p *recordingPublisher) all() []versioncache.Saved { return p.filter(false) }

func (p *recordingPublisher) versions() []versioncache.Saved { return p.filter(true) }

func (p *recordingPublisher) filter(versionOnly bool) []versioncache.Saved {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []versioncache.Saved
	for _, s := range p.saves {
		if s.VersionOnly == versionOnly {
			out = append(out, s)
		}
	}
	return out
}

var baseTime = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// version n of a record, in Laravel's microsecond updated_at format.
func version(n int) string {
	return baseTime.Add(time.Duration(n) * time.Microsecond).Format("2006-01-02T15:04:05.000000Z")
}

// fakeApp behaves like the example Laravel app (examples/laravel) for flows:
// GET/PUT/PATCH of /api/v1/flows/{id} and projects' tasks, the version
// endpoint, a Phase A client_version check that is racy on purpose (check,
// sleep, write), and bearer-token auth. Safe for concurrent use.
type fakeApp struct {
	// raceWindow is slept between the app's version check and its write.
	raceWindow time.Duration

	mu      sync.Mutex
	records map[string]*appRecord // by "type/id" (tenant-agnostic: one app per test)
	clock   int
	writes  int
	calls   int
	lastAE  string // Accept-Encoding of the last request
	extra   http.Header
}

type appRecord struct {
	version string
	value   string
	by      int
}

func newFakeApp() *fakeApp {
	return &fakeApp{records: map[string]*appRecord{}}
}

// seed makes record type/id at version n.
func (a *fakeApp) seed(typ, id string, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.records[typ+"/"+id] = &appRecord{version: version(n), value: "seed", by: 1}
	if n > a.clock {
		a.clock = n
	}
}

func (a *fakeApp) record(typ, id string) appRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.records[typ+"/"+id]; r != nil {
		return *r
	}
	return appRecord{}
}

func (a *fakeApp) stats() (calls, writes int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls, a.writes
}

func recordJSON(id string, r appRecord) string {
	return fmt.Sprintf(`{"success":true,"data":{"id":%q,"value":%q,"updated_at":%q,"updated_by":%d,"updated_by_name":"User %d"}}`,
		id, r.value, r.version, r.by, r.by)
}

func (a *fakeApp) next(w http.ResponseWriter, r *http.Request) error {
	a.mu.Lock()
	a.calls++
	a.lastAE = r.Header.Get("Accept-Encoding")
	for k, v := range a.extra {
		w.Header()[k] = v
	}
	a.mu.Unlock()

	user := 0
	switch r.Header.Get("Authorization") {
	case tokenOK:
		user = 5
	case tokenOther:
		user = 6
	case tokenForbidden:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"message":"This action is unauthorized."}`)
		return nil
	default:
		if c, err := r.Cookie("laravel_session"); err != nil || c.Value == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"message":"Unauthenticated."}`)
			return nil
		}
		user = 7
	}

	path := r.URL.Path
	var typ, id string
	var poll bool
	switch {
	case strings.HasPrefix(path, "/api/v1/records/") && strings.HasSuffix(path, "/version"):
		parts := strings.Split(strings.TrimPrefix(path, "/api/v1/records/"), "/")
		typ, id, poll = parts[0], parts[1], true
	case strings.HasPrefix(path, "/api/v1/flows/"):
		typ, id = "flow", strings.TrimPrefix(path, "/api/v1/flows/")
	case strings.HasPrefix(path, "/api/v1/projects/"):
		parts := strings.Split(path, "/")
		typ, id = "projecttask", parts[len(parts)-1]
	default:
		http.NotFound(w, r)
		return nil
	}
	key := typ + "/" + id
	a.mu.Lock()
	rec := a.records[key]
	var cur appRecord
	if rec != nil {
		cur = *rec
	}
	a.mu.Unlock()
	if rec == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"success":false,"message":"Not found."}`)
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case poll:
		fmt.Fprintf(w, `{"success":true,"data":{"updated_at":%q,"updated_by_name":"User %d"}}`, cur.version, cur.by)
	case r.Method == http.MethodGet:
		io.WriteString(w, recordJSON(id, cur))
	default:
		var body struct {
			ClientVersion string `json:"client_version"`
			Value         string `json:"value"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		time.Sleep(a.raceWindow) // the racy gap between check and write
		if body.ClientVersion != "" && body.ClientVersion != cur.version {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, `{"success":false,"message":"Conflict.","data":{"updated_at":%q,"updated_by_name":"User %d"}}`, cur.version, cur.by)
			return nil
		}
		a.mu.Lock()
		a.clock++
		a.writes++
		*rec = appRecord{version: version(a.clock), value: body.Value, by: user}
		cur = *rec
		a.mu.Unlock()
		io.WriteString(w, recordJSON(id, cur))
	}
	return nil
}

// do sends one request through h to the fake app.
func do(tb testing.TB, h *Handler, app *fakeApp, info RequestInfo, method, path, auth, body string, hdr ...string) *httptest.ResponseRecorder {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept-Encoding", "gzip, br")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	rr := httptest.NewRecorder()
	if err := h.ServeHTTP(rr, req, info, app.next); err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return rr
}

func putBody(clientVersion, value string) string {
	if clientVersion == "" {
		return fmt.Sprintf(`{"value":%q}`, value)
	}
	return fmt.Sprintf(`{"client_version":%q,"value":%q}`, clientVersion, value)
}

// keyOf is the untenanted key of a record.
func keyOf(typ, id string) versioncache.Key { return versioncache.Key{Type: typ, ID: id} }
