package realtime

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// The signature vector of the Pusher docs (REST API, "Authentication"),
// checked against pusher's signer in pusher/httpapi_test.go and served
// here.
const (
	vecKey    = "278d425bdf160c739803"
	vecSecret = "7ad3773142a6692b25b8"
	vecBody   = `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`
	vecTS     = 1353088179
	vecMD5    = "ec365a775a4cd0599faeb73354201b6f"
	vecSig    = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
)

func TestHTTPAPISignatureVector(t *testing.T) {
	q := fmt.Sprintf("auth_key=%s&auth_timestamp=%d&auth_version=1.0&body_md5=%s", vecKey, vecTS, vecMD5)
	// The vector's request served by a hub with its credentials, the hub's
	// clock at the vector's time.
	h := newTestHub(t, func(o *Options) { o.AppID, o.AppKey, o.AppSecret = "3", vecKey, vecSecret })
	h.clock = func() time.Time { return time.Unix(vecTS+30, 0) }
	sub := fakeConn(t, h, "t1", "1.1")
	h.addSub(sub, chanKey{"t1", "project-3"})
	req := httptest.NewRequest("POST", "/apps/3/events?"+q+"&auth_signature="+vecSig, strings.NewReader(vecBody))
	rec := httptest.NewRecorder()
	h.ServeHTTPAPI(rec, req, "t1")
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "{}" {
		t.Fatalf("vector request: %d %s", rec.Code, rec.Body)
	}
	if len(sub.frames) != 1 || string(framePayload(sub.frames[0])) != `{"event":"foo","channel":"project-3","data":"{\"some\":\"data\"}"}` {
		t.Fatalf("frames %q", sub.frames)
	}
	// Too late: the same request 601 s after its timestamp.
	h.clock = func() time.Time { return time.Unix(vecTS+601, 0) }
	rec = httptest.NewRecorder()
	h.ServeHTTPAPI(rec, httptest.NewRequest("POST", "/apps/3/events?"+q+"&auth_signature="+vecSig, strings.NewReader(vecBody)), "t1")
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), "auth_timestamp") {
		t.Fatalf("stale: %d %s", rec.Code, rec.Body)
	}
}

const testAppID = "42"

// apiHub is a hub with the HTTP API on (app id 42, ws_path /ws).
func apiHub(tb testing.TB) *Hub {
	tb.Helper()
	obs := &countingObserver{}
	return newTestHub(tb, func(o *Options) { o.AppID = testAppID; o.Observer = obs })
}

// signedURL signs method signPath?params with body as the npm SDK does
// (pusher.SignAPIRequest) and returns urlPath with that query.
func signedURL(key, secret, method, signPath, urlPath string, params map[string]string, body string, ts int64) string {
	return urlPath + "?" + pusher.SignAPIRequest(method, signPath, params, []byte(body), key, secret, time.Unix(ts, 0))
}

type apiCall struct {
	method, path string
	params       map[string]string
	body         string
	// signPath defaults to path; key/secret/ts default to the hub's and now.
	signPath, key, secret string
	ts                    int64
	rawURL                string // overrides everything
}

func (c apiCall) do(tb testing.TB, h *Hub, tenant string) (int, string) {
	tb.Helper()
	if c.signPath == "" {
		c.signPath = c.path
	}
	if c.key == "" {
		c.key = testKey
	}
	if c.secret == "" {
		c.secret = testSecret
	}
	if c.ts == 0 {
		c.ts = time.Now().Unix()
	}
	u := c.rawURL
	if u == "" {
		u = signedURL(c.key, c.secret, c.method, c.signPath, c.path, c.params, c.body, c.ts)
	}
	var req *http.Request
	if c.body != "" {
		req = httptest.NewRequest(c.method, u, strings.NewReader(c.body))
	} else {
		req = httptest.NewRequest(c.method, u, nil)
	}
	if !h.IsHTTPAPIPath(req.URL.Path) {
		tb.Fatalf("%s is not an HTTP API path", req.URL.Path)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTPAPI(rec, req, tenant)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("Content-Type %q", ct)
	}
	if !json.Valid(rec.Body.Bytes()) {
		tb.Fatalf("body is not JSON: %q", rec.Body)
	}
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

func TestIsHTTPAPIPath(t *testing.T) {
	h := apiHub(t)
	for p, want := range map[string]bool{
		"/apps/42/events":              true,
		"/apps/42/channels/x/users":    true,
		"/ws/apps/42/batch_events":     true,
		"/apps/43/events":              false, // another app id is the app's
		"/apps/4/events":               false,
		"/apps/42":                     false,
		"/apps/420/events":             false,
		"/other/apps/42/events":        false,
		"/ws/app/app-key":              false,
		"/api/v1/apps/42/events":       false,
		"/ws/apps/42/events/../../etc": true, // answered 404 by ServeHTTPAPI
	} {
		if got := h.IsHTTPAPIPath(p); got != want {
			t.Errorf("IsHTTPAPIPath(%q) = %v, want %v", p, got, want)
		}
	}
	noID := newTestHub(t, nil)
	if noID.IsHTTPAPIPath("/apps//events") || noID.IsHTTPAPIPath("/apps/42/events") {
		t.Error("a hub without app id claims HTTP API paths")
	}
}

func TestHTTPAPIAuthFailures(t *testing.T) {
	h := apiHub(t)
	body := `{"name":"e","channel":"c","data":"{}"}`
	good := apiCall{method: "POST", path: "/apps/42/events", body: body}
	if code, resp := good.do(t, h, ""); code != 200 || resp != "{}" {
		t.Fatalf("good request: %d %s", code, resp)
	}
	signed := signedURL(testKey, testSecret, "POST", "/apps/42/events", "/apps/42/events", nil, body, time.Now().Unix())
	for _, tc := range []struct {
		name string
		call apiCall
		want string
	}{
		{"wrong key", apiCall{method: "POST", path: "/apps/42/events", body: body, key: "other"}, "auth_key"},
		{"wrong secret", apiCall{method: "POST", path: "/apps/42/events", body: body, secret: "other"}, "auth_signature"},
		{"stale timestamp", apiCall{method: "POST", path: "/apps/42/events", body: body, ts: time.Now().Add(-11 * time.Minute).Unix()}, "auth_timestamp"},
		{"future timestamp", apiCall{method: "POST", path: "/apps/42/events", body: body, ts: time.Now().Add(11 * time.Minute).Unix()}, "auth_timestamp"},
		{"md5 mismatch", apiCall{method: "POST", path: "/apps/42/events", rawURL: signed, body: `{"name":"e","channel":"c","data":"{ }"}`}, "body_md5"},
		{"signed for another method", apiCall{method: "GET", path: "/apps/42/channels", signPath: "/apps/42/channelz"}, "auth_signature"},
		{"no signature", apiCall{method: "GET", path: "/apps/42/channels", rawURL: "/apps/42/channels?auth_key=" + testKey}, "auth_signature"},
		{"tampered query", apiCall{method: "POST", path: "/apps/42/events", rawURL: signed + "&extra=1", body: body}, "auth_signature"},
		{"duplicate parameter", apiCall{method: "POST", path: "/apps/42/events", rawURL: signed + "&auth_key=x", body: body}, "twice"},
		{"no version", apiCall{method: "POST", path: "/apps/42/events", rawURL: strings.Replace(signed, "auth_version=1.0&", "", 1), body: body}, "auth_version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := tc.call.do(t, h, "")
			if code != 401 || !strings.Contains(resp, tc.want) {
				t.Fatalf("%d %s, want 401 mentioning %q", code, resp, tc.want)
			}
		})
	}
	// Signed with or without the ws_path prefix, both accepted there.
	for _, sp := range []string{"/ws/apps/42/events", "/apps/42/events"} {
		c := apiCall{method: "POST", path: "/ws/apps/42/events", signPath: sp, body: body}
		if code, resp := c.do(t, h, ""); code != 200 {
			t.Fatalf("signed as %s: %d %s", sp, code, resp)
		}
	}
	// Without the prefix in the URL, a signature with it is wrong.
	c := apiCall{method: "POST", path: "/apps/42/events", signPath: "/ws/apps/42/events", body: body}
	if code, _ := c.do(t, h, ""); code != 401 {
		t.Fatalf("signed with a prefix the URL lacks: %d", code)
	}
}

func TestHTTPAPIEvents(t *testing.T) {
	h := apiHub(t)
	a := fakeConn(t, h, "t1", "1.1")
	b := fakeConn(t, h, "t1", "2.2")
	other := fakeConn(t, h, "t2", "3.3")
	for _, c := range []*conn{a, b} {
		h.addSub(c, chanKey{"t1", "private-x"})
		h.addSub(c, chanKey{"t1", "news"})
	}
	h.addSub(other, chanKey{"t2", "private-x"})
	post := func(path, body string) (int, string) {
		return apiCall{method: "POST", path: path, body: body}.do(t, h, "t1")
	}

	// socket_id excludes that socket; the tenant is the request's.
	code, resp := post("/apps/42/events", `{"name":"hello","channels":["private-x","news"],"data":"{\"n\":1}","socket_id":"1.1"}`)
	if code != 200 || resp != "{}" {
		t.Fatalf("events: %d %s", code, resp)
	}
	if len(a.frames) != 0 || len(b.frames) != 2 || len(other.frames) != 0 {
		t.Fatalf("frames: a %d, b %d, other tenant %d; want 0, 2, 0", len(a.frames), len(b.frames), len(other.frames))
	}
	if got := string(framePayload(b.frames[0])); got != `{"event":"hello","channel":"news","data":"{\"n\":1}"}` && got != `{"event":"hello","channel":"private-x","data":"{\"n\":1}"}` {
		t.Fatalf("frame %s", got)
	}
	// A data object is the payload itself; a string that is not JSON stays a string.
	post("/apps/42/events", `{"name":"obj","channel":"news","data":{"k":"v"}}`)
	post("/apps/42/events", `{"name":"txt","channel":"news","data":"plain"}`)
	if got := string(a.take(nil)[1]); got != `{"event":"txt","channel":"news","data":"plain"}` {
		t.Fatalf("text data frame %s", got)
	}

	// Batch.
	b.take(nil)
	code, resp = post("/apps/42/batch_events", `{"batch":[{"name":"one","channel":"news","data":"1"},{"name":"two","channel":"private-x","data":"2","socket_id":"2.2"}]}`)
	if code != 200 || resp != "{}" {
		t.Fatalf("batch: %d %s", code, resp)
	}
	if n := len(a.take(nil)); n != 2 {
		t.Fatalf("a got %d batch frames, want 2", n)
	}
	if f := b.take(nil); len(f) != 1 || !strings.Contains(string(f[0]), `"one"`) {
		t.Fatalf("b got %q, want only the first batch event", f)
	}

	// Info on POST events.
	code, resp = post("/apps/42/events", `{"name":"i","channel":"news","data":"{}","info":"subscription_count"}`)
	if code != 200 || resp != `{"channels":{"news":{"subscription_count":2}}}` {
		t.Fatalf("events with info: %d %s", code, resp)
	}
}

func TestHTTPAPIRefusals(t *testing.T) {
	h := apiHub(t)
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("%q", fmt.Sprint("c", i))
	}
	big := strings.Repeat("x", MaxEventDataBytes+1)
	for _, tc := range []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"too many channels", "/apps/42/events", `{"name":"e","data":"{}","channels":[` + strings.Join(many, ",") + `]}`, 400, "limit is 100"},
		{"bad channel name", "/apps/42/events", `{"name":"e","data":"{}","channel":"bad name"}`, 400, "invalid channel name"},
		{"long channel name", "/apps/42/events", `{"name":"e","data":"{}","channel":"` + strings.Repeat("a", 201) + `"}`, 400, "invalid channel name"},
		{"no channel", "/apps/42/events", `{"name":"e","data":"{}"}`, 400, "channel"},
		{"no name", "/apps/42/events", `{"data":"{}","channel":"c"}`, 400, "name"},
		{"malformed", "/apps/42/events", `{"name":"e",`, 400, "malformed"},
		{"not an object", "/apps/42/events", `[1]`, 400, "JSON object"},
		{"wrong types", "/apps/42/events", `{"name":5,"channel":"c"}`, 400, "malformed"},
		{"bad socket id", "/apps/42/events", `{"name":"e","data":"{}","channel":"c","socket_id":"abc"}`, 400, "socket_id"},
		{"data too big", "/apps/42/events", `{"name":"e","channel":"c","data":"` + big + `"}`, 413, "limit is 10240"},
		{"body too big", "/apps/42/events", `{"name":"e","channel":"c","data":"` + strings.Repeat("y", MaxHTTPAPIBodyBytes) + `"}`, 413, "body over"},
		{"batch data too big", "/apps/42/batch_events", `{"batch":[{"name":"e","channel":"c","data":"1"},{"name":"e","channel":"c","data":"` + big + `"}]}`, 413, "batch[1]"},
		{"empty batch", "/apps/42/batch_events", `{"batch":[]}`, 400, "non-empty"},
		{"unknown path", "/apps/42/frobnicate", `{}`, 404, "unknown"},
		{"wrong method", "/apps/42/channels", `{}`, 405, "not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := apiCall{method: "POST", path: tc.path, body: tc.body}.do(t, h, "")
			if code != tc.status || !strings.Contains(resp, tc.want) {
				t.Fatalf("%d %s, want %d mentioning %q", code, resp, tc.status, tc.want)
			}
		})
	}
}

func TestHTTPAPIChannels(t *testing.T) {
	h := apiHub(t)
	for i, ch := range []string{"private-a", "private-a", "presence-room", "news"} {
		h.addSub(fakeConn(t, h, "t1", fmt.Sprint(i, ".1")), chanKey{"t1", ch})
	}
	h.addSub(fakeConn(t, h, "t2", "9.9"), chanKey{"t2", "private-secret"})
	get := func(path string, params map[string]string) (int, string) {
		return apiCall{method: "GET", path: path, params: params}.do(t, h, "t1")
	}
	for _, tc := range []struct {
		name, path string
		params     map[string]string
		status     int
		want       string
	}{
		{"all", "/apps/42/channels", nil, 200, `{"channels":{"news":{},"presence-room":{},"private-a":{}}}`},
		{"prefix", "/apps/42/channels", map[string]string{"filter_by_prefix": "private-"}, 200, `{"channels":{"private-a":{}}}`},
		{"presence user_count", "/apps/42/channels", map[string]string{"filter_by_prefix": "presence-", "info": "user_count"}, 200, `{"channels":{"presence-room":{"user_count":0}}}`},
		{"user_count without presence", "/apps/42/channels", map[string]string{"info": "user_count"}, 400, "presence"},
		{"one channel", "/apps/42/channels/private-a", map[string]string{"info": "subscription_count"}, 200, `{"occupied":true,"subscription_count":2}`},
		{"one channel plain", "/apps/42/channels/private-a", nil, 200, `{"occupied":true}`},
		{"empty channel", "/apps/42/channels/private-none", map[string]string{"info": "subscription_count"}, 200, `{"occupied":false,"subscription_count":0}`},
		{"other tenant's channel", "/apps/42/channels/private-secret", nil, 200, `{"occupied":false}`},
		{"presence info", "/apps/42/channels/presence-room", map[string]string{"info": "user_count,subscription_count"}, 200, `{"occupied":true,"user_count":0,"subscription_count":1}`},
		{"user_count of private", "/apps/42/channels/private-a", map[string]string{"info": "user_count"}, 400, "presence"},
		{"unknown info", "/apps/42/channels/private-a", map[string]string{"info": "bogus"}, 400, "bogus"},
		{"bad name", "/apps/42/channels/bad!name", nil, 400, "invalid channel name"},
		{"users of presence", "/apps/42/channels/presence-room/users", nil, 200, `{"users":[]}`},
		{"users of private", "/apps/42/channels/private-a/users", nil, 400, "presence"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := get(tc.path, tc.params)
			if code != tc.status || (tc.status == 200 && resp != tc.want) || !strings.Contains(resp, tc.want) {
				t.Fatalf("%d %s, want %d %s", code, resp, tc.status, tc.want)
			}
		})
	}
}

// FuzzHTTPAPIBody: the events and batch_events parsers never panic, what
// they accept respects the limits, and publishing it is safe.
func FuzzHTTPAPIBody(f *testing.F) {
	for _, s := range []string{
		vecBody,
		`{"name":"e","channel":"c","data":{"record_type":"flow","record_id":1,"updated_at_iso":"2026-01-01T00:00:00Z"},"socket_id":"1.2"}`,
		`{"batch":[{"name":"a","channel":"c","data":"1"},{"name":"b","channels":["x","y"],"data":"2"}]}`,
		`{"name":"e","channel":"c","channels":["d"]}`, `{"batch":{}}`, `{"name":"e","data":5}`, `[]`, `{`, "\xff",
	} {
		f.Add([]byte(s))
	}
	h, err := NewHub(Options{AppKey: testKey, AppSecret: testSecret, AppID: testAppID})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(h.Close)
	check := func(t *testing.T, ev apiEvent) {
		if ev.Name == "" || len(ev.Data) > MaxEventDataBytes || len(ev.Channels) == 0 || len(ev.Channels) > MaxEventChannels {
			t.Fatalf("accepted %+v", ev)
		}
		for _, c := range ev.Channels {
			if !pusher.ValidChannelName(c) {
				t.Fatalf("accepted channel %q", c)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if ev, err := parseEventsBody(body); err == nil {
			check(t, ev)
			h.publishAPIEvents("t", []apiEvent{ev})
		}
		if evs, err := parseBatchBody(body); err == nil {
			for _, ev := range evs {
				check(t, ev)
			}
			h.publishAPIEvents("t", evs)
		}
	})
}

// TestHTTPAPIBoundToTenant: a signed request names no tenant (the signature
// covers method, path and query; the tenant is the host), so the hub binds
// each signature to the tenant it was first accepted on: the same request
// replayed to another tenant within its 600 s window is refused with 401
// and counted, however its hex is written and on either path; on its own
// tenant it passes again, as on Pusher's servers. Queries are bound too.
func TestHTTPAPIBoundToTenant(t *testing.T) {
	h := apiHub(t)
	obs := h.cfg.Load().Observer.(*countingObserver)
	now := time.Now()
	h.clock = func() time.Time { return now }
	subs := map[string]*conn{"t1": fakeConn(t, h, "t1", "1.1"), "t2": fakeConn(t, h, "t2", "2.2")}
	for tenant, c := range subs {
		h.addSub(c, chanKey{tenant, "news"})
	}
	body := `{"name":"headline","channel":"news","data":"{\"n\":1}"}`
	signed := signedURL(testKey, testSecret, "POST", "/apps/42/events", "/apps/42/events", nil, body, now.Unix())
	post := func(url, tenant string) (int, string) {
		return apiCall{method: "POST", path: "/apps/42/events", rawURL: url, body: body}.do(t, h, tenant)
	}
	frames := func(tenant string) int { return len(subs[tenant].take(nil)) }

	if code, resp := post(signed, "t1"); code != 200 || frames("t1") != 1 {
		t.Fatalf("first use on t1: %d %s", code, resp)
	}
	sig := signed[strings.Index(signed, "auth_signature=")+len("auth_signature="):]
	for name, url := range map[string]string{
		"as signed":        signed,
		"upper-case hex":   strings.Replace(signed, sig, strings.ToUpper(sig), 1),
		"under ws_path":    "/ws" + signed,
		"ws_path and case": "/ws" + strings.Replace(signed, sig, strings.ToUpper(sig), 1),
	} {
		code, resp := post(url, "t2")
		if code != 401 || !strings.Contains(resp, "another tenant") {
			t.Fatalf("replayed to t2 (%s): %d %s", name, code, resp)
		}
		if n := frames("t2"); n != 0 {
			t.Fatalf("replayed to t2 (%s): %d frames reached t2", name, n)
		}
	}
	if got := obs.refusedCount(RefusedAPITenant); got != 4 {
		t.Fatalf("refused %d times as %s, want 4", got, RefusedAPITenant)
	}
	// The same request again on its own tenant passes (Pusher does not
	// refuse duplicates; the PHP SDK signs in whole seconds).
	if code, resp := post(signed, "t1"); code != 200 || frames("t1") != 1 {
		t.Fatalf("repeated on t1: %d %s", code, resp)
	}
	// A request signed anew is t2's.
	now = now.Add(time.Second)
	again := signedURL(testKey, testSecret, "POST", "/apps/42/events", "/apps/42/events", nil, body, now.Unix())
	if code, resp := post(again, "t2"); code != 200 || frames("t2") != 1 {
		t.Fatalf("a new signature on t2: %d %s", code, resp)
	}
	// Queries: t1's channel list replayed to t2 would list t2's channels.
	list := signedURL(testKey, testSecret, "GET", "/apps/42/channels", "/apps/42/channels", nil, "", now.Unix())
	if code, resp := (apiCall{method: "GET", path: "/apps/42/channels", rawURL: list}).do(t, h, "t1"); code != 200 {
		t.Fatalf("list on t1: %d %s", code, resp)
	}
	if code, resp := (apiCall{method: "GET", path: "/apps/42/channels", rawURL: list}).do(t, h, "t2"); code != 401 || strings.Contains(resp, "news") {
		t.Fatalf("list replayed to t2: %d %s", code, resp)
	}
	// Past its window the signature is refused by its timestamp
	// everywhere, counted as a signature refusal.
	now = now.Add(HTTPAPITimestampWindow + time.Second)
	before := obs.refusedCount(RefusedAPISignature)
	if code, resp := post(signed, "t1"); code != 401 || !strings.Contains(resp, "auth_timestamp") {
		t.Fatalf("after the window: %d %s", code, resp)
	}
	if got := obs.refusedCount(RefusedAPISignature) - before; got != 1 {
		t.Fatalf("refused %d times as %s, want 1", got, RefusedAPISignature)
	}
}

// TestAPISignaturesBounded: the memory of signatures forgets what left its
// window, and holds at most maxAPISignatures: past it the oldest goes first
// (reported once, for a warning).
func TestAPISignaturesBounded(t *testing.T) {
	var s apiSignatures
	sig := func(i int) (b [32]byte) {
		b[0], b[1], b[2] = byte(i), byte(i>>8), byte(i>>16)
		return b
	}
	const now = 1_000_000
	for i := range 1000 {
		if ok, _ := s.bind(sig(i), "t1", now, now+600); !ok {
			t.Fatalf("first use %d refused", i)
		}
	}
	if ok, _ := s.bind(sig(7), "t2", now+600, now+1200); ok {
		t.Fatal("bound signature accepted on another tenant in its window's last second")
	}
	// 601 s on, all of them have left their window: the next bind forgets them.
	if ok, forgot := s.bind(sig(5000), "t1", now+601, now+1201); !ok || forgot {
		t.Fatalf("bind after the window: %v, forgot %v", ok, forgot)
	}
	if len(s.seen) != 1 {
		t.Fatalf("%d signatures remembered, want 1", len(s.seen))
	}
	// Full: the oldest is forgotten, once reported.
	forgotten := 0
	for i := range maxAPISignatures + 10 {
		_, forgot := s.bind(sig(10_000+i), "t1", now+601, now+1201)
		if forgot {
			forgotten++
		}
	}
	if len(s.seen) != maxAPISignatures || forgotten != 1 {
		t.Fatalf("%d remembered (max %d), reported %d times", len(s.seen), maxAPISignatures, forgotten)
	}
	if ok, _ := s.bind(sig(10_000+maxAPISignatures+9), "t2", now+601, now+1201); ok {
		t.Fatal("the newest signature was forgotten")
	}
	if len(s.queue)-s.head != len(s.seen) {
		t.Fatalf("queue of %d for %d signatures", len(s.queue)-s.head, len(s.seen))
	}
}
