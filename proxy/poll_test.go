package proxy

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const pollPath = "/api/v1/records/flow/1/version"

func TestPoll(t *testing.T) {
	h, obs := newTestHandler(t, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	v := version(10)

	// First poll of a credential: upstream, learned, marked miss.
	rr := do(t, h, app, RequestInfo{}, "GET", pollPath, tokenOK, "")
	if rr.Code != 200 || rr.Header().Get(HeaderCache) != "miss" {
		t.Fatalf("first poll: %d %q", rr.Code, rr.Header().Get(HeaderCache))
	}
	if rr.Body.String() != `{"success":true,"data":{"updated_at":"`+v+`","updated_by_name":"User 1"}}` {
		t.Fatalf("upstream body changed: %s", rr.Body)
	}
	if e, ok := h.store.Get(keyOf("flow", "1")); !ok || e.Version != v {
		t.Fatalf("not learned: %+v", e)
	}

	// Second: from the cache.
	calls, _ := app.stats()
	rr = do(t, h, app, RequestInfo{}, "GET", pollPath, tokenOK, "")
	if c, _ := app.stats(); c != calls {
		t.Fatal("hit went upstream")
	}
	if rr.Code != 200 || rr.Header().Get(HeaderCache) != "hit" || rr.Header().Get("ETag") != `"`+v+`"` ||
		rr.Header().Get("Cache-Control") != "no-cache" || rr.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("hit: %d %v", rr.Code, rr.Header())
	}
	var got struct {
		Success bool `json:"success"`
		Data    struct {
			UpdatedAt     string          `json:"updated_at"`
			UpdatedByID   json.RawMessage `json:"updated_by_id"`
			UpdatedByName string          `json:"updated_by_name"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rr.Body.Bytes(), &got); err != nil || !got.Success || got.Data.UpdatedAt != v ||
		got.Data.UpdatedByName != "User 1" || string(got.Data.UpdatedByID) != "null" {
		t.Fatalf("hit body %s (%v)", rr.Body, err)
	}

	// 304 for a matching If-None-Match (strong, weak, list, *).
	for _, inm := range []string{`"` + v + `"`, `W/"` + v + `"`, `"x", "` + v + `"`, `*`} {
		rr = do(t, h, app, RequestInfo{}, "GET", pollPath, tokenOK, "", "If-None-Match", inm)
		if rr.Code != 304 || rr.Body.Len() != 0 || rr.Header().Get("ETag") != `"`+v+`"` || rr.Header().Get(HeaderCache) != "hit" {
			t.Fatalf("If-None-Match %s: %d %q %v", inm, rr.Code, rr.Body, rr.Header())
		}
	}
	rr = do(t, h, app, RequestInfo{}, "GET", pollPath, tokenOK, "", "If-None-Match", `"old"`)
	if rr.Code != 200 {
		t.Fatalf("stale If-None-Match: %d", rr.Code)
	}
	if c, _ := app.stats(); c != calls {
		t.Fatal("cache answers went upstream")
	}
	if obs.get("poll.true") != 6 || obs.get("poll.false") != 1 || obs.get("learned.poll") != 1 {
		t.Errorf("observer %v", obs.counts)
	}
}

// A poll whose version is not cached goes upstream even for an authorised caller.
func TestPollCacheMiss(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	do(t, h, app, RequestInfo{}, "GET", pollPath, tokenOK, "")
	h.store.Forget(keyOf("flow", "1"))
	rr := do(t, h, app, RequestInfo{}, "GET", pollPath, tokenOK, "")
	if rr.Header().Get(HeaderCache) != "miss" {
		t.Fatal("answered without a version")
	}
	if _, ok := h.store.Get(keyOf("flow", "1")); !ok {
		t.Fatal("not learned again")
	}
}

// Denials are remembered and answered; unauthorised callers never learn a
// version from the proxy.
func TestPollDenied(t *testing.T) {
	h, obs := newTestHandler(t, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", tokenOK, "") // the version is cached

	rr := do(t, h, app, RequestInfo{}, "GET", pollPath, tokenForbidden, "")
	if rr.Code != 403 || rr.Header().Get(HeaderCache) != "miss" {
		t.Fatalf("first denied poll: %d %v", rr.Code, rr.Header())
	}
	calls, _ := app.stats()
	rr = do(t, h, app, RequestInfo{}, "GET", pollPath, tokenForbidden, "")
	if c, _ := app.stats(); c != calls {
		t.Fatal("remembered denial went upstream")
	}
	if rr.Code != 403 || rr.Body.String() != `{"success":false,"message":"Forbidden."}` || rr.Header().Get(HeaderCache) != "hit" {
		t.Fatalf("remembered denial: %d %s %v", rr.Code, rr.Body, rr.Header())
	}
	if strings.Contains(rr.Body.String(), version(10)) || rr.Header().Get("ETag") != "" {
		t.Fatal("denied caller saw the version")
	}

	// A remembered 401 is answered with Laravel's "Unauthenticated.".
	h.auth.remember(keyOf("flow", "1"), h.credentialID(mustReq("Bearer gone"), RequestInfo{}), authUnauthorised, h.opts.AuthTTL)
	rr = do(t, h, app, RequestInfo{}, "GET", pollPath, "Bearer gone", "")
	if rr.Code != 401 || rr.Body.String() != `{"success":false,"message":"Unauthenticated."}` {
		t.Fatalf("401: %d %s", rr.Code, rr.Body)
	}

	// No credential: always upstream, never from the cache.
	for i := 0; i < 3; i++ {
		rr = do(t, h, app, RequestInfo{}, "GET", pollPath, "", "")
		if rr.Code != 401 || rr.Header().Get(HeaderCache) != "miss" || strings.Contains(rr.Body.String(), version(10)) {
			t.Fatalf("anonymous poll: %d %s %v", rr.Code, rr.Body, rr.Header())
		}
	}
	if obs.get("poll.true") != 2 || obs.get("poll.false") != 4 {
		t.Errorf("observer %v", obs.counts)
	}
}

func mustReq(auth string) *http.Request {
	r, _ := http.NewRequest("GET", pollPath, nil)
	r.Header.Set("Authorization", auth)
	return r
}

// A version endpoint for an unknown type, or switched off, is not ours.
func TestPollPassThrough(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.VersionEndpoint = "off" })
	app := newFakeApp()
	app.seed("flow", "1", 10)
	for i := 0; i < 2; i++ {
		rr := do(t, h, app, RequestInfo{}, "GET", pollPath, tokenOK, "")
		if rr.Header().Get(HeaderCache) != "" || app.lastAE == "" {
			t.Fatal("endpoint off but handled")
		}
	}
	h2, _ := newTestHandler(t, nil)
	rr := do(t, h2, app, RequestInfo{}, "GET", "/api/v1/records/nosuch/1/version", tokenOK, "")
	if rr.Header().Get(HeaderCache) != "" {
		t.Fatal("unknown type handled")
	}
}

// A record GET authorises the poll too (one memory).
func TestPollAuthorisedByRecordGet(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", tokenOK, "")
	rr := do(t, h, app, RequestInfo{}, "GET", pollPath, tokenOK, "")
	if rr.Header().Get(HeaderCache) != "hit" {
		t.Fatal("record GET did not authorise the poll")
	}
	// Another record is another authorisation.
	app.seed("flow", "2", 10)
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/2", tokenOther, "")
	rr = do(t, h, app, RequestInfo{}, "GET", "/api/v1/records/flow/2/version", tokenOK, "")
	if rr.Header().Get(HeaderCache) != "miss" {
		t.Fatal("authorisation leaked across records")
	}
}
