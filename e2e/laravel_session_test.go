package e2e

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/recordsync/recordsync/internal/harness"
	"github.com/tidwall/gjson"
)

// TestRecordsyncLaravelSessionAnyName: the real app named "My App", its
// session cookie named as Laravel 12's config/session.php names it
// (Str::slug(APP_NAME).'-session': my-app-session) and encrypted with
// AES-256-GCM; recordsync has laravel_app_key and no session_cookie. A
// logged-in user's polls are answered from the cache: the session was found
// and read. The same through a Caddy whose laravel_app_key is another key
// and whose laravel_previous_keys holds the app's (a rotation seen from
// recordsync's side); and through one with only a wrong key, nothing is
// answered from the cache, the cookies are counted and the log names them
// once, without their values.
func TestRecordsyncLaravelSessionAnyName(t *testing.T) {
	t.Parallel()
	app, spy, c := startRSLaravel(t, map[string]string{
		"APP_NAME":       "My App",
		"SESSION_COOKIE": "my-app-session",
		"APP_CIPHER":     "AES-256-GCM",
	}, rsOptions{})
	other, err := harness.NewLaravelAppKey()
	if err != nil {
		t.Fatal(err)
	}
	rotated := startCaddy(t, rsLaravelSite(app, spy, rsOptions{NoAppKey: true,
		Extra: fmt.Sprintf("laravel_app_key %s\n\t\tlaravel_previous_keys %s", other, app.AppKey)}))
	wrong := startCaddy(t, rsLaravelSite(app, spy, rsOptions{NoAppKey: true, Extra: "laravel_app_key " + other}))
	const poll = "/api/v1/records/flow/1/version"

	for _, site := range []struct {
		name string
		c    *caddyProc
		hits bool
	}{
		{"laravel_app_key", c, true},
		{"laravel_previous_keys", rotated, true},
		{"a wrong key", wrong, false},
	} {
		alice := loginAs(t, site.c, "a.localhost", "alice@example.com")
		session := alice.Cookie("my-app-session")
		if session == "" || alice.Cookie("laravel_session") != "" {
			t.Fatalf("%s: the app's session cookie is not my-app-session", site.name)
		}
		if v, err := url.QueryUnescape(session); err != nil || !gcmPayload(v) {
			t.Fatalf("%s: the session cookie is not an AES-256-GCM payload: %q", site.name, session)
		}
		r := alice.Do("GET", poll, nil)
		wantStatus(t, site.name+": first poll", r, 200)
		wantHeader(t, site.name+": first poll", r, "X-Recordsync-Cache", "miss")
		want := "miss"
		if site.hits {
			want = "hit"
		}
		for i := range 3 {
			r = alice.Do("GET", poll, nil)
			wantStatus(t, fmt.Sprint(site.name, ": poll ", i), r, 200)
			wantHeader(t, fmt.Sprint(site.name, ": poll ", i), r, "X-Recordsync-Cache", want)
		}
		// Another user's cookies are another caller: Carol may not see flow 2.
		if site.hits {
			const poll2 = "/api/v1/records/flow/2/version"
			wantHeader(t, site.name+": Alice's poll of flow 2", alice.Do("GET", poll2, nil), "X-Recordsync-Cache", "miss")
			wantHeader(t, site.name+": Alice's second poll of flow 2", alice.Do("GET", poll2, nil), "X-Recordsync-Cache", "hit")
			carol := loginAs(t, site.c, "a.localhost", "carol@example.com")
			wantStatus(t, site.name+": Carol's poll", carol.Do("GET", poll2, nil), 403)
			r = carol.Do("GET", poll2, nil)
			wantStatus(t, site.name+": Carol's second poll", r, 403)
			noVersionLeak(t, site.name+": Carol's second poll", r)
		}
	}

	m := drillMetrics(t, wrong)
	if m[`recordsync_proxy_refused_total{reason="session_unverified"}`] < 4 {
		t.Errorf("the cookies that do not verify are not counted: %v", refusedMetrics(m))
	}
	if m := drillMetrics(t, c); m[`recordsync_proxy_refused_total{reason="session_unverified"}`] != 0 {
		t.Errorf("the app key's Caddy counted sessions unverified: %v", refusedMetrics(m))
	}
	log := wrong.Log()
	if n := strings.Count(log, "do not verify under laravel_app_key"); n != 1 || !strings.Contains(log, "my-app-session") {
		t.Errorf("the log says it %d times, or without the cookie's name:\n%s", n, log)
	}
	if strings.Contains(log, "XSRF-TOKEN") || strings.Contains(log, "eyJpdiI6") {
		t.Errorf("the log names XSRF-TOKEN or holds a cookie's value:\n%s", log)
	}
}

// gcmPayload reports whether a Laravel encrypted value carries a GCM tag.
func gcmPayload(v string) bool {
	raw, err := base64.StdEncoding.DecodeString(v)
	return err == nil && gjson.GetBytes(raw, "tag").String() != "" && gjson.GetBytes(raw, "mac").String() == ""
}
