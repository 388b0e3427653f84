package e2e

// End-to-end tests of what the proxy vouches for, through the REAL example
// Laravel app (php-fpm, SQLite) behind a real Caddy: the caller is who
// Laravel authenticates (an Authorization header every user sends alike is
// nobody), and only an answer that is the record authorises a caller for
// cache answers. Carol (role guest) may not see flow 2 nor the tasks of
// project 2 (tasks 5 and 6); Alice may.

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// TestSecurityProxyCaller: a site-wide Basic credential or an SPA's
// "Bearer null" is sent by Alice and Carol alike; Laravel authenticates each
// by her session, and so must recordsync: Alice's reads must not let the
// cache answer Carol's poll of flow 2, nor her stale write.
func TestSecurityProxyCaller(t *testing.T) {
	_, spy, c := startRSLaravel(t, nil, rsOptions{})
	const path, poll = "/api/v1/flows/2", "/api/v1/records/flow/2/version"
	alice := loginAs(t, c, "a.localhost", "alice@example.com")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("staff:site-password"))
	for _, auth := range []string{"Bearer null", "Bearer undefined", basic} {
		t.Run(auth, func(t *testing.T) {
			// A fresh session of Carol's: one the app has not refused yet.
			carol := loginAs(t, c, "a.localhost", "carol@example.com")
			wantStatus(t, "Alice's GET", alice.Do("GET", path, nil, "Authorization", auth), 200)
			r := alice.Do("GET", poll, nil, "Authorization", auth)
			wantStatus(t, "Alice's poll", r, 200)
			wantHeader(t, "Alice's poll", r, "X-Recordsync-Cache", "hit")

			before := spy.Count("GET", poll)
			r = carol.Do("GET", poll, nil, "Authorization", auth)
			wantStatus(t, "Carol's poll with Alice's header", r, 403)
			wantHeader(t, "Carol's poll with Alice's header", r, "X-Recordsync-Cache", "miss")
			noVersionLeak(t, "Carol's poll with Alice's header", r)
			if spy.Count("GET", poll) != before+1 {
				t.Fatal("Carol's poll did not reach the app")
			}
			before = spy.Count("PUT", path)
			r = carol.Do("PUT", path, map[string]string{"name": "Carol's"}, "Authorization", auth, "If-Match", etagOf(staleVersion))
			wantStatus(t, "Carol's stale write with Alice's header", r, 403)
			wantHeader(t, "Carol's stale write with Alice's header", r, "X-Recordsync-Cache", "")
			noVersionLeak(t, "Carol's stale write with Alice's header", r)
			if spy.Count("PUT", path) != before+1 {
				t.Fatal("Carol's stale write did not reach the app")
			}
		})
	}
	m := drillMetrics(t, c)
	if m[`recordsync_proxy_refused_total{reason="credential_not_token"}`] == 0 || m[`recordsync_proxy_refused_total{reason="credential_basic"}`] == 0 {
		t.Errorf("credential refusals not counted: %v", refusedMetrics(m))
	}
}

// spaSite is rsLaravelSite's recordsync in front of the app, where the
// version route of two restricted records is not the app's version
// endpoint but what a site's catch-all answers there, both real answers of
// the app to the same caller: Laravel's login page (200 HTML, an SPA's
// index.html would do the same) for flow 2, and Laravel's GET /api/v1/me
// (200 {"success":true,"data":{...}}, JSON without the version) for task 5.
func spaSite(app *laravelApp) string {
	var b strings.Builder
	b.WriteString("http://:{PORT} {\n\troute {\n\t\trecordsync {\n")
	b.WriteString("\t\t\ttenant {http.request.host}\n")
	b.WriteString("\t\t\tupdated_by_id data.updated_by\n")
	b.WriteString("\t\t\tupdated_by_name data.updated_by_name\n")
	b.WriteString("\t\t\trecord flow /api/v1/flows/{id}\n")
	b.WriteString("\t\t\trecord projecttask /api/v1/projects/{project}/tasks/{id}\n")
	fmt.Fprintf(&b, "\t\t\tlaravel_app_key %s\n", app.AppKey)
	b.WriteString("\t\t}\n")
	b.WriteString("\t\thandle /api/v1/records/flow/2/version {\n\t\t\trewrite * /login\n\t\t\treverse_proxy 127.0.0.1:{PORT}\n\t\t}\n")
	b.WriteString("\t\thandle /api/v1/records/projecttask/5/version {\n\t\t\trewrite * /api/v1/me\n\t\t\treverse_proxy 127.0.0.1:{PORT}\n\t\t}\n")
	for _, d := range app.Directives() {
		b.WriteString("\t\t" + d + "\n")
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// TestSecurityProxyOnlyTheRecordAuthorises: a 2xx answer that is not the
// record (a page, JSON without version_field) authorises nobody: Carol's
// polls of flow 2 and task 5 keep going to the site and never get the
// version or the name of who saved it from the cache, and her stale write
// reaches the app (403) instead of a 409 from the cache. The record's own
// answer and the app's version endpoint still authorise, and its 403 still
// denies.
func TestSecurityProxyOnlyTheRecordAuthorises(t *testing.T) {
	app := startLaravel(t, nil)
	c := startCaddy(t, spaSite(app))
	alice := loginAs(t, c, "a.localhost", "alice@example.com")
	carol := loginAs(t, c, "a.localhost", "carol@example.com")

	// Alice reads flow 2 and task 5: recordsync learns their versions, and
	// her record answers authorise her polls (answered from the cache,
	// never reaching the catch-all).
	wantStatus(t, "Alice's GET of flow 2", alice.Do("GET", "/api/v1/flows/2", nil), 200)
	wantStatus(t, "Alice's GET of task 5", alice.Do("GET", "/api/v1/projects/2/tasks/5", nil), 200)
	for _, poll := range []string{"/api/v1/records/flow/2/version", "/api/v1/records/projecttask/5/version"} {
		r := alice.Do("GET", poll, nil)
		wantStatus(t, "Alice's poll "+poll, r, 200)
		wantHeader(t, "Alice's poll "+poll, r, "X-Recordsync-Cache", "hit")
	}

	for _, tc := range []struct{ name, poll, contentType string }{
		{"a page", "/api/v1/records/flow/2/version", "text/html"},
		{"JSON without the version", "/api/v1/records/projecttask/5/version", "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 3; i++ {
				r := carol.Do("GET", tc.poll, nil)
				what := fmt.Sprintf("Carol's poll %d", i+1)
				wantStatus(t, what, r, 200)
				wantHeader(t, what, r, "X-Recordsync-Cache", "miss")
				if !strings.HasPrefix(r.Header.Get("Content-Type"), tc.contentType) {
					t.Fatalf("%s: Content-Type %q, want the site's %s", what, r.Header.Get("Content-Type"), tc.contentType)
				}
				noVersionLeak(t, what, r)
				if strings.Contains(string(r.Body), "Alice") {
					t.Fatalf("%s: the answer names who saved the record: %s", what, r.Body)
				}
			}
		})
	}

	// Carol's stale write of flow 2 goes to the app, which refuses it.
	r := carol.Do("PUT", "/api/v1/flows/2", map[string]string{"name": "Carol's"}, "If-Match", etagOf(staleVersion))
	wantStatus(t, "Carol's stale write", r, 403)
	wantHeader(t, "Carol's stale write", r, "X-Recordsync-Cache", "")
	noVersionLeak(t, "Carol's stale write", r)

	// The app's version endpoint authorises as the record does: Carol's
	// second poll of flow 1 is answered from the cache; its 403 for task 6
	// is remembered.
	wantHeader(t, "Carol's first poll of flow 1", carol.Do("GET", "/api/v1/records/flow/1/version", nil), "X-Recordsync-Cache", "miss")
	r = carol.Do("GET", "/api/v1/records/flow/1/version", nil)
	wantStatus(t, "Carol's second poll of flow 1", r, 200)
	wantHeader(t, "Carol's second poll of flow 1", r, "X-Recordsync-Cache", "hit")
	wantStatus(t, "Carol's first poll of task 6", carol.Do("GET", "/api/v1/records/projecttask/6/version", nil), 403)
	r = carol.Do("GET", "/api/v1/records/projecttask/6/version", nil)
	wantStatus(t, "Carol's second poll of task 6", r, 403)
	wantHeader(t, "Carol's second poll of task 6", r, "X-Recordsync-Cache", "hit")

	m := drillMetrics(t, c)
	if m[`recordsync_proxy_refused_total{reason="not_the_record"}`] < 6 {
		t.Errorf("answers that are not the record counted: %v", refusedMetrics(m))
	}
}

// staleVersion is older than any version the app's records have: a write
// that loaded it is stale, and the cache proves it to whom it may.
const staleVersion = "2020-01-01T00:00:00.000000Z"

// refusedMetrics picks recordsync_proxy_refused_total out of a scrape.
func refusedMetrics(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, "recordsync_proxy_refused_total") {
			out[k] = v
		}
	}
	return out
}
