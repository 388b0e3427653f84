package proxy

import (
	"github.com/recordsync/recordsync/versioncache"

	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	tests := []struct {
		name   string
		path   string
		ok     bool
		typ    string
		params map[string]string
	}{
		{"flow", "/api/v1/flows/5", true, "flow", map[string]string{"id": "5"}},
		{"flow uuid", "/api/v1/flows/9b2f-77", true, "flow", map[string]string{"id": "9b2f-77"}},
		{"nested", "/api/v1/projects/3/tasks/42", true, "projecttask", map[string]string{"project": "3", "id": "42"}},
		{"empty id", "/api/v1/flows/", false, "", nil},
		{"trailing slash", "/api/v1/flows/5/", false, "", nil},
		{"deeper", "/api/v1/flows/5/edit", false, "", nil},
		{"prefix only", "/api/v1/flows", false, "", nil},
		{"empty project", "/api/v1/projects//tasks/42", false, "", nil},
		{"literal differs", "/api/v2/flows/5", false, "", nil},
		{"case matters", "/API/v1/flows/5", false, "", nil},
		{"root", "/", false, "", nil},
		{"empty", "", false, "", nil},
		{"double slash", "//api/v1/flows/5", false, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := h.Match(tt.path)
			if ok != tt.ok {
				t.Fatalf("Match(%q) ok = %v, want %v", tt.path, ok, tt.ok)
			}
			if !ok {
				return
			}
			if m.Type != tt.typ || m.ID != tt.params["id"] || !reflect.DeepEqual(m.Params, tt.params) {
				t.Errorf("Match(%q) = %+v, want type %s params %v", tt.path, m, tt.typ, tt.params)
			}
			if m.Spec == nil || m.Spec.Type != tt.typ {
				t.Errorf("Spec = %+v", m.Spec)
			}
		})
	}
}

func TestCompilePattern(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		wantErr string
	}{
		{"ok", "/api/v1/flows/{id}", ""},
		{"ok nested", "/p/{project}/t/{id}", ""},
		{"no id", "/api/v1/flows/{flow}", "has no {id}"},
		{"relative", "api/{id}", "must start with /"},
		{"empty segment", "/api//{id}", "empty segment"},
		{"trailing slash", "/api/{id}/", "empty segment"},
		{"partial placeholder", "/api/{id}.json", "whole segment"},
		{"bad name", "/api/{1x}/{id}", "invalid placeholder"},
		{"empty name", "/api/{}/{id}", "invalid placeholder"},
		{"duplicate", "/{id}/{id}", "twice"},
		{"query", "/api/{id}?x=1", "bare path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compilePattern(tt.pattern, "id")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestListResolve(t *testing.T) {
	pt, err := compilePattern("/p/{project}/t/{id}", "id")
	if err != nil {
		t.Fatal(err)
	}
	lt, err := compileList(ListSpec{Channel: "project.{project}.tasks.{id}", Event: "task.updated", IDKey: "task_id"}, pt)
	if err != nil {
		t.Fatal(err)
	}
	got := lt.resolve(map[string]string{"project": "5", "id": "9"})
	want := versioncache.List{Channel: "project.5.tasks.9", Event: "task.updated", IDKey: "task_id"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for _, bad := range []ListSpec{
		{Channel: "project.{nope}", Event: "e", IDKey: "k"},
		{Channel: "project.{project", Event: "e", IDKey: "k"},
		{Channel: "project.}", Event: "e", IDKey: "k"},
		{Channel: "project", Event: "", IDKey: "k"},
	} {
		if _, err := compileList(bad, pt); err == nil {
			t.Errorf("compileList(%+v) accepted", bad)
		}
	}
}

// The pass-through path (no record route, or a method recordsync leaves
// alone) costs no allocation.
func TestPassThroughAllocs(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	next := func(w http.ResponseWriter, r *http.Request) error { return nil }
	w := httptest.NewRecorder()
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/assets/app.js"},
		{http.MethodPost, "/api/v1/flows"},
		{http.MethodDelete, "/api/v1/flows/5"},
		{http.MethodGet, "/api/v1/flows/5/edit"},
		{http.MethodPut, "/api/v1/projects/1/other/2"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		allocs := testing.AllocsPerRun(100, func() {
			_ = h.ServeHTTP(w, r, RequestInfo{}, next)
		})
		if allocs != 0 {
			t.Errorf("%s %s: %v allocations, want 0", tc.method, tc.path, allocs)
		}
	}
}

func FuzzMatch(f *testing.F) {
	for _, s := range []string{"/api/v1/flows/5", "/api/v1/projects/3/tasks/42", "/api/v1/flows/", "//", "", "/api/v1/projects//tasks/1", "/api/v1/records/flow/1/version"} {
		f.Add(s)
	}
	h, _ := newTestHandler(f, nil)
	f.Fuzz(func(t *testing.T, path string) {
		m, ok := h.Match(path)
		if !ok {
			return
		}
		// Rebuild the path from the pattern and the params: it must be the input.
		var b strings.Builder
		for _, seg := range strings.Split(m.Spec.Pattern[1:], "/") {
			b.WriteByte('/')
			if strings.HasPrefix(seg, "{") {
				v := m.Params[seg[1:len(seg)-1]]
				if v == "" || strings.Contains(v, "/") {
					t.Fatalf("bad param %q for %q", v, path)
				}
				b.WriteString(v)
			} else {
				b.WriteString(seg)
			}
		}
		if b.String() != path {
			t.Fatalf("Match(%q) rebuilt as %q", path, b.String())
		}
		if m.ID != m.Params["id"] || m.ID == "" {
			t.Fatalf("ID %q params %v", m.ID, m.Params)
		}
	})
}
