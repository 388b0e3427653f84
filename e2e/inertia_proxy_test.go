package e2e

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// inertiaHeaders are the headers Inertia's router sends on its visits
// (X-Inertia, X-Inertia-Version, X-Requested-With, and axios's
// X-XSRF-TOKEN from the XSRF-TOKEN cookie), plus extra pairs.
func inertiaHeaders(c *laravelClient, assetVersion string, extra ...string) []string {
	xsrf, _ := url.QueryUnescape(c.Cookie("XSRF-TOKEN"))
	return append([]string{"X-Inertia", "true", "X-Inertia-Version", assetVersion, "X-Requested-With", "XMLHttpRequest",
		"Accept", "text/html, application/xhtml+xml", "X-XSRF-TOKEN", xsrf}, extra...)
}

var (
	scriptPage = regexp.MustCompile(`<script data-page="app" type="application/json">(.*?)</script>`)
	divPage    = regexp.MustCompile(`<div id="app" data-page="([^"]*)"`)
)

// firstLoad GETs an Inertia page as a browser's first load (HTML) and
// returns its page object, from 3.x's script element or 2.x's attribute.
func firstLoad(t *testing.T, c *laravelClient, path string) gjson.Result {
	t.Helper()
	r := c.Do("GET", path, nil, "Accept", "text/html")
	wantStatus(t, "first load of "+path, r, 200)
	if m := scriptPage.FindSubmatch(r.Body); m != nil {
		return gjson.ParseBytes(m[1])
	}
	if m := divPage.FindSubmatch(r.Body); m != nil {
		return gjson.Parse(html.UnescapeString(string(m[1])))
	}
	t.Fatalf("no page object in %s", r.Body)
	return gjson.Result{}
}

// TestInertiaLaravel: recordsync in front of the example app's Inertia pages
// (an emulation of inertia-laravel, /inertia/flows/{id}, the flow in
// props.flow), with `inertia flow /inertia/flows/{id}`:
//   - a first load's HTML (3.x script element, 2.x data-page attribute) and
//     an X-Inertia visit teach the version: the poll is then answered from
//     the cache;
//   - Alice's Inertia save (303 to the page, followed as the browser's XHR
//     follows it, with the same headers) is learned from that page and
//     announced to Bob's socket with who saved it and changed_fields, not
//     to Alice's own socket;
//   - Bob's stale Inertia save with the kit on the page (X-Tab-ID) is
//     answered 409 at the edge, never reaching PHP; without the kit it goes
//     to the app, which answers as Inertia apps do (a redirect back with
//     the error in the session), and nothing is saved or announced.
func TestInertiaLaravel(t *testing.T) {
	t.Parallel()
	_, spy, c := startRSLaravel(t, map[string]string{
		"BROADCAST_DRIVER": "redis",
		"REDIS_HOST":       "127.0.0.1",
		"REDIS_PORT":       fmt.Sprint(freePort(t)), // nobody listens: the app's own broadcasts fail quietly
	}, rsOptions{Inertia: true, Extra: "auth_upstream /broadcasting/auth"})
	alice := loginAs(t, c, "a.localhost", "alice@example.com")
	bob := loginAs(t, c, "a.localhost", "bob@example.com")

	page := firstLoad(t, alice, "/inertia/flows/1")
	asset := page.Get("version").String()
	v1 := page.Get("props.flow.updated_at").String()
	if page.Get("component").String() != "Flows/Edit" || v1 == "" {
		t.Fatalf("page %s", page.Raw)
	}
	poll := alice.Do("GET", "/api/v1/records/flow/1/version", nil)
	wantStatus(t, "Alice's poll", poll, 200)
	wantHeader(t, "Alice's poll after the first load", poll, "X-Recordsync-Cache", "hit")
	if got := gjson.GetBytes(poll.Body, "data.updated_at").String(); got != v1 {
		t.Fatalf("poll answered %s, want %s", got, v1)
	}

	wa := dialWithCookies(t, c.HTTPPort, "a.localhost", alice)
	wb := dialWithCookies(t, c.HTTPPort, "a.localhost", bob)
	for _, w := range []*wsClient{wa, wb} {
		if f := w.subscribeNoAuth("private-record.flow.1"); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("subscribe: %+v\n%s", f, c.Log())
		}
	}
	r := bob.Do("GET", "/inertia/flows/1", nil, inertiaHeaders(bob, asset)...)
	wantStatus(t, "Bob's Inertia visit", r, 200)
	wantHeader(t, "Bob's Inertia visit", r, "X-Inertia", "true")
	if r.Header.Get("ETag") != "" {
		t.Fatal("an Inertia page got an ETag")
	}

	// Alice saves through Inertia's router: the app redirects, the XHR follows.
	before := spy.Count("PUT", "/inertia/flows/1")
	save := map[string]string{"name": "Renamed through Inertia", "description": page.Get("props.flow.description").String(), "client_version": v1}
	r = alice.Do("PUT", "/inertia/flows/1", save, inertiaHeaders(alice, asset, "X-Socket-ID", wa.SocketID, "X-Tab-ID", "tab-alice")...)
	wantStatus(t, "Alice's Inertia save", r, http.StatusSeeOther)
	loc := r.Header.Get("Location")
	if !strings.HasSuffix(loc, "/inertia/flows/1") {
		t.Fatalf("redirected to %q", loc)
	}
	r = alice.Do("GET", "/inertia/flows/1", nil, inertiaHeaders(alice, asset, "X-Socket-ID", wa.SocketID, "X-Tab-ID", "tab-alice")...)
	wantStatus(t, "the page after the save", r, 200)
	v2 := gjson.GetBytes(r.Body, "props.flow.updated_at").String()
	if v2 == v1 || gjson.GetBytes(r.Body, "props.flow.name").String() != save["name"] {
		t.Fatalf("the page after the save: %s", r.Body)
	}
	f := wb.read(10 * time.Second)
	for f.Event == "pusher:ping" {
		f = wb.read(10 * time.Second)
	}
	var ev struct {
		Updated string   `json:"updated_at_iso"`
		ByName  string   `json:"updated_by_name"`
		Changed []string `json:"changed_fields"`
	}
	if f.Event != "record.updated" || json.Unmarshal([]byte(f.dataString()), &ev) != nil || ev.Updated != v2 || ev.ByName != "Alice" ||
		len(ev.Changed) != 1 || ev.Changed[0] != "name" {
		t.Fatalf("Bob got %s %s, want record.updated of %s by Alice, changed [name]", f.Event, f.dataString(), v2)
	}
	clusterQuiet(t, wa, "Alice's own socket got her save")

	// Bob, still on v1, saves with the kit on the page: 409 at the edge.
	stale := map[string]string{"name": "Bob's name", "description": "", "client_version": v1}
	r = bob.Do("PUT", "/inertia/flows/1", stale, inertiaHeaders(bob, asset, "X-Socket-ID", wb.SocketID, "X-Tab-ID", "tab-bob")...)
	wantStatus(t, "Bob's stale save with the kit", r, http.StatusConflict)
	wantHeader(t, "Bob's stale save with the kit", r, "X-Recordsync-Cache", "hit")
	if r.Header.Get("X-Inertia") != "" || gjson.GetBytes(r.Body, "data.updated_at").String() != v2 ||
		gjson.GetBytes(r.Body, "data.updated_by_name").String() != "Alice" || gjson.GetBytes(r.Body, "data.changed_fields").Raw != `["name"]` {
		t.Fatalf("conflict answer %v %s", r.Header, r.Body)
	}
	if n := spy.Count("PUT", "/inertia/flows/1") - before; n != 1 {
		t.Fatalf("%d Inertia PUTs reached PHP, want 1 (Alice's)", n)
	}
	// Without the kit the app answers: a redirect back, nothing saved.
	r = bob.Do("PUT", "/inertia/flows/1", stale, inertiaHeaders(bob, asset, "X-Socket-ID", wb.SocketID, "Referer", c.URL()+"/inertia/flows/1")...)
	wantStatus(t, "Bob's stale save without the kit", r, http.StatusSeeOther)
	if n := spy.Count("PUT", "/inertia/flows/1") - before; n != 2 {
		t.Fatalf("the stale save without the kit did not reach the app (%d PUTs)", n)
	}
	r = bob.Do("GET", "/inertia/flows/1", nil, inertiaHeaders(bob, asset, "X-Socket-ID", wb.SocketID)...)
	if gjson.GetBytes(r.Body, "props.flow.updated_at").String() != v2 || gjson.GetBytes(r.Body, "props.errors.client_version").String() == "" {
		t.Fatalf("after the app's own answer to the stale save: %s", r.Body)
	}
	clusterQuiet(t, wa, "a stale save the app refused was announced")

	// The 2.x root view (data-page attribute) teaches a version as well.
	u := strings.TrimSuffix(bob.Base, "/")
	req, _ := http.NewRequest("GET", u, nil)
	bob.HTTP.Jar.SetCookies(req.URL, []*http.Cookie{{Name: "inertia_major", Value: "2", Path: "/"}})
	p3 := firstLoad(t, bob, "/inertia/flows/3")
	poll = bob.Do("GET", "/api/v1/records/flow/3/version", nil)
	wantHeader(t, "Bob's poll of flow 3 after a 2.x first load", poll, "X-Recordsync-Cache", "hit")
	if got := gjson.GetBytes(poll.Body, "data.updated_at").String(); got != p3.Get("props.flow.updated_at").String() {
		t.Fatalf("poll of flow 3 answered %s, page has %s", got, p3.Get("props.flow.updated_at"))
	}
}
