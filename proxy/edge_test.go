package proxy

import (
	"sync"
	"testing"

	"github.com/recordsync/recordsync/versioncache"
)

// edgeRecorder records what an EdgeObserver is told.
type edgeRecorder struct {
	mu    sync.Mutex
	notes []string
}

func (e *edgeRecorder) EdgeConflict(k versioncache.Key, loaded string, cur versioncache.Entry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.notes = append(e.notes, "conflict "+k.Tenant+" "+k.Type+"/"+k.ID+" "+loaded+" -> "+cur.Version+" by "+cur.UpdatedByName)
}

func (e *edgeRecorder) EdgePoll(k versioncache.Key, fromCache bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := "poll " + k.Tenant + " " + k.Type + "/" + k.ID + " app"
	if fromCache {
		s = "poll " + k.Tenant + " " + k.Type + "/" + k.ID + " cache"
	}
	e.notes = append(e.notes, s)
}

// The Edge observer is told of each poll (from the cache or not) and each
// stale write answered from the cache, with its tenant and record, and of
// nothing the app answered itself.
func TestEdgeObserver(t *testing.T) {
	rec := &edgeRecorder{}
	h, _ := newTestHandler(t, func(o *Options) { o.Edge = rec })
	app := newFakeApp()
	app.seed("flow", "1", 10)
	info := RequestInfo{Tenanted: true, Tenant: "a.example"}
	do(t, h, app, info, "GET", pollPath, tokenOK, "")
	do(t, h, app, info, "GET", pollPath, tokenOK, "")
	do(t, h, app, info, "PUT", "/api/v1/flows/1", tokenOther, putBody(version(10), "other"))
	if rr := do(t, h, app, info, "PUT", "/api/v1/flows/1", tokenOK, putBody(version(10), "mine")); rr.Code != 409 {
		t.Fatalf("stale write: %d", rr.Code)
	}
	cur := app.record("flow", "1").version
	want := []string{
		"poll a.example flow/1 app",
		"poll a.example flow/1 cache",
		"conflict a.example flow/1 " + version(10) + " -> " + cur + " by User 6",
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.notes) != len(want) {
		t.Fatalf("notes %q, want %q", rec.notes, want)
	}
	for i := range want {
		if rec.notes[i] != want[i] {
			t.Fatalf("notes %q, want %q", rec.notes, want)
		}
	}
}
