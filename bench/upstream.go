package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Go upstream (run as `bench -role=upstream -addr ...` in its own
// process so its CPU is measured apart from Caddy's): a stand-in for the app
// that answers in microseconds, so that Caddy's own cost shows.
//
//	GET  /api/v1/other                        small JSON, not a record route
//	GET  /api/v1/flows/{id}                   record JSON with data.updated_at (ids 1..1000)
//	PUT  /api/v1/flows/{id}                   saves: a new microsecond updated_at; a client_version that is not
//	                                          current gets the app's 409 with the current version
//	GET  /api/v1/records/flow/{id}/version    {"success":true,"data":{"updated_at":..,"updated_by_name":..}}
//	GET, PUT /api/v1/projects/{p}/tasks/{id}  tasks 1..3000 (the realistic shape, section 8), saved as flows are
//
// Every caller is authorised (2xx), as a logged-in editor would be.

const (
	maxRecords = 1000
	maxTasks   = 3000
)

type upRecord struct {
	mu      sync.Mutex
	version time.Time
	name    string
	by      int
}

type upstream struct {
	recs  [maxRecords + 1]upRecord
	tasks [maxTasks + 1]upRecord
}

var otherBody = []byte(`{"success":true,"data":{"ok":true,"items":[1,2,3],"message":"not a record route"}}`)

const versionLayout = "2006-01-02T15:04:05.000000Z"

func newUpstream() *upstream {
	u := &upstream{}
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := range u.recs {
		u.recs[i].version = base
		u.recs[i].name = "Flow " + strconv.Itoa(i)
		u.recs[i].by = 1
	}
	for i := range u.tasks {
		u.tasks[i] = upRecord{version: base, name: "Task " + strconv.Itoa(i), by: 1}
	}
	return u
}

var byNames = []string{"", "Alice", "Bob"}

func (u *upstream) recordJSON(id int, r *upRecord) []byte {
	b := make([]byte, 0, 320)
	b = append(b, `{"success":true,"data":{"id":`...)
	b = strconv.AppendInt(b, int64(id), 10)
	b = append(b, `,"name":`...)
	b = strconv.AppendQuote(b, r.name)
	b = append(b, `,"description":"A flow used by the benchmark.","created_at":"2026-01-01T12:00:00.000000Z","updated_at":"`...)
	b = r.version.AppendFormat(b, versionLayout)
	b = append(b, `","updated_by":`...)
	b = strconv.AppendInt(b, int64(r.by), 10)
	b = append(b, `,"updated_by_name":"`...)
	b = append(b, byNames[r.by]...)
	b = append(b, `"}}`...)
	return b
}

// taskJSON is a task's answer (project p).
func (u *upstream) taskJSON(p, id int, r *upRecord) []byte {
	b := make([]byte, 0, 320)
	b = append(b, `{"success":true,"data":{"id":`...)
	b = strconv.AppendInt(b, int64(id), 10)
	b = append(b, `,"project_id":`...)
	b = strconv.AppendInt(b, int64(p), 10)
	b = append(b, `,"title":`...)
	b = strconv.AppendQuote(b, r.name)
	b = append(b, `,"status":"todo","created_at":"2026-01-01T12:00:00.000000Z","updated_at":"`...)
	b = r.version.AppendFormat(b, versionLayout)
	b = append(b, `","updated_by":`...)
	b = strconv.AppendInt(b, int64(r.by), 10)
	b = append(b, `,"updated_by_name":"`...)
	b = append(b, byNames[r.by]...)
	b = append(b, `"}}`...)
	return b
}

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/api/v1/other":
		io.Copy(io.Discard, r.Body)
		writeJSON(w, 200, otherBody)
	case strings.HasPrefix(p, "/api/v1/flows/"):
		id, err := strconv.Atoi(p[len("/api/v1/flows/"):])
		if err != nil || id < 1 || id > maxRecords {
			writeJSON(w, 404, []byte(`{"success":false,"message":"Record not found."}`))
			return
		}
		u.serveRecord(w, r, &u.recs[id], func(rec *upRecord) []byte { return u.recordJSON(id, rec) })
	case strings.HasPrefix(p, "/api/v1/projects/"):
		// /api/v1/projects/{p}/tasks/{id}
		parts := strings.Split(p[len("/api/v1/projects/"):], "/")
		var proj, id int
		var err1, err2 error
		if len(parts) == 3 && parts[1] == "tasks" {
			proj, err1 = strconv.Atoi(parts[0])
			id, err2 = strconv.Atoi(parts[2])
		}
		if len(parts) != 3 || parts[1] != "tasks" || err1 != nil || err2 != nil || id < 1 || id > maxTasks {
			writeJSON(w, 404, []byte(`{"success":false,"message":"Record not found."}`))
			return
		}
		u.serveRecord(w, r, &u.tasks[id], func(rec *upRecord) []byte { return u.taskJSON(proj, id, rec) })
	case strings.HasPrefix(p, "/api/v1/records/flow/") && strings.HasSuffix(p, "/version"):
		id, err := strconv.Atoi(strings.TrimSuffix(p[len("/api/v1/records/flow/"):], "/version"))
		if err != nil || id < 1 || id > maxRecords {
			writeJSON(w, 404, []byte(`{"success":false,"message":"Record not found."}`))
			return
		}
		rec := &u.recs[id]
		rec.mu.Lock()
		b := make([]byte, 0, 128)
		b = append(b, `{"success":true,"data":{"updated_at":"`...)
		b = rec.version.AppendFormat(b, versionLayout)
		b = append(b, `","updated_by_name":"`...)
		b = append(b, byNames[rec.by]...)
		b = append(b, `"}}`...)
		rec.mu.Unlock()
		writeJSON(w, 200, b)
	default:
		writeJSON(w, 404, []byte(`{"success":false,"message":"Not found."}`))
	}
}

// serveRecord answers a GET or saves a PUT/PATCH of rec (a client_version
// that is not current gets the app's 409); answer is the record's JSON.
func (u *upstream) serveRecord(w http.ResponseWriter, r *http.Request, rec *upRecord, answer func(*upRecord) []byte) {
	switch r.Method {
	case http.MethodGet:
		rec.mu.Lock()
		b := answer(rec)
		rec.mu.Unlock()
		writeJSON(w, 200, b)
	case http.MethodPut, http.MethodPatch:
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var in struct {
			Name          *string `json:"name"`
			ClientVersion *string `json:"client_version"`
		}
		if json.Unmarshal(body, &in) != nil {
			writeJSON(w, 422, []byte(`{"success":false,"message":"Invalid JSON."}`))
			return
		}
		rec.mu.Lock()
		if in.ClientVersion != nil {
			cv, err := time.Parse(time.RFC3339Nano, *in.ClientVersion)
			if err != nil || !cv.Equal(rec.version) {
				b := make([]byte, 0, 200)
				b = append(b, `{"success":false,"message":"This record was changed by someone else.","data":{"updated_at":"`...)
				b = rec.version.AppendFormat(b, versionLayout)
				b = append(b, `","updated_by_id":`...)
				b = strconv.AppendInt(b, int64(rec.by), 10)
				b = append(b, `,"updated_by_name":"`...)
				b = append(b, byNames[rec.by]...)
				b = append(b, `"}}`...)
				rec.mu.Unlock()
				writeJSON(w, 409, b)
				return
			}
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		if !now.After(rec.version) {
			now = rec.version.Add(time.Microsecond)
		}
		rec.version = now
		rec.by = 2
		if in.Name != nil {
			rec.name = *in.Name
		}
		b := answer(rec)
		rec.mu.Unlock()
		writeJSON(w, 200, b)
	default:
		writeJSON(w, 405, []byte(`{"success":false,"message":"Method not allowed."}`))
	}
}

func runUpstream(addr string) error {
	srv := &http.Server{Addr: addr, Handler: newUpstream(), ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}
