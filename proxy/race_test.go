package proxy

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestConcurrentWriters proves no lost updates: 50 writers that all
// loaded the same version race against an app whose own check-then-write is
// racy (it sleeps between the two). Exactly one succeeds, 49 get the
// conflict from the cache, and the app holds the one successful write.
func TestConcurrentWriters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		warm   bool // the cache already holds the loaded version
		writer string
	}{
		{"cache warm", true, tokenOK},
		// The first writer of an uncached key goes upstream holding the
		// turn; the others wait and then see its version.
		{"cache cold", false, tokenOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const writers = 50
			h, obs := newTestHandler(t, nil)
			app := newFakeApp()
			app.raceWindow = 5 * time.Millisecond
			app.seed("flow", "1", 10)
			loaded := version(10)
			// Every writer is authorised for the record (the app answered
			// their GETs); with a cold cache, the version is forgotten.
			for i := 0; i < writers; i++ {
				do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", bearer(i), "")
			}
			if !tc.warm {
				h.store.Forget(keyOf("flow", "1"))
			}

			var wg sync.WaitGroup
			codes := make([]int, writers)
			hits := make([]bool, writers)
			start := make(chan struct{})
			for i := 0; i < writers; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					rr := do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", bearer(i), putBody(loaded, fmt.Sprint("writer-", i)))
					codes[i] = rr.Code
					hits[i] = rr.Header().Get(HeaderCache) == "hit"
				}()
			}
			close(start)
			wg.Wait()

			winner := -1
			conflicts, fromCache := 0, 0
			for i, c := range codes {
				switch c {
				case http.StatusOK:
					if winner >= 0 {
						t.Fatalf("two successes: writers %d and %d", winner, i)
					}
					winner = i
				case http.StatusConflict:
					conflicts++
					if hits[i] {
						fromCache++
					}
				default:
					t.Fatalf("writer %d got %d", i, c)
				}
			}
			if winner < 0 || conflicts != writers-1 {
				t.Fatalf("winner %d, conflicts %d", winner, conflicts)
			}
			if fromCache != writers-1 || obs.get("conflict_from_cache") != writers-1 {
				t.Errorf("%d conflicts from cache, want %d", fromCache, writers-1)
			}
			_, writes := app.stats()
			if writes != 1 {
				t.Fatalf("app applied %d writes: lost updates", writes)
			}
			if got := app.record("flow", "1").value; got != fmt.Sprint("writer-", winner) {
				t.Fatalf("app holds %q, winner was writer-%d", got, winner)
			}
			if h.turns.size() != 0 {
				t.Fatal("turns not freed")
			}
		})
	}
}

// bearer gives writer i a credential the fake app allows (distinct per
// writer for the memory, the same user for the app).
func bearer(i int) string {
	if i%2 == 0 {
		return tokenOK
	}
	return tokenOther
}

// The fake app alone really loses updates: the test above is meaningful.
func TestFakeAppIsRacy(t *testing.T) {
	app := newFakeApp()
	app.raceWindow = 5 * time.Millisecond
	app.seed("flow", "1", 10)
	h, _ := newTestHandler(t, func(o *Options) { o.Routes = []RouteSpec{{Type: "other", Pattern: "/other/{id}"}} })
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do(t, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tokenOK, putBody(version(10), "x"))
		}()
	}
	wg.Wait()
	if _, writes := app.stats(); writes < 2 {
		t.Fatalf("app applied %d writes; expected the race to let several through", writes)
	}
}
