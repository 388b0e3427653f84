package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// fakeApp behaves like the Laravel app on the routes recordsync cares about,
// per tenant (the request host): record GET/PUT/PATCH with the Phase A
// client_version check, and /broadcasting/auth signing as Laravel's
// pusher/reverb broadcaster does. It stands in where a test is about the
// proxy's wire and not about PHP; the Laravel tests use the real app.
type fakeApp struct {
	*httptest.Server
	key, secret string

	mu      sync.Mutex
	records map[string]*fakeRecord // host|type|id
	puts    int
}

type fakeRecord struct {
	Name    string
	Version string
}

func startFakeApp(t testing.TB, key, secret string) *fakeApp {
	t.Helper()
	a := &fakeApp{key: key, secret: secret, records: map[string]*fakeRecord{}}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

// Addr is the upstream's host:port for reverse_proxy.
func (a *fakeApp) Addr() string { return a.Listener.Addr().String() }

func fakeVersion() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000000Z") }

func (a *fakeApp) record(host, typ, id string) *fakeRecord {
	k := host + "|" + typ + "|" + id
	r := a.records[k]
	if r == nil {
		r = &fakeRecord{Name: typ + " " + id, Version: "2026-01-01T00:00:00.000000Z"}
		a.records[k] = r
	}
	return r
}

func (a *fakeApp) serve(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/broadcasting/auth" && r.Method == http.MethodPost:
		a.auth(w, r)
	case len(parts) == 4 && parts[0] == "api" && parts[2] == "flows":
		a.serveRecord(w, r, host, "flow", parts[3])
	case len(parts) == 6 && parts[0] == "api" && parts[2] == "projects" && parts[4] == "tasks":
		a.serveRecord(w, r, host, "projecttask", parts[5])
	case len(parts) == 6 && parts[0] == "api" && parts[2] == "records" && parts[5] == "version" && r.Method == http.MethodGet:
		// The version endpoint: the record's answer carries its version.
		a.serveRecord(w, r, host, parts[3], parts[4])
	default:
		http.NotFound(w, r)
	}
}

func (a *fakeApp) serveRecord(w http.ResponseWriter, r *http.Request, host, typ, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := a.record(host, typ, id)
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut, http.MethodPatch:
		var body struct {
			Name          string `json:"name"`
			Title         string `json:"title"`
			ClientVersion string `json:"client_version"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		if body.ClientVersion != "" && body.ClientVersion != rec.Version {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, `{"success":false,"message":"This record was changed by someone else.","data":{"updated_at":%q,"updated_by":7,"updated_by_name":"Alice"}}`, rec.Version)
			return
		}
		rec.Name = body.Name + body.Title
		rec.Version = fakeVersion()
		a.puts++
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"success":true,"data":{"id":%s,"name":%q,"updated_at":%q,"updated_by":7,"updated_by_name":"Alice"}}`, id, rec.Name, rec.Version)
}

// auth signs a private channel subscription as Laravel's pusher broadcaster
// does: {"auth":"key:hex(hmac_sha256(secret, socket_id:channel))"}.
func (a *fakeApp) auth(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	socketID, channel := r.PostForm.Get("socket_id"), r.PostForm.Get("channel_name")
	if socketID == "" || channel == "" {
		http.Error(w, "missing socket_id or channel_name", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"auth": pusher.ChannelAuth(a.key, a.secret, socketID, channel, "")})
}
