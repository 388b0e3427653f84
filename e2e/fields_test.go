package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// TestDisjointPatchesLaravel: with merge_patches on for flows, two PATCHes
// loaded on the same version that change different fields both reach the
// real Laravel app and the record holds both; one that changes a field
// changed since is answered 409 at the edge, naming the fields.
func TestDisjointPatchesLaravel(t *testing.T) {
	_, spy, c := startRSLaravel(t, nil, rsOptions{MergePatches: true})
	const path = "/api/v1/flows/1"
	alice := loginAs(t, c, "a.localhost", "alice@example.com")
	bob := loginAs(t, c, "a.localhost", "bob@example.com")
	loaded := recVersion(alice.Do("GET", path, nil))
	if v := recVersion(bob.Do("GET", path, nil)); v != loaded {
		t.Fatalf("Alice and Bob loaded %s and %s", loaded, v)
	}

	r := bob.Do("PATCH", path, map[string]string{"name": "Bob's name", "client_version": loaded})
	wantStatus(t, "Bob's PATCH", r, 200)
	patches := spy.Count("PATCH", path)
	// Alice's PATCH is stale (loaded before Bob's) but touches only the
	// description: forwarded on the current version.
	r = alice.Do("PATCH", path, map[string]string{"description": "Alice's text", "client_version": loaded})
	wantStatus(t, "Alice's disjoint stale PATCH", r, 200)
	wantHeader(t, "Alice's disjoint stale PATCH", r, "X-Recordsync-Cache", "")
	if n := spy.Count("PATCH", path); n != patches+1 {
		t.Fatalf("Alice's PATCH reached PHP %d times", n-patches)
	}
	r = alice.Do("GET", path, nil)
	wantField(t, "the record after both", r, "data.name", "Bob's name")
	wantField(t, "the record after both", r, "data.description", "Alice's text")

	// Overlapping: Alice renames on her old version too.
	r = alice.Do("PATCH", path, map[string]string{"name": "Alice's name", "client_version": loaded})
	wantStatus(t, "Alice's overlapping stale PATCH", r, 409)
	wantHeader(t, "Alice's overlapping stale PATCH", r, "X-Recordsync-Cache", "hit")
	for key, want := range map[string]string{
		"data.changed_fields":     `["description","name"]`,
		"data.your_fields":        `["name"]`,
		"data.overlapping_fields": `["name"]`,
	} {
		if got := gjson.GetBytes(r.Body, key).Raw; got != want {
			t.Errorf("%s = %s, want %s (%s)", key, got, want, r.Body)
		}
	}
	wantField(t, "the record after the overlap", alice.Do("GET", path, nil), "data.name", "Bob's name")

	// A PUT is never merged: whole-record writes replace what they send.
	r = alice.Do("PUT", path, map[string]string{"description": "again", "client_version": loaded})
	wantStatus(t, "Alice's stale PUT", r, 409)
}

// TestModelBroadcastLaravel: with `model App.Models.Flow`, a save through
// the proxy reaches the model's private channel (authorised by the real
// app's routes/channels.php) as Laravel's model broadcasting sends it,
// FlowUpdated with {"model":{"id","updated_at"}} and nothing else of the
// record; the writer's own socket gets no copy.
func TestModelBroadcastLaravel(t *testing.T) {
	_, _, c := startRSLaravel(t, map[string]string{
		"BROADCAST_DRIVER": "redis",
		"REDIS_HOST":       "127.0.0.1",
		"REDIS_PORT":       fmt.Sprint(freePort(t)), // nobody listens: the app's own broadcasts fail quietly
	}, rsOptions{FlowModel: true, Extra: "auth_upstream /broadcasting/auth"})
	alice := loginAs(t, c, "a.localhost", "alice@example.com")
	bob := loginAs(t, c, "a.localhost", "bob@example.com")
	const ch = "private-App.Models.Flow.1"
	wa := dialWithCookies(t, c.HTTPPort, "a.localhost", alice)
	if f := wa.subscribeNoAuth(ch); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("alice %s: %+v\n%s", ch, f, c.Log())
	}
	wb := dialWithCookies(t, c.HTTPPort, "a.localhost", bob)
	if f := wb.subscribeNoAuth(ch); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("bob %s: %+v", ch, f)
	}
	r := bob.Do("PUT", "/api/v1/flows/1", map[string]string{"name": "Bob's secret name"}, "X-Socket-ID", wb.SocketID)
	wantStatus(t, "Bob's save", r, 200)
	f := wa.read(10 * time.Second)
	for f.Event == "pusher:ping" {
		f = wa.read(10 * time.Second)
	}
	want := fmt.Sprintf(`{"model":{"id":1,"updated_at":%q}}`, recVersion(r))
	if f.Event != "FlowUpdated" || f.Channel != ch || f.dataString() != want {
		t.Fatalf("alice got %s %s %s, want FlowUpdated %s", f.Event, f.Channel, f.dataString(), want)
	}
	clusterQuiet(t, wb, "Bob's own socket got his save")
}
