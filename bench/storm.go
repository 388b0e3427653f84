package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/internal/harness"
)

// ---- section 9: the reconnect storm ----
//
// A two-instance cluster (section 6's setup: two Caddies with recordsync
// and `cluster` on one Redis) in front of the example Laravel app on
// php-fpm (4 workers). The storm generator (bench -role=storm, its own
// process) holds sockets of distinct logged-in users, as browser tabs do:
// socket i belongs to user i mod U and is its tab i div U; each tab shows a
// flow and subscribes, as pusher-js does, to private-record.flow.{f} and
// presence-record.flow.{f}: for each, a POST of socket_id and channel_name
// to /broadcasting/auth through Caddy with the user's session cookie and
// CSRF token (pusher-js's ajax transport with Echo's headers), then
// pusher:subscribe with the auth (and channel_data) it got back. The app
// runs Laravel's redis broadcaster (it answers `true` or channel_data;
// recordsync signs it).
//
// All sockets start on instance A. Every flow is saved once through A, so
// each socket knows its flow's version from a record.updated. After
// StormAfter, A is killed (SIGKILL): every socket reconnects to B after a
// random 0–1 s (pusher-js reconnects at once; the spread stands for the
// clients' differing detection times), authorises both channels again for
// its new socket id and subscribes the record channel with
// "since":<the last version it got>. Meanwhile every flow is saved once
// more, through B (the outage's saves). Measured: the time until all
// sockets are back, how many of the /broadcasting/auth requests reached
// PHP (counted at php-fpm by a FastCGI forwarder between Caddy and
// php-fpm, fcgiCounter) against the resubscriptions, and whether each
// socket ends with its flow's newest version (nothing missed).

// stormResult is the whole section.
type stormResult struct {
	Sockets, Users, Flows int
	AfterSecs             float64
	Site                  string
	Errors                []string

	// Subscribing at the start (all on A).
	Connected, Failed     int
	FirstError            string `json:",omitempty"`
	InitialSecs           float64
	InitialSubscriptions  int
	InitialAuthRequests   int // sent by the clients
	InitialAuthPHP        int // reached php-fpm
	InitialAuthErrors     int
	LoginSecs             float64
	PreSaves, OutageSaves int
	OutageSavesBeforeBack int // outage saves answered before all sockets were back
	OutageSaveErrors      int
	OutageSaveFirstErr    string `json:",omitempty"`
	PreSaveErrors         int
	Back                  int     // sockets back on B
	AllBack               bool    // every socket that was connected is back
	AllBackSecs           float64 // from the kill until the last one was back
	BackP50, BackP99      float64 // seconds after the kill
	Resubscriptions       int     // subscriptions that succeeded after the kill
	AuthRequests          int     // auth requests the clients sent after the kill
	AuthErrors            int     // of which non-2xx or failed
	AuthPHP               int     // /broadcasting/auth requests that reached php-fpm from the kill until all were back
	OtherPHP              int     // other requests that reached php-fpm then (the saves)
	PHPAuthPerSec         float64 // AuthPHP / AllBackSecs
	PHPCPU, CaddyBCPU     float64 // CPU-seconds from the kill until all were back
	Signed                float64 // B's recordsync_auth_signatures_total{result="signed"} over the storm
	// AuthResults is B's recordsync_auth_signatures_total by label set over
	// the storm (every result the product counts).
	AuthResults map[string]float64 `json:",omitempty"`
	// GrantsA is A's recordsync_grants_total by label set over the
	// subscribing at the start (the grants stored: not_stored counts those
	// Redis did not take); GrantsB is B's over the storm (unavailable
	// counts the lookups Redis did not answer in time).
	GrantsA               map[string]float64 `json:",omitempty"`
	GrantsB               map[string]float64 `json:",omitempty"`
	SinceSent             int                // record subscriptions that carried since
	CaughtUp              int                // record.updated received as the catch-up of a since
	Missed                int                // sockets back whose flow's newest version never reached them
	NotBack               int
	DialErrors, SubErrors int
	ClosedBeforeKill      int
	FirstStormError       string `json:",omitempty"`
	PHPFPMWorkers         int
	// GrantAgeMin and GrantAgeMax: how long before the kill the app gave
	// the grants of the start (the end and the beginning of subscribing).
	GrantAgeMin, GrantAgeMax float64
	// Answers are the storm's auth answers by channel kind and
	// X-Recordsync-Grant ("app" when absent); PHPByKind the auth requests
	// that reached PHP during the storm by channel kind.
	Answers   map[string]int `json:",omitempty"`
	PHPByKind map[string]int `json:",omitempty"`
	// PHPCallers: how many users\' browsers sent them (distinct Cookie headers).
	PHPCallers             int `json:",omitempty"`
	InitialAuthPHPPerSec   float64
	InitialPHPAuthDuration float64
}

// Ratio is the share of resubscriptions whose auth request reached PHP.
func (s *stormResult) Ratio() float64 {
	if s.Resubscriptions == 0 {
		return 0
	}
	return float64(s.AuthPHP) / float64(s.Resubscriptions)
}

// ---- the storm generator (bench -role=storm) ----

type stormSock struct {
	i, flow  int
	user     int
	mu       sync.Mutex
	version  string // the newest version of its flow it received
	backAt   int64  // unix nanos it was back after the kill (0: not yet)
	caughtUp bool
}

func (s *stormSock) seen(v string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v > s.version {
		s.version = v
		return true
	}
	return false
}

func (s *stormSock) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// stormSpec is the storm generator's setup (flags).
type stormSpec struct {
	WSA, WSB, HTTPA, HTTPB string
	N, Flows               int
	Cookies                string // file: one "cookie-header<TAB>csrf" line per user
}

func (s stormSpec) args() []string {
	return []string{"-role=storm", "-url", s.WSA + "," + s.WSB, "-addr", s.HTTPA + "," + s.HTTPB,
		"-n", strconv.Itoa(s.N), "-flows", strconv.Itoa(s.Flows), "-cookies", s.Cookies}
}

// stormSpecFrom is the stormSpec of the child's flags (args).
func stormSpecFrom(urls, addrs string, n, flows int, cookies string) stormSpec {
	s := stormSpec{N: n, Flows: flows, Cookies: cookies}
	s.WSA, s.WSB, _ = strings.Cut(urls, ",")
	s.HTTPA, s.HTTPB, _ = strings.Cut(addrs, ",")
	return s
}

// stormFlow is the flow tab t of user u shows: five tabs of one user show
// five different flows.
func stormFlow(u, t, flows int) int { return 1 + (u+t*37)%flows }

// runStormGen is bench -role=storm. It subscribes every socket through A,
// prints READY, then waits for "KILL <unix nanos>" (A is about to die):
// every socket that closes from then on reconnects to B. It prints
// "ALLBACK <seconds>" when all are back (or "NOTBACK" after 10 minutes),
// then reads "LATEST <flow> <version>" lines and "END", waits 3 s for late
// deliveries and prints "RESULT <json>".
func runStormGen(spec stormSpec) error {
	data, err := os.ReadFile(spec.Cookies)
	if err != nil {
		return err
	}
	type user struct{ cookie, csrf string }
	var users []user
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, "\t", 2)
		if len(f) == 2 {
			users = append(users, user{f[0], f[1]})
		}
	}
	if len(users) == 0 {
		return fmt.Errorf("no users in %s", spec.Cookies)
	}
	client := &http.Client{Timeout: 180 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second}}
	authSem := make(chan struct{}, 512)

	var (
		killAt                                                   atomic.Int64
		authSent, authErr, resubs, sinceSent, caughtUp, initSubs atomic.Int64
		initAuthSent, initAuthErr, dialErr, subErr, closedEarly  atomic.Int64
		back                                                     atomic.Int64
		firstErr                                                 atomic.Value
	)
	allBack := make(chan struct{})
	// answers after the kill, by channel kind and X-Recordsync-Grant
	// ("app" when absent): "private remembered", "presence app", …
	answers := map[string]int{}
	var answersMu sync.Mutex
	var connected int64

	// auth asks the app through base for the socket's channel, as pusher-js
	// does: a form POST with the user's cookies and Echo's CSRF header.
	auth := func(base string, u user, socketID, channel string) (string, string, error) {
		authSem <- struct{}{}
		defer func() { <-authSem }()
		if killAt.Load() != 0 {
			authSent.Add(1)
		} else {
			initAuthSent.Add(1)
		}
		form := url.Values{"socket_id": {socketID}, "channel_name": {channel}}
		req, _ := http.NewRequest("POST", base+"/broadcasting/auth", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-CSRF-TOKEN", u.csrf)
		req.Header.Set("X-Requested-With", "XMLHttpRequest")
		req.Header.Set("Cookie", u.cookie)
		resp, err := client.Do(req)
		if err == nil && killAt.Load() != 0 {
			kind := strings.SplitN(channel, "-", 2)[0]
			how := resp.Header.Get("X-Recordsync-Grant")
			if how == "" {
				how = "app"
			}
			answersMu.Lock()
			answers[kind+" "+how]++
			answersMu.Unlock()
		}
		fail := func(err error) (string, string, error) {
			if killAt.Load() != 0 {
				authErr.Add(1)
			} else {
				initAuthErr.Add(1)
			}
			return "", "", err
		}
		if err != nil {
			return fail(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var a struct {
			Auth        string `json:"auth"`
			ChannelData string `json:"channel_data"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &a) != nil || a.Auth == "" {
			return fail(fmt.Errorf("auth %s: %d %s", channel, resp.StatusCode, truncate(string(b), 200)))
		}
		return a.Auth, a.ChannelData, nil
	}

	// handle is every frame's handling: versions of the socket's flow,
	// pings. It returns the frame's event and channel.
	handle := func(s *stormSock, ws *websocket.Conn, b []byte, catchUp bool) (event, channel string) {
		var f struct {
			Event   string `json:"event"`
			Channel string `json:"channel"`
		}
		json.Unmarshal(b, &f)
		switch f.Event {
		case "pusher:ping":
			ws.Write(context.Background(), websocket.MessageText, []byte(`{"event":"pusher:pong","data":{}}`))
		case "record.updated":
			if v, ok := recordKey(b, false, false); ok && s.seen(v) && catchUp {
				s.mu.Lock()
				if !s.caughtUp {
					s.caughtUp = true
					caughtUp.Add(1)
				}
				s.mu.Unlock()
			}
		}
		return f.Event, f.Channel
	}

	socks := make([]*stormSock, spec.N)
	var reconnect func(s *stormSock)

	// connect opens s's socket on wsURL and subscribes both channels,
	// authorised through httpBase (both at once, as pusher-js does); the
	// record channel with since when withSince and s has a version. One
	// reader per connection answers pings and records versions all along
	// (also while the auth requests wait for PHP); once the socket is up, a
	// close makes it reconnect to B.
	connect := func(s *stormSock, wsURL, httpBase string, withSince bool) error {
		ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, wsURL, nil)
		if err != nil {
			dialErr.Add(1)
			return err
		}
		ws.SetReadLimit(1 << 20)
		socketID, err := pusherEstablished(ctx, ws)
		if err != nil {
			ws.CloseNow()
			dialErr.Add(1)
			return err
		}
		type reply struct {
			event, channel string
			raw            []byte
		}
		replies := make(chan reply, 8)
		done := make(chan struct{})
		var live, subscribing atomic.Bool
		subscribing.Store(true)
		go func() {
			defer close(done)
			for {
				_, b, err := ws.Read(context.Background())
				if err != nil {
					if live.Load() {
						if killAt.Load() == 0 {
							closedEarly.Add(1)
						}
						go reconnect(s)
					}
					return
				}
				ev, ch := handle(s, ws, b, withSince && subscribing.Load())
				switch ev {
				case "pusher_internal:subscription_succeeded", "pusher:subscription_error", "pusher:error":
					select {
					case replies <- reply{ev, ch, b}:
					default:
					}
				}
			}
		}()
		fail := func(err error) error {
			ws.CloseNow()
			return err
		}
		u := users[s.user]
		channels := []string{fmt.Sprintf("private-record.flow.%d", s.flow), fmt.Sprintf("presence-record.flow.%d", s.flow)}
		type grant struct {
			auth, data string
			err        error
		}
		grants := make([]grant, len(channels))
		var gw sync.WaitGroup
		for j, ch := range channels {
			gw.Add(1)
			go func() {
				defer gw.Done()
				a, cd, err := auth(httpBase, u, socketID, ch)
				grants[j] = grant{a, cd, err}
			}()
		}
		gw.Wait()
		for j, ch := range channels {
			if grants[j].err != nil {
				return fail(grants[j].err)
			}
			sub := map[string]any{"channel": ch, "auth": grants[j].auth}
			if grants[j].data != "" {
				sub["channel_data"] = grants[j].data
			}
			if withSince && strings.HasPrefix(ch, "private-") {
				if since := s.last(); since != "" {
					sub["since"] = since
					sinceSent.Add(1)
				}
			}
			msg, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": sub})
			if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
				return fail(err)
			}
		wait:
			for {
				select {
				case r := <-replies:
					if r.event == "pusher_internal:subscription_succeeded" && r.channel == ch {
						if withSince {
							resubs.Add(1)
						} else {
							initSubs.Add(1)
						}
						break wait
					}
					if r.event != "pusher_internal:subscription_succeeded" {
						subErr.Add(1)
						return fail(fmt.Errorf("subscribe %s: %s", ch, truncate(string(r.raw), 200)))
					}
				case <-done:
					return fail(fmt.Errorf("subscribe %s: socket closed", ch))
				case <-ctx.Done():
					return fail(fmt.Errorf("subscribe %s: %v", ch, ctx.Err()))
				}
			}
		}
		subscribing.Store(false)
		live.Store(true)
		select {
		case <-done: // closed just now, before it was live
			go reconnect(s)
		default:
		}
		return nil
	}

	reconnect = func(s *stormSock) {
		for killAt.Load() == 0 { // closed before the kill: wait for it
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
		deadline := time.Unix(0, killAt.Load()).Add(10 * time.Minute)
		for time.Now().Before(deadline) {
			if err := connect(s, spec.WSB, spec.HTTPB, true); err != nil {
				firstErr.CompareAndSwap(nil, err.Error())
				time.Sleep(time.Second)
				continue
			}
			s.mu.Lock()
			first := s.backAt == 0
			if first {
				s.backAt = time.Now().UnixNano()
			}
			s.mu.Unlock()
			if first && back.Add(1) == connected {
				close(allBack)
			}
			return
		}
	}

	start := time.Now()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	for i := 0; i < spec.N; i++ {
		u, t := i%len(users), i/len(users)
		s := &stormSock{i: i, user: u, flow: stormFlow(u, t, spec.Flows)}
		socks[i] = s
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := connect(s, spec.WSA, spec.HTTPA, false)
			<-sem
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				socks[s.i] = nil
				return
			}
			ok.Add(1)
		}()
	}
	wg.Wait()
	connected = ok.Load()
	fe, _ := firstErr.Load().(string)
	firstErr = atomic.Value{}
	initial := map[string]any{"connected": connected, "failed": failed.Load(), "first_error": fe, "secs": time.Since(start).Seconds(),
		"subs": initSubs.Load(), "auth_sent": initAuthSent.Load(), "auth_errors": initAuthErr.Load()}
	ib, _ := json.Marshal(initial)
	fmt.Printf("READY %s\n", ib)

	sc := bufio.NewScanner(os.Stdin)
	latest := map[int]string{}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "KILL" {
			t, _ := strconv.ParseInt(f[1], 10, 64)
			killAt.Store(t)
			go func() {
				select {
				case <-allBack:
					fmt.Printf("ALLBACK %.3f\n", float64(time.Now().UnixNano()-t)/1e9)
				case <-time.After(10 * time.Minute):
					fmt.Println("NOTBACK")
				}
			}()
		}
		if len(f) == 3 && f[0] == "LATEST" {
			fl, _ := strconv.Atoi(f[1])
			latest[fl] = f[2]
		}
		if len(f) == 1 && f[0] == "END" {
			break
		}
	}
	time.Sleep(3 * time.Second)
	var backs []int64
	res := map[string]any{}
	missed, notBack := 0, 0
	k := killAt.Load()
	for _, s := range socks {
		if s == nil {
			continue
		}
		s.mu.Lock()
		at := s.backAt
		s.mu.Unlock()
		if at == 0 {
			notBack++
			continue
		}
		backs = append(backs, at-k)
		if v := latest[s.flow]; v != "" && s.last() < v {
			missed++
		}
	}
	sort.Slice(backs, func(i, j int) bool { return backs[i] < backs[j] })
	p50, p99, mx := percentiles(backs)
	fe, _ = firstErr.Load().(string)
	res["back"], res["not_back"], res["missed"] = len(backs), notBack, missed
	res["back_p50"], res["back_p99"], res["back_max"] = p50/1000, p99/1000, mx/1000
	res["resubs"], res["auth_sent"], res["auth_errors"] = resubs.Load(), authSent.Load(), authErr.Load()
	res["since_sent"], res["caught_up"] = sinceSent.Load(), caughtUp.Load()
	answersMu.Lock()
	res["answers"] = answers
	answersMu.Unlock()
	res["dial_errors"], res["sub_errors"], res["closed_early"], res["first_error"] = dialErr.Load(), subErr.Load(), closedEarly.Load(), fe
	b, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", b)
	return nil
}

// metricsByLabel is every sample of the metric name on c, by its labels.
func metricsByLabel(c *caddy, name string) map[string]float64 {
	out := map[string]float64{}
	m, err := c.Metrics()
	if err != nil {
		return out
	}
	for k, v := range m {
		if rest, ok := strings.CutPrefix(k, name); ok && (rest == "" || rest[0] == '{') {
			out[rest] = v
		}
	}
	return out
}

// metricsDelta is now - before for every label set that changed.
func metricsDelta(now, before map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range now {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// ---- FastCGI counter: what reached php-fpm ----

// fcgiCounter forwards FastCGI connections from Caddy to php-fpm unchanged
// and counts the requests by path (REQUEST_URI without the query), each
// with the time its body ended (FCGI_STDIN's empty record) — the FastCGI
// record layout of https://fast-cgi.github.io/spec (header: version, type,
// request id, content length, padding length, reserved).
type fcgiCounter struct {
	Port   int
	target string
	mu     sync.Mutex
	reqs   []fcgiSeen
	ln     net.Listener
}

type fcgiSeen struct {
	path string
	kind string // an auth request's channel kind (private, presence, …), from its form body
	// caller is the request's Cookie header's SHA-256 prefix (which
	// user's browser sent it)
	caller string
	at     time.Time
}

func startFCGICounter(fpmPort int) (*fcgiCounter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &fcgiCounter{Port: ln.Addr().(*net.TCPAddr).Port, target: fmt.Sprintf("127.0.0.1:%d", fpmPort), ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.serve(conn)
		}
	}()
	return c, nil
}

func (c *fcgiCounter) Stop() { c.ln.Close() }

// count is how many requests to path reached php-fpm in [from, to).
func (c *fcgiCounter) count(path string, from, to time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.reqs {
		if (path == "" || r.path == path) && !r.at.Before(from) && r.at.Before(to) {
			n++
		}
	}
	return n
}

// byChannelKind counts the requests to path in [from, to) by the channel
// kind of their form body.
func (c *fcgiCounter) byChannelKind(path string, from, to time.Time) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, r := range c.reqs {
		if r.path == path && !r.at.Before(from) && r.at.Before(to) {
			out[r.kind]++
		}
	}
	return out
}

// callers is how many distinct Cookie headers sent the requests to path
// in [from, to).
func (c *fcgiCounter) callers(path string, from, to time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range c.reqs {
		if r.path == path && !r.at.Before(from) && r.at.Before(to) {
			seen[r.caller] = true
		}
	}
	return len(seen)
}

// countOther is how many requests to paths other than path reached it in [from, to).
func (c *fcgiCounter) countOther(path string, from, to time.Time) int {
	return c.count("", from, to) - c.count(path, from, to)
}

func (c *fcgiCounter) serve(client net.Conn) {
	defer client.Close()
	up, err := net.DialTimeout("tcp", c.target, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		io.Copy(client, up)
		client.Close()
	}()
	const typeParams, typeStdin = 4, 5
	params := map[uint16]*bytes.Buffer{}
	bodies := map[uint16]*bytes.Buffer{}
	br := bufio.NewReaderSize(client, 64<<10)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		typ, id := hdr[1], uint16(hdr[2])<<8|uint16(hdr[3])
		clen := int(hdr[4])<<8 | int(hdr[5])
		rest := make([]byte, clen+int(hdr[6]))
		if _, err := io.ReadFull(br, rest); err != nil {
			return
		}
		switch typ {
		case typeParams:
			if params[id] == nil {
				params[id] = &bytes.Buffer{}
			}
			params[id].Write(rest[:clen])
		case typeStdin:
			if clen > 0 {
				if bodies[id] == nil {
					bodies[id] = &bytes.Buffer{}
				}
				if bodies[id].Len() < 4096 {
					bodies[id].Write(rest[:clen])
				}
				break
			}
			uri := fcgiParam(params[id], "REQUEST_URI")
			path, _, _ := strings.Cut(uri, "?")
			kind := ""
			if b := bodies[id]; b != nil {
				if v, err := url.ParseQuery(b.String()); err == nil {
					kind = strings.SplitN(v.Get("channel_name"), "-", 2)[0]
				}
			}
			sum := sha256.Sum256([]byte(fcgiParam(params[id], "HTTP_COOKIE")))
			delete(params, id)
			delete(bodies, id)
			c.mu.Lock()
			c.reqs = append(c.reqs, fcgiSeen{path, kind, hex.EncodeToString(sum[:8]), time.Now()})
			c.mu.Unlock()
		}
		if _, err := up.Write(hdr[:]); err != nil {
			return
		}
		if _, err := up.Write(rest); err != nil {
			return
		}
	}
}

// fcgiParam finds name in FastCGI name-value pairs (lengths of 1 byte, or
// 4 bytes with the high bit set).
func fcgiParam(buf *bytes.Buffer, name string) string {
	if buf == nil {
		return ""
	}
	b := buf.Bytes()
	length := func() (int, bool) {
		if len(b) == 0 {
			return 0, false
		}
		if b[0]&0x80 == 0 {
			n := int(b[0])
			b = b[1:]
			return n, true
		}
		if len(b) < 4 {
			return 0, false
		}
		n := int(b[0]&0x7f)<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		b = b[4:]
		return n, true
	}
	for len(b) > 0 {
		nl, ok1 := length()
		vl, ok2 := length()
		if !ok1 || !ok2 || nl+vl > len(b) {
			return ""
		}
		if string(b[:nl]) == name {
			return string(b[nl : nl+vl])
		}
		b = b[nl+vl:]
	}
	return ""
}

// ---- the orchestrating side ----

// stormSite is the recordsync site of both instances. Each listens on its
// own port here, so the block is named: the state (and what the cluster
// shares under it, the grants too) is then one, as one Caddyfile deployed
// to every instance of a real cluster gives (README "Sites share a state
// only by name").
func stormSite(l *harness.Laravel, fcgiPort int, redisAddr, extra string) string {
	lines := []string{
		"name storm",
		"record flow /api/v1/flows/{id}",
		"laravel_app_key {env.BENCH_LARAVEL_APP_KEY}",
		"app_id 1",
		"app_key " + benchAppKey,
		"app_secret " + benchAppSecret,
		fmt.Sprintf("cluster redis://%s/0", redisAddr),
		"cluster_name storm",
	}
	for _, e := range strings.Split(extra, ";") {
		if e = strings.TrimSpace(e); e != "" {
			lines = append(lines, e)
		}
	}
	return harness.Site(":{PORT}", harness.Block("recordsync", lines...),
		fmt.Sprintf("root * %q", l.Root), fmt.Sprintf("php_fastcgi 127.0.0.1:%d", fcgiPort))
}

// seedStorm adds users bench1..benchN (Alice's password hash: "secret")
// and flows up to id flows to the app's database, with PHP's PDO.
func seedStorm(l *harness.Laravel, work string, users, flows int) error {
	script := `<?php
$db = new PDO('sqlite:' . $argv[1]);
$db->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
$db->exec('PRAGMA busy_timeout = 10000');
$hash = $db->query("SELECT password FROM users WHERE email = 'alice@example.com'")->fetchColumn();
$now = date('Y-m-d H:i:s');
$db->beginTransaction();
$u = $db->prepare('INSERT INTO users (name, email, password, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)');
for ($i = 1; $i <= (int) $argv[2]; $i++) {
    $u->execute(["Bench user $i", "bench$i@example.com", $hash, 'editor', $now, $now]);
}
$f = $db->query('SELECT * FROM flows WHERE id = 1')->fetch(PDO::FETCH_ASSOC);
$n = (int) $db->query('SELECT MAX(id) FROM flows')->fetchColumn();
$ins = $db->prepare('INSERT INTO flows (name, description, restricted, updated_by, created_at, updated_at) VALUES (?, ?, 0, ?, ?, ?)');
for ($i = $n + 1; $i <= (int) $argv[3]; $i++) {
    $ins->execute(["Bench flow $i", $f['description'], $f['updated_by'], $f['created_at'], $f['updated_at']]);
}
$db->commit();
`
	path := filepath.Join(work, "storm-seed.php")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		return err
	}
	php, err := harness.PHP()
	if err != nil {
		return err
	}
	db := filepath.Join(l.Env["DB_DATABASE"], "default.sqlite")
	out, err := exec.Command(php, path, db, strconv.Itoa(users), strconv.Itoa(flows)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("seeding: %v\n%s", err, out)
	}
	return nil
}

// laravelSession logs email in through base and returns the Cookie header
// (every cookie the app set) and the session's CSRF token.
func laravelSession(base, email string) (cookie, csrf string, err error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if csrf, err = harness.LaravelLogin(c, base, email, "secret"); err != nil {
		return "", "", err
	}
	u, _ := url.Parse(base)
	var parts []string
	for _, ck := range jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; "), csrf, nil
}

// saveFlow saves flow id through base as the session (cookie, csrf) and
// returns the version.
func saveFlow(base, cookie, csrf string, id, n int) (string, error) {
	st, _, body, err := do("PUT", fmt.Sprintf("%s/api/v1/flows/%d", base, id), fmt.Sprintf(`{"name":"Storm save %d of flow %d"}`, n, id),
		"Cookie", cookie, "X-CSRF-TOKEN", csrf, "X-Requested-With", "XMLHttpRequest")
	if err != nil || st != 200 {
		return "", fmt.Errorf("PUT flow %d: %d %v %s", id, st, err, truncate(body, 200))
	}
	var r struct {
		Data struct {
			UpdatedAt string `json:"updated_at"`
		} `json:"data"`
	}
	json.Unmarshal([]byte(body), &r)
	return r.Data.UpdatedAt, nil
}

// saveAll saves flows 1..n through base, 4 at a time (php-fpm's workers),
// and returns each flow's version and when its answer came.
func saveAll(base, cookie, csrf string, n, round int) (map[int]string, map[int]time.Time, int, string) {
	versions, done := map[int]string{}, map[int]time.Time{}
	var mu sync.Mutex
	var errs int
	var first string
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				v, err := saveFlow(base, cookie, csrf, id, round)
				mu.Lock()
				if err != nil {
					errs++
					if first == "" {
						first = err.Error()
					}
				} else {
					versions[id], done[id] = v, time.Now()
				}
				mu.Unlock()
			}
		}()
	}
	for id := 1; id <= n; id++ {
		jobs <- id
	}
	close(jobs)
	wg.Wait()
	return versions, done, errs, first
}

// runStorm measures section 9.
func runStorm(cfg runConfig, repo, self, caddyBin, work string) *stormResult {
	flows := 100
	if cfg.Quick {
		flows = 50
	}
	res := &stormResult{Sockets: cfg.StormSockets, Users: cfg.StormUsers, Flows: flows, AfterSecs: cfg.StormAfter.Seconds(), PHPFPMWorkers: 4}
	fail := func(err error) *stormResult {
		res.Errors = append(res.Errors, err.Error())
		logf("  storm: %v", err)
		return res
	}
	logf("9. reconnect storm: %d sockets of %d users on a 2-instance cluster in front of Laravel (php-fpm)", cfg.StormSockets, cfg.StormUsers)
	redis, err := startRedis(work)
	if err != nil {
		return fail(err)
	}
	defer redis.Stop()
	run, err := os.MkdirTemp(work, "laravel-storm-")
	if err != nil {
		return fail(err)
	}
	l, err := harness.StartLaravel(harness.LaravelOptions{Repo: repo, RunDir: run, Tenants: []string{"default"},
		Env: map[string]string{"APP_DEBUG": "false", "BROADCAST_DRIVER": "redis", "REDIS_PORT": strconv.Itoa(redis.Port()), "LOG_LEVEL": "error"}})
	if err != nil {
		return fail(err)
	}
	track(l)
	defer l.Stop()
	if err := seedStorm(l, work, cfg.StormUsers, flows); err != nil {
		return fail(err)
	}
	spy, err := startFCGICounter(l.FPMPort)
	if err != nil {
		return fail(err)
	}
	defer spy.Stop()
	site := stormSite(l, spy.Port, redis.Addr(), cfg.StormExtra)
	res.Site = strings.ReplaceAll(strings.ReplaceAll(site, repo, "<repo>"), redis.Addr(), "<redis>")
	env := []string{"BENCH_LARAVEL_APP_KEY=" + l.AppKey}
	a, err := startCaddy(caddyBin, work, "storm-A", site, env)
	if err != nil {
		return fail(err)
	}
	defer a.Stop()
	b, err := startCaddy(caddyBin, work, "storm-B", site, env)
	if err != nil {
		return fail(err)
	}
	defer b.Stop()
	for _, c := range []*caddy{a, b} {
		if err := waitClusterUp(c); err != nil {
			return fail(err)
		}
	}

	// The users log in (through A, 4 at a time).
	t0 := time.Now()
	lines := make([]string, cfg.StormUsers)
	var loginErr atomic.Value
	var wg sync.WaitGroup
	jobs := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				cookie, csrf, err := laravelSession(a.URL(), fmt.Sprintf("bench%d@example.com", i+1))
				if err != nil {
					loginErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lines[i] = cookie + "\t" + csrf
			}
		}()
	}
	for i := 0; i < cfg.StormUsers; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if e, _ := loginErr.Load().(string); e != "" {
		return fail(fmt.Errorf("login: %s", e))
	}
	res.LoginSecs = time.Since(t0).Seconds()
	cookiesPath := filepath.Join(work, "storm-cookies.txt")
	if err := os.WriteFile(cookiesPath, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return fail(err)
	}
	aliceCookie, aliceCSRF, err := laravelSession(a.URL(), "alice@example.com")
	if err != nil {
		return fail(err)
	}
	logf("  storm: %d users logged in in %.1f s", cfg.StormUsers, res.LoginSecs)

	// Subscribe everybody on A.
	spec := stormSpec{WSA: fmt.Sprintf("ws://127.0.0.1:%d/ws/app/%s", a.HTTPPort, benchAppKey), WSB: fmt.Sprintf("ws://127.0.0.1:%d/ws/app/%s", b.HTTPPort, benchAppKey),
		HTTPA: a.URL(), HTTPB: b.URL(), N: cfg.StormSockets, Flows: flows, Cookies: cookiesPath}
	initStart := time.Now()
	grantsA0 := metricsByLabel(a, "recordsync_grants_total")
	gen, err := startChild(self, spec.args()...)
	if err != nil {
		return fail(err)
	}
	defer gen.Stop()
	ready, err := gen.readLine("READY ", 30*time.Minute)
	if err != nil {
		return fail(err)
	}
	initEnd := time.Now()
	var ini struct {
		Connected, Failed int
		FirstError        string  `json:"first_error"`
		Secs              float64 `json:"secs"`
		Subs              int     `json:"subs"`
		AuthSent          int     `json:"auth_sent"`
		AuthErrors        int     `json:"auth_errors"`
	}
	json.Unmarshal([]byte(ready), &ini)
	res.Connected, res.Failed, res.FirstError, res.InitialSecs = ini.Connected, ini.Failed, ini.FirstError, ini.Secs
	res.InitialSubscriptions, res.InitialAuthRequests, res.InitialAuthErrors = ini.Subs, ini.AuthSent, ini.AuthErrors
	res.InitialAuthPHP = spy.count("/broadcasting/auth", initStart, initEnd)
	res.InitialPHPAuthDuration = initEnd.Sub(initStart).Seconds()
	if res.InitialPHPAuthDuration > 0 {
		res.InitialAuthPHPPerSec = float64(res.InitialAuthPHP) / res.InitialPHPAuthDuration
	}
	logf("  storm: subscribed %d sockets (%d failed) in %.1f s: %d subscriptions, %d auth requests, %d reached PHP %s",
		res.Connected, res.Failed, res.InitialSecs, res.InitialSubscriptions, res.InitialAuthRequests, res.InitialAuthPHP, res.FirstError)
	if res.Connected == 0 {
		return fail(fmt.Errorf("no socket subscribed: %s", res.FirstError))
	}

	// Every flow saved once through A: each socket learns its version.
	latest, _, errs, first := saveAll(a.URL(), aliceCookie, aliceCSRF, flows, 1)
	res.PreSaves, res.PreSaveErrors = len(latest), errs
	if errs > 0 {
		res.Errors = append(res.Errors, "saves before the kill: "+first)
	}
	if wait := cfg.StormAfter - time.Since(initEnd); wait > 0 {
		logf("  storm: waiting %.0f s before killing A", wait.Seconds())
		time.Sleep(wait)
	}

	// Kill A; every socket comes back on B while every flow is saved again
	// through B.
	fpm0, b0 := groupTicks(l.Pid()), cpuTicks(b.Pid())
	signed0 := b.metric("recordsync_auth_signatures_total", `result="signed"`)
	authRes0 := metricsByLabel(b, "recordsync_auth_signatures_total")
	grantsB0 := metricsByLabel(b, "recordsync_grants_total")
	res.GrantsA = metricsDelta(metricsByLabel(a, "recordsync_grants_total"), grantsA0)
	kill := time.Now()
	res.GrantAgeMin, res.GrantAgeMax = kill.Sub(initEnd).Seconds(), kill.Sub(initStart).Seconds()
	io.WriteString(gen.stdin, fmt.Sprintf("KILL %d\n", kill.UnixNano()))
	a.Kill()
	logf("  storm: killed A")
	type saved struct {
		v    map[int]string
		done map[int]time.Time
		errs int
		err  string
	}
	savesDone := make(chan saved, 1)
	go func() {
		v, d, e, f := saveAll(b.URL(), aliceCookie, aliceCSRF, flows, 2)
		savesDone <- saved{v, d, e, f}
	}()
	line, err := gen.readLine("", 11*time.Minute)
	end := time.Now()
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	if rest, ok := strings.CutPrefix(line, "ALLBACK "); ok {
		res.AllBack = true
		res.AllBackSecs, _ = strconv.ParseFloat(rest, 64)
	}
	res.PHPCPU = float64(groupTicks(l.Pid())-fpm0) / ticksPerSecond
	res.CaddyBCPU = float64(cpuTicks(b.Pid())-b0) / ticksPerSecond
	res.AuthPHP = spy.count("/broadcasting/auth", kill, end)
	res.OtherPHP = spy.countOther("/broadcasting/auth", kill, end)
	res.Signed = b.metric("recordsync_auth_signatures_total", `result="signed"`) - signed0
	res.AuthResults = metricsDelta(metricsByLabel(b, "recordsync_auth_signatures_total"), authRes0)
	res.GrantsB = metricsDelta(metricsByLabel(b, "recordsync_grants_total"), grantsB0)
	if secs := end.Sub(kill).Seconds(); secs > 0 {
		res.PHPAuthPerSec = float64(res.AuthPHP) / secs
	}
	sv := <-savesDone
	res.OutageSaves, res.OutageSaveErrors, res.OutageSaveFirstErr = len(sv.v), sv.errs, sv.err
	for id, v := range sv.v {
		latest[id] = v
		if sv.done[id].Before(end) {
			res.OutageSavesBeforeBack++
		}
	}
	var w strings.Builder
	for id, v := range latest {
		fmt.Fprintf(&w, "LATEST %d %s\n", id, v)
	}
	w.WriteString("END\n")
	io.WriteString(gen.stdin, w.String())
	out, err := gen.readLine("RESULT ", 2*time.Minute)
	if err != nil {
		return fail(err)
	}
	var r struct {
		Back        int            `json:"back"`
		NotBack     int            `json:"not_back"`
		Missed      int            `json:"missed"`
		BackP50     float64        `json:"back_p50"`
		BackP99     float64        `json:"back_p99"`
		Resubs      int            `json:"resubs"`
		AuthSent    int            `json:"auth_sent"`
		AuthErrors  int            `json:"auth_errors"`
		SinceSent   int            `json:"since_sent"`
		CaughtUp    int            `json:"caught_up"`
		DialErrors  int            `json:"dial_errors"`
		SubErrors   int            `json:"sub_errors"`
		ClosedEarly int            `json:"closed_early"`
		Answers     map[string]int `json:"answers"`
		FirstError  string         `json:"first_error"`
	}
	json.Unmarshal([]byte(out), &r)
	res.Back, res.NotBack, res.Missed = r.Back, r.NotBack, r.Missed
	res.BackP50, res.BackP99 = r.BackP50, r.BackP99
	res.Resubscriptions, res.AuthRequests, res.AuthErrors = r.Resubs, r.AuthSent, r.AuthErrors
	res.SinceSent, res.CaughtUp = r.SinceSent, r.CaughtUp
	res.Answers = r.Answers
	res.PHPByKind = spy.byChannelKind("/broadcasting/auth", kill, end)
	res.PHPCallers = spy.callers("/broadcasting/auth", kill, end)
	res.DialErrors, res.SubErrors, res.ClosedBeforeKill, res.FirstStormError = r.DialErrors, r.SubErrors, r.ClosedEarly, r.FirstError
	logf("  storm: %d/%d back in %.1f s (p50 %.1f s, p99 %.1f s), %d resubscriptions, %d auth requests sent, %d reached PHP (%.0f%%), %d missed, %d caught up by since",
		res.Back, res.Connected, res.AllBackSecs, res.BackP50, res.BackP99, res.Resubscriptions, res.AuthRequests, res.AuthPHP, 100*res.Ratio(), res.Missed, res.CaughtUp)
	return res
}
