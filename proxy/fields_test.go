package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/recordsync/recordsync/versioncache"
)

// fieldsApp is a Laravel-like app of flows with several fields: GET shows
// the record; PUT/PATCH apply the body's fields after its own
// client_version check (409 when stale); a caller-dependent can_edit is
// true for tokenOK only.
type fieldsApp struct {
	mu      sync.Mutex
	version int
	fields  map[string]any
	writes  int
}

func newFieldsApp() *fieldsApp {
	return &fieldsApp{version: 1, fields: map[string]any{"name": "Flow", "description": "first", "due": nil, "tags": []any{"a"}}}
}

func (a *fieldsApp) answer(w http.ResponseWriter, r *http.Request) {
	rec := map[string]any{"id": 1, "updated_at": version(a.version), "updated_by": 5, "updated_by_name": "User 5",
		"can_edit": r.Header.Get("Authorization") == tokenOK}
	for k, v := range a.fields {
		rec[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"success": true, "data": rec})
}

func (a *fieldsApp) next(w http.ResponseWriter, r *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.Method == http.MethodGet {
		a.answer(w, r)
		return nil
	}
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return nil
	}
	if cv, ok := in["client_version"].(string); ok && cv != version(a.version) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, `{"success":false,"message":"Conflict.","data":{"updated_at":%q}}`, version(a.version))
		return nil
	}
	delete(in, "client_version")
	for k, v := range in {
		a.fields[k] = v
	}
	a.version++
	a.writes++
	a.answer(w, r)
	return nil
}

func newFieldsHandler(t *testing.T, merge bool) (*Handler, *countingObserver, *recordingPublisher) {
	t.Helper()
	pub := &recordingPublisher{}
	h, obs := newTestHandler(t, func(o *Options) {
		o.Routes[0].MergePatches = merge
		o.Printer = versioncache.NewPrinter([]byte("test"))
		o.Publisher = pub
	})
	return h, obs, pub
}

func conflictData(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var out struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("conflict body %s: %v", body, err)
	}
	return out.Data
}

func names(v any) []string {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	out := []string{}
	for _, n := range list {
		out = append(out, n.(string))
	}
	return out
}

func TestChangedFieldsPublished(t *testing.T) {
	h, _, pub := newFieldsHandler(t, false)
	app := newFieldsApp()
	// Learned from a read, then a write that changes name and tags.
	getF(t, h, app, tokenOK)
	rr := sendF(t, h, app, "PUT", tokenOK, `{"client_version":"`+version(1)+`","name":"Renamed","tags":["a","b"],"description":"first"}`)
	if rr.Code != 200 {
		t.Fatalf("PUT: %d %s", rr.Code, rr.Body)
	}
	saves := pub.all()
	if len(saves) != 1 {
		t.Fatalf("%d saves", len(saves))
	}
	if got := saves[0].Entry.Changed; !reflect.DeepEqual(got, []string{"name", "tags"}) {
		t.Errorf("Changed = %v, want [name tags]", got)
	}
	if !saves[0].Entry.Fields.Known() {
		t.Error("the save carries no Fields for the other instances")
	}
}

func TestConflictNamesFields(t *testing.T) {
	h, obs, _ := newFieldsHandler(t, false)
	app := newFieldsApp()
	// Both callers have the record open: can_edit differs between their
	// answers of one version, so it is caller-dependent and never
	// reported (below).
	getF(t, h, app, tokenOther)
	getF(t, h, app, tokenOK)
	// Another caller saves description.
	if rr := sendF(t, h, app, "PUT", tokenOther, `{"client_version":"`+version(1)+`","description":"theirs"}`); rr.Code != 200 {
		t.Fatalf("their PUT: %d", rr.Code)
	}
	// A stale write of name and description, loaded on version 1.
	rr := sendF(t, h, app, "PUT", tokenOK, `{"client_version":"`+version(1)+`","name":"Mine","description":"mine","due":null}`)
	if rr.Code != 409 || rr.Header().Get(HeaderCache) != "hit" {
		t.Fatalf("stale PUT: %d %s", rr.Code, rr.Body)
	}
	d := conflictData(t, rr.Body.Bytes())
	if d["updated_at"] != version(2) {
		t.Errorf("updated_at %v", d["updated_at"])
	}
	for key, want := range map[string][]string{
		"changed_fields":     {"description"},
		"your_fields":        {"description", "name"},
		"overlapping_fields": {"description"},
	} {
		if got := names(d[key]); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v (body %s)", key, got, want, rr.Body)
		}
	}
	if obs.get("conflict_from_cache") != 1 || app.writes != 1 {
		t.Errorf("conflicts %d, writes %d", obs.get("conflict_from_cache"), app.writes)
	}
	getF(t, h, app, tokenOK)
	if rr := sendF(t, h, app, "PUT", tokenOther, `{"client_version":"`+version(2)+`","name":"B"}`); rr.Code != 200 {
		t.Fatalf("PUT: %d", rr.Code)
	}
	rr = sendF(t, h, app, "PUT", tokenOK, `{"client_version":"`+version(2)+`","due":"2026-01-01"}`)
	d = conflictData(t, rr.Body.Bytes())
	if got := names(d["changed_fields"]); !reflect.DeepEqual(got, []string{"name"}) {
		t.Errorf("changed_fields = %v, want [name] (can_edit is per caller)", got)
	}
	// Known for the type: another flow's can_edit is caller-dependent from
	// its first version on.
	if e, _ := h.store.Advance(versioncache.Key{Type: "flow", ID: "9"}, versioncache.Entry{Version: "1",
		Fields: h.json.record.fields(h.opts.Printer, []byte(`{"data":{"can_edit":true,"name":"x","updated_at":"1"}}`))}); true {
		if p, _, _ := e.Fields.Lookup("can_edit"); p != versioncache.Varies {
			t.Error("can_edit of another flow is not caller-dependent")
		}
	}
	// A version whose fields are no longer held: nothing said about fields.
	rr = sendF(t, h, app, "PUT", tokenOK, `{"client_version":"2000-01-01T00:00:00.000000Z","name":"x"}`)
	if rr.Code != 409 {
		t.Fatalf("old version: %d", rr.Code)
	}
	d = conflictData(t, rr.Body.Bytes())
	for _, key := range []string{"changed_fields", "your_fields", "overlapping_fields"} {
		if _, has := d[key]; has {
			t.Errorf("%s present for a version whose fields are unknown: %s", key, rr.Body)
		}
	}
}

func TestDisjointPatchesMerge(t *testing.T) {
	h, obs, _ := newFieldsHandler(t, true)
	app := newFieldsApp()
	getF(t, h, app, tokenOther)
	getF(t, h, app, tokenOK)
	v1 := version(1)
	// Two PATCHes loaded on version 1, of different fields: both land.
	if rr := sendF(t, h, app, "PATCH", tokenOther, `{"client_version":"`+v1+`","description":"theirs"}`); rr.Code != 200 {
		t.Fatalf("first PATCH: %d %s", rr.Code, rr.Body)
	}
	rr := sendF(t, h, app, "PATCH", tokenOK, `{"name":"mine","client_version":"`+v1+`"}`)
	if rr.Code != 200 {
		t.Fatalf("disjoint stale PATCH: %d %s", rr.Code, rr.Body)
	}
	if app.fields["name"] != "mine" || app.fields["description"] != "theirs" {
		t.Errorf("record %v: want both edits", app.fields)
	}
	if obs.get("merged_patch") != 1 {
		t.Errorf("merged %d", obs.get("merged_patch"))
	}
	// An overlapping one still conflicts, and so does one that sends a
	// field the other changed with its old value (it would revert it).
	for _, body := range []string{
		`{"client_version":"` + v1 + `","description":"mine"}`,
		`{"client_version":"` + v1 + `","description":"first"}`,
		`{"client_version":"` + v1 + `","unknown_field":1}`,
		`{"client_version":"` + v1 + `","can_edit":true}`,
		`{"client_version":"` + v1 + `","tags":"a"}`,
		`{"client_version":"` + v1 + `","name":"x","name":"y"}`,
	} {
		rr := sendF(t, h, app, "PATCH", tokenOK, body)
		if rr.Code != 409 {
			t.Errorf("PATCH %s: %d, want 409", body, rr.Code)
		}
	}
	// A PUT is never merged, nor a PATCH with a query string.
	if rr := sendF(t, h, app, "PUT", tokenOK, `{"client_version":"`+v1+`","due":"x"}`); rr.Code != 409 {
		t.Errorf("stale disjoint PUT: %d, want 409", rr.Code)
	}
	if rr := sendPath(t, h, app, "PATCH", "/api/v1/flows/1?x=1", tokenOK, `{"client_version":"`+v1+`","due":"x"}`); rr.Code != 409 {
		t.Errorf("PATCH with a query: %d, want 409", rr.Code)
	}
	// If-Match is rewritten too.
	rr = sendPath(t, h, app, "PATCH", "/api/v1/flows/1", tokenOK, `{"due":"soon"}`, "If-Match", `"`+v1+`"`)
	if rr.Code != 200 || app.fields["due"] != "soon" {
		t.Errorf("If-Match PATCH: %d %s", rr.Code, rr.Body)
	}
	if obs.get("merged_patch") != 2 || app.writes != 3 {
		t.Errorf("merged %d writes %d, want 2 and 3", obs.get("merged_patch"), app.writes)
	}
}

func getF(t *testing.T, h *Handler, app *fieldsApp, auth string) {
	t.Helper()
	if rr := sendPath(t, h, app, "GET", "/api/v1/flows/1", auth, ""); rr.Code != 200 {
		t.Fatalf("GET: %d", rr.Code)
	}
}

func sendF(t *testing.T, h *Handler, app *fieldsApp, method, auth, body string) *httptest.ResponseRecorder {
	t.Helper()
	return sendPath(t, h, app, method, "/api/v1/flows/1", auth, body)
}

func sendPath(t *testing.T, h *Handler, app *fieldsApp, method, path, auth, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", auth)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rr := httptest.NewRecorder()
	if err := h.ServeHTTP(rr, req, RequestInfo{}, app.next); err != nil {
		t.Fatal(err)
	}
	return rr
}

// FuzzRewriteLoaded: whatever the body, a rewrite either changes nothing
// or yields a body whose fields, decoded as PHP's json_decode keeps them,
// are the original ones with the client_version (and only it) replaced by
// the new version; and readBodyChanges never panics on it.
func FuzzRewriteLoaded(f *testing.F) {
	f.Add([]byte(`{"client_version":"1","name":"x"}`), "2026-01-01T00:00:00.000000Z")
	f.Add([]byte(`{"name":"x","client_version":7}`), "8")
	f.Add([]byte(`{"client_version":"1","client_version":"2"}`), "3")
	f.Add([]byte(`{"a":{"client_version":"1"},"client_version" : "1" }`), "2")
	f.Add([]byte(`[1]`), "2")
	h, _ := newTestHandler(f, func(o *Options) {
		o.MaxBodyBytes = 512
		o.Printer = versioncache.NewPrinter([]byte("k"))
	})
	f.Fuzz(func(t *testing.T, body []byte, v string) {
		r := httptest.NewRequest(http.MethodPatch, "/api/v1/flows/1", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		_, _ = h.readBodyChanges(r, versioncache.Fields{})
		if !h.rewriteLoaded(r, v) {
			got, _ := io.ReadAll(r.Body)
			if !bytes.Equal(got, body) {
				t.Fatalf("a refused rewrite changed the body: %q → %q", body, got)
			}
			return
		}
		got, _ := io.ReadAll(r.Body)
		if r.ContentLength != int64(len(got)) {
			t.Fatalf("Content-Length %d for %d bytes", r.ContentLength, len(got))
		}
		before, errB := decodeLast(body)
		after, errA := decodeLast(got)
		if errB != nil {
			return // not JSON before: the rewrite only had to keep it as it was elsewhere
		}
		if errA != nil {
			t.Fatalf("%q rewritten to invalid %q", body, got)
		}
		if _, had := before["client_version"]; had {
			if cv := after["client_version"]; cv != v && fmt.Sprint(cv) != v {
				t.Fatalf("client_version %v after the rewrite, want %q (%q → %q)", cv, v, body, got)
			}
		}
		delete(before, "client_version")
		delete(after, "client_version")
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("other fields changed: %q → %q", body, got)
		}
	})
}

// decodeLast decodes a JSON object as PHP does (the last of duplicate keys).
func decodeLast(b []byte) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return m, nil
}
