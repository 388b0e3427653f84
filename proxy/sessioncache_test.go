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
	if id, verified := h.openCookie("laravel_session", forged); id != "" || verified {
		t.Fatalf("forged cookie gave session %q (%v)", id, verified)
	}
	if e := h.sessions.slot(forged).Load(); e != nil {
		t.Fatalf("forged cookie cached: %+v", e)
	}
	// The real one decrypts once, then comes from the cache.
	if id, _ := h.openCookie("laravel_session", laravelCookie); id != laravelSessionID {
		t.Fatalf("session %q, want %q", id, laravelSessionID)
	}
	if id, ok := h.sessions.get("laravel_session", laravelCookie); !ok || id != laravelSessionID {
		t.Fatalf("not remembered: %q %v", id, ok)
	}
	// Under another name it is another cookie: a miss, and it does not verify.
	if _, ok := h.sessions.get("XSRF-TOKEN", laravelCookie); ok {
		t.Fatal("hit under another name")
	}
	if id, verified := h.openCookie("other", laravelCookie); id != "" || verified {
		t.Fatalf("verified under another name: %q", id)
	}
	// Poison the slot's id: a second call must answer from the cache (the
	// poisoned id shows it did not decrypt again).
	h.sessions.put("laravel_session", laravelCookie, "from-cache")
	if id, _ := h.openCookie("laravel_session", laravelCookie); id != "from-cache" {
		t.Fatalf("decrypted again: %q", id)
	}
	// A cookie that verifies but holds no session id is remembered as such.
	if id, verified := h.openCookie("XSRF-TOKEN", laravelCookieOtherName); id == "" && verified {
		if id, ok := h.sessions.get("XSRF-TOKEN", laravelCookieOtherName); !ok || id != "" {
			t.Fatalf("a verified non-session: %q %v", id, ok)
		}
	}
}

func TestSessionCacheComparesTheWholeValue(t *testing.T) {
	c := newSessionCache()
	// Another value in the same slot (as after a hash collision) is a miss.
	c.slot(laravelCookie).Store(&sessionEntry{name: "laravel_session", value: laravelCookie2, id: "someone-else"})
	if id, ok := c.get("laravel_session", laravelCookie); ok {
		t.Fatalf("hit for another cookie's slot: %q", id)
	}
	c.put("laravel_session", laravelCookie, laravelSessionID)
	if id, ok := c.get("laravel_session", laravelCookie); !ok || id != laravelSessionID {
		t.Fatalf("get after put: %q %v", id, ok)
	}
	if _, ok := c.get("other", laravelCookie); ok {
		t.Fatal("hit under another name")
	}
	// The newer value replaces the older in its slot.
	c.slot(laravelCookie).Store(&sessionEntry{name: "laravel_session", value: laravelCookie2, id: "other"})
	if _, ok := c.get("laravel_session", laravelCookie); ok {
		t.Fatal("replaced value still hit")
	}
}
