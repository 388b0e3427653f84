package proxy

import (
	"testing"
)

func TestSessionCacheRemembersVerifiedCookiesOnly(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.LaravelAppKey = laravelAppKey })
	if h.sessions == nil {
		t.Fatal("no session cache with laravel_app_key")
	}
	// A cookie that does not verify is no session and takes no slot.
	forged := laravelCookie[:len(laravelCookie)-8] + "AAAAAAA="
	if id := h.sessionID(forged); id != "" {
		t.Fatalf("forged cookie gave session %q", id)
	}
	if e := h.sessions.slot(forged).Load(); e != nil {
		t.Fatalf("forged cookie cached: %+v", e)
	}
	// The real one decrypts once, then comes from the cache.
	if id := h.sessionID(laravelCookie); id != laravelSessionID {
		t.Fatalf("session %q, want %q", id, laravelSessionID)
	}
	if id, ok := h.sessions.get(laravelCookie); !ok || id != laravelSessionID {
		t.Fatalf("not remembered: %q %v", id, ok)
	}
	// Poison the slot's id: a second call must answer from the cache (the
	// poisoned id shows it did not decrypt again).
	h.sessions.put(laravelCookie, "from-cache")
	if id := h.sessionID(laravelCookie); id != "from-cache" {
		t.Fatalf("decrypted again: %q", id)
	}
}

func TestSessionCacheComparesTheWholeValue(t *testing.T) {
	c := newSessionCache()
	// Another value in the same slot (as after a hash collision) is a miss.
	c.slot(laravelCookie).Store(&sessionEntry{cookie: laravelCookie2, id: "someone-else"})
	if id, ok := c.get(laravelCookie); ok {
		t.Fatalf("hit for another cookie's slot: %q", id)
	}
	c.put(laravelCookie, laravelSessionID)
	if id, ok := c.get(laravelCookie); !ok || id != laravelSessionID {
		t.Fatalf("get after put: %q %v", id, ok)
	}
	// The newer value replaces the older in its slot.
	c.slot(laravelCookie).Store(&sessionEntry{cookie: laravelCookie2, id: "other"})
	if _, ok := c.get(laravelCookie); ok {
		t.Fatal("replaced value still hit")
	}
}
