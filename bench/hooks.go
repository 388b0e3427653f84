package main

// Section 10: what webhooks and the live console cost on the publish path.
//
// Two Caddies in front of the Go upstream, alternated (A, B, then B, A, …),
// a fresh one per run: "off", the recordsync block of the fan-out; "on", the
// same plus a `webhooks` block for every event kind (README, "Webhooks")
// pointed at a receiver in this process that answers 200 and counts what it
// got, and a `console` (README, "Live console") whose event stream
// (GET <path>/api/stream, Authorization: Bearer, Server-Sent Events) this
// process reads throughout. The load is the same in both: a generator
// process (bench -role=hookload) with N sockets in groups of 50, each
// socket on presence-hooks.{g} and private-hooks.{g}; one socket per group
// leaves and rejoins its presence channel every second (member_removed,
// member_added), one per two groups whispers on its private channel twice a
// second (client_event), while this process publishes through the Pusher
// HTTP API (POST /apps/1/events, every group's private channel) at a steady
// rate. Measured: the published events delivered per CPU-second of Caddy.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/internal/harness"
	"github.com/recordsync/recordsync/pusher"
)

const (
	hooksGroup       = 50 // sockets per channel pair
	hooksRate        = 20 // HTTP API publishes per second
	hooksEvent       = "bench-hooks"
	hooksConsoleTok  = "bench-console-token-0123456789"
	hooksConsolePath = "/_rs"
)

// hooksRun is one run of one variant.
type hooksRun struct {
	Variant       string // "off" or "on"
	Round         int
	Connected     int
	Failed        int
	Publishes     int
	PublishErrors int
	// Delivered: the published events the sockets read; Expected:
	// publishes × sockets (churning sockets miss a few).
	Delivered, Expected int
	// Members and Whispers: member_added and client events the sockets read.
	Members, Whispers int
	CPU               float64 // Caddy CPU-seconds from the first publish to the end of delivery
	// Webhooks: events the receiver got, by name; StreamEvents: messages
	// read from the console's stream (on only).
	Webhooks     map[string]int `json:",omitempty"`
	StreamEvents int            `json:",omitempty"`
	Err          string         `json:",omitempty"`
}

// MsgPerCPU is the published events delivered per Caddy CPU-second.
func (h hooksRun) MsgPerCPU() float64 {
	if h.CPU <= 0 {
		return 0
	}
	return float64(h.Delivered) / h.CPU
}

type hooksResult struct {
	N       int
	Dur     time.Duration
	Runs    []hooksRun
	SiteOn  string
	SiteOff string
}

func (h *hooksResult) perCPU(variant string) []float64 {
	var xs []float64
	for _, r := range h.Runs {
		if r.Variant == variant && r.Err == "" {
			xs = append(xs, r.MsgPerCPU())
		}
	}
	return xs
}

// ratio is the median over rounds of on/off (each round has both).
func (h *hooksResult) ratio() (float64, bool) {
	if h == nil {
		return 0, false
	}
	var xs []float64
	for _, on := range h.Runs {
		if on.Variant != "on" || on.Err != "" {
			continue
		}
		for _, off := range h.Runs {
			if off.Variant == "off" && off.Round == on.Round && off.Err == "" && off.MsgPerCPU() > 0 {
				xs = append(xs, on.MsgPerCPU()/off.MsgPerCPU())
			}
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	return median(xs), true
}

// hookReceiver is the webhook endpoint: it answers 200 and counts events
// by name.
type hookReceiver struct {
	mu     sync.Mutex
	counts map[string]int
	srv    *http.Server
	port   int
}

func startHookReceiver() (*hookReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hookReceiver{counts: map[string]int{}, port: ln.Addr().(*net.TCPAddr).Port}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Events []struct {
				Name string `json:"name"`
			} `json:"events"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		h.mu.Lock()
		for _, e := range body.Events {
			h.counts[e.Name]++
		}
		h.mu.Unlock()
	})}
	go h.srv.Serve(ln)
	return h, nil
}

func (h *hookReceiver) snapshot() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[string]int{}
	for k, v := range h.counts {
		m[k] = v
	}
	return m
}

// hooksSites are the off and on configurations.
func hooksSites(upPort, hookPort int) (off, on string) {
	proxy := fmt.Sprintf("reverse_proxy 127.0.0.1:%d", upPort)
	base := []string{"record flow /api/v1/flows/{id}", "app_id 1", "app_key " + benchAppKey, "app_secret " + benchAppSecret}
	off = harness.Site(":{PORT}", harness.Block("recordsync", base...), proxy)
	on = harness.Site(":{PORT}", harness.Block("recordsync", append(base,
		harness.Block(fmt.Sprintf("webhooks http://127.0.0.1:%d/pusher/webhook", hookPort),
			"events channel_occupied channel_vacated member_added member_removed client_event"),
		harness.Block("console "+hooksConsolePath,
			harness.Block("viewer ops *", "token "+hooksConsoleTok)))...), proxy)
	return off, on
}

// runHooks runs section 10.
func runHooks(cfg runConfig, self, caddyBin, work string, upPort int) *hooksResult {
	// More rounds than the other comparisons: the cost measured is a few
	// per cent at most (a CPU profile of an "on" run puts the console's
	// stream and the webhooks at 1-2% of Caddy's samples, nearly all the
	// rest in write(2)), while one round's on/off ratio spreads over
	// 0.85-1.15 on this kind of machine.
	n, d, rounds := 2000, 10*time.Second, max(cfg.Rounds, 7)
	if cfg.Quick {
		n, d, rounds = 1000, 5*time.Second, 3
	}
	res := &hooksResult{N: n, Dur: d}
	recv, err := startHookReceiver()
	if err != nil {
		res.Runs = append(res.Runs, hooksRun{Err: err.Error()})
		return res
	}
	defer recv.srv.Close()
	res.SiteOff, res.SiteOn = hooksSites(upPort, recv.port)
	for round := 1; round <= rounds; round++ {
		order := []string{"off", "on"}
		if round%2 == 0 {
			order = []string{"on", "off"}
		}
		for _, v := range order {
			logf("10. webhooks and console %s, %d sockets, round %d", v, n, round)
			r := hooksOnce(self, caddyBin, work, res, recv, v, n, d)
			r.Round = round
			logf("  hooks %s: %d/%d delivered, cpu %.2fs, %.0f msg per CPU-s; %d member_added and %d whispers read; webhooks %v; console stream %d%s",
				v, r.Delivered, r.Expected, r.CPU, r.MsgPerCPU(), r.Members, r.Whispers, r.Webhooks, r.StreamEvents, errSuffix(r.Err))
			res.Runs = append(res.Runs, r)
		}
	}
	return res
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return "; ERROR: " + e
}

func hooksOnce(self, caddyBin, work string, res *hooksResult, recv *hookReceiver, variant string, n int, d time.Duration) hooksRun {
	r := hooksRun{Variant: variant}
	fail := func(err error) hooksRun { r.Err = err.Error(); return r }
	site := res.SiteOff
	if variant == "on" {
		site = res.SiteOn
	}
	c, err := startCaddy(caddyBin, work, "hooks-"+variant, site, nil)
	if err != nil {
		return fail(err)
	}
	defer c.Stop()
	var stream atomic.Int64
	if variant == "on" {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", c.URL()+hooksConsolePath+"/api/stream", nil)
		req.Header.Set("Authorization", "Bearer "+hooksConsoleTok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fail(fmt.Errorf("console stream: %v", err))
		}
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
			resp.Body.Close()
			return fail(fmt.Errorf("console stream: %d %s", resp.StatusCode, b))
		}
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "data:") {
					stream.Add(1)
				}
			}
		}()
	}
	gen, err := startChild(self, "-role=hookload", "-url", fmt.Sprintf("ws://127.0.0.1:%d/ws/app/%s", c.HTTPPort, benchAppKey),
		"-n", fmt.Sprint(n), "-key", benchAppKey, "-secret", benchAppSecret)
	if err != nil {
		return fail(err)
	}
	defer gen.Stop()
	if _, err := gen.readLine("READY", 120*time.Second); err != nil {
		return fail(err)
	}
	time.Sleep(time.Second)
	hooks0, stream0 := recv.snapshot(), stream.Load()
	cpu0 := cpuTicks(c.Pid())
	io.WriteString(gen.stdin, "GO\n")

	groups := (n + hooksGroup - 1) / hooksGroup
	var chans []string
	for g := 0; g < groups; g++ {
		chans = append(chans, fmt.Sprintf("private-hooks.%d", g))
	}
	payload, _ := json.Marshal(map[string]any{"name": hooksEvent, "channels": chans,
		"data": `{"id":1,"name":"Bench flow","updated_at":"2026-11-25T21:00:16.221069Z"}`})
	gap := time.Second / hooksRate
	tick, end := time.Now(), time.Now().Add(d)
	for time.Now().Before(end) {
		r.Publishes++
		if st, err := apiPost(c, "/apps/1/events", string(payload)); err != nil || st != 200 {
			r.PublishErrors++
		}
		tick = tick.Add(gap)
		time.Sleep(time.Until(tick))
	}
	io.WriteString(gen.stdin, "END\n")
	line, err := gen.readLine("RESULT ", 60*time.Second)
	r.CPU = float64(cpuTicks(c.Pid())-cpu0) / ticksPerSecond
	if err != nil {
		return fail(err)
	}
	var out hookLoadStats
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		return fail(err)
	}
	r.Connected, r.Failed, r.Delivered, r.Members, r.Whispers = out.Connected, out.Failed, out.Delivered, out.Members, out.Whispers
	r.Expected = (r.Publishes - r.PublishErrors) * n
	if variant == "on" {
		time.Sleep(time.Second) // the last webhook batch
		r.Webhooks = map[string]int{}
		for k, v := range recv.snapshot() {
			if v-hooks0[k] > 0 {
				r.Webhooks[k] = v - hooks0[k]
			}
		}
		r.StreamEvents = int(stream.Load() - stream0)
		gen.stdin.Close() // the sockets close only now: their leaving is not counted
		var missing []string
		for _, k := range []string{"client_event", "member_added", "member_removed"} {
			if r.Webhooks[k] == 0 {
				missing = append(missing, k+" webhooks")
			}
		}
		if r.StreamEvents == 0 {
			missing = append(missing, "console stream events")
		}
		if len(missing) > 0 {
			r.Err = "the load did not fire them: no " + strings.Join(missing, ", ")
		}
	}
	switch {
	case r.Err != "":
	case out.Failed > 0 || out.FirstError != "":
		r.Err = fmt.Sprintf("%d sockets failed: %s", out.Failed, out.FirstError)
	case r.PublishErrors > 0:
		r.Err = fmt.Sprintf("%d of %d publishes failed", r.PublishErrors, r.Publishes)
	case out.Whispers == 0 || out.Members == 0:
		r.Err = fmt.Sprintf("the load did not whisper or churn (%d whispers, %d member_added read)", out.Whispers, out.Members)
	}
	return r
}

// ---- the load generator (bench -role=hookload), its own process ----

type hookLoadStats struct {
	Connected  int    `json:"connected"`
	Failed     int    `json:"failed"`
	FirstError string `json:"first_error,omitempty"`
	Delivered  int    `json:"delivered"`
	Members    int    `json:"members"`
	Whispers   int    `json:"whispers"`
	Sent       int    `json:"whispers_sent"`
	Churns     int    `json:"churns"`
}

// runHookLoad connects n sockets to url, prints READY, and on GO (stdin)
// starts churning and whispering until END, then prints RESULT.
func runHookLoad(url string, n int, key, secret string) error {
	var delivered, members, whispers, sent, churns atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	type sock struct {
		ws       *websocket.Conn
		socketID string
		group    int
	}
	socks := make([]*sock, n)
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			g := i / hooksGroup
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, url, nil)
			if err == nil {
				var id string
				if id, err = pusherEstablished(ctx, ws); err == nil {
					s := &sock{ws: ws, socketID: id, group: g}
					for _, ch := range []string{fmt.Sprintf("presence-hooks.%d", g), fmt.Sprintf("private-hooks.%d", g)} {
						if err = pusherSubscribe(ctx, ws, hookSub(key, secret, id, ch, i)); err != nil {
							break
						}
					}
					if err == nil {
						socks[i] = s
						return
					}
				}
				ws.CloseNow()
			}
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}(i)
	}
	wg.Wait()
	connected := 0
	for _, s := range socks {
		if s == nil {
			continue
		}
		connected++
		go func(s *sock) {
			ev, mem, cli, ping := []byte(hooksEvent), []byte("pusher_internal:member_added"), []byte(`"client-`), []byte("pusher:ping")
			for {
				_, b, err := s.ws.Read(context.Background())
				if err != nil {
					return
				}
				switch {
				case bytes.Contains(b, ev):
					delivered.Add(1)
				case bytes.Contains(b, mem):
					members.Add(1)
				case bytes.Contains(b, cli):
					whispers.Add(1)
				case bytes.Contains(b, ping):
					s.ws.Write(context.Background(), websocket.MessageText, []byte(`{"event":"pusher:pong","data":{}}`))
				}
			}
		}(s)
	}
	fmt.Printf("READY %d\n", connected)
	os.Stdout.Sync()

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() && in.Text() != "GO" {
	}
	stop := make(chan struct{})
	var loops sync.WaitGroup
	for i, s := range socks {
		if s == nil {
			continue
		}
		churn, whisper := i%hooksGroup == 1, i%(2*hooksGroup) == 2
		if !churn && !whisper {
			continue
		}
		loops.Add(1)
		go func(i int, s *sock) {
			defer loops.Done()
			write := func(v any) {
				b, _ := json.Marshal(v)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				s.ws.Write(ctx, websocket.MessageText, b)
				cancel()
			}
			pres, priv := fmt.Sprintf("presence-hooks.%d", s.group), fmt.Sprintf("private-hooks.%d", s.group)
			// Spread the sockets' loops over the period.
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(i%97) * 10 * time.Millisecond):
			}
			for k := 0; ; k++ {
				if churn {
					write(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": pres}})
					select {
					case <-stop:
						return
					case <-time.After(300 * time.Millisecond):
					}
					write(map[string]any{"event": "pusher:subscribe", "data": hookSub(key, secret, s.socketID, pres, i)})
					churns.Add(1)
					select {
					case <-stop:
						return
					case <-time.After(700 * time.Millisecond):
					}
					continue
				}
				write(map[string]any{"event": "client-typing", "channel": priv, "data": map[string]any{"n": k}})
				sent.Add(1)
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
			}
		}(i, s)
	}
	for in.Scan() && in.Text() != "END" {
	}
	close(stop)
	loops.Wait()
	time.Sleep(1500 * time.Millisecond)
	st := hookLoadStats{Connected: connected, Failed: int(failed.Load()), Delivered: int(delivered.Load()),
		Members: int(members.Load()), Whispers: int(whispers.Load()), Sent: int(sent.Load()), Churns: int(churns.Load())}
	if e, ok := firstErr.Load().(string); ok {
		st.FirstError = e
	}
	b, _ := json.Marshal(st)
	fmt.Printf("RESULT %s\n", b)
	os.Stdout.Sync()
	for in.Scan() {
	}
	for _, s := range socks {
		if s != nil {
			s.ws.CloseNow()
		}
	}
	return nil
}

// hookSub is the pusher:subscribe data for socket i on ch, signed as the
// app's auth endpoint would sign it (presence: as user i).
func hookSub(key, secret, socketID, ch string, i int) map[string]any {
	sub := map[string]any{"channel": ch}
	if strings.HasPrefix(ch, "presence-") {
		cd := fmt.Sprintf(`{"user_id":"u%d","user_info":{"name":"User %d"}}`, i, i)
		sub["auth"] = pusher.ChannelAuth(key, secret, socketID, ch, cd)
		sub["channel_data"] = cd
	} else {
		sub["auth"] = pusher.ChannelAuth(key, secret, socketID, ch, "")
	}
	return sub
}

// hooksGoal is the Targets table's row.
func (r *report) hooksGoal(b *strings.Builder) {
	h := r.Hooks
	if h == nil {
		return
	}
	if x, ok := h.ratio(); ok {
		fmt.Fprintf(b, "| Webhooks (every kind) and the console's stream on vs off: delivered messages per Caddy CPU-second, with joins, leaves and whispers | %.3f× (median %.0f vs %.0f msg per CPU-s, %d sockets, %d rounds) | ≥ 0.95× | %s | – |\n",
			x, median(h.perCPU("on")), median(h.perCPU("off")), h.N, len(h.perCPU("on")), verdict(x >= 0.95))
	} else {
		fmt.Fprintf(b, "| Webhooks and console on vs off | not measured%s | ≥ 0.95× | – | – |\n", h.firstErr())
	}
}

func (h *hooksResult) firstErr() string {
	for _, r := range h.Runs {
		if r.Err != "" {
			return " (" + strings.ReplaceAll(r.Err, "|", "/") + ")"
		}
	}
	return ""
}

// hooksSection is the report's section 10.
func (r *report) hooksSection(b *strings.Builder) {
	h := r.Hooks
	if h == nil {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## 10. Webhooks and the live console on the publish path\n\n")
	p("%d sockets in groups of %d, each on `presence-hooks.{g}` and `private-hooks.{g}`; one socket per group leaves and rejoins its presence channel every second, one per two groups whispers (`client-typing`) twice a second on its private channel, while the bench publishes %d times a second for %s through the HTTP API (`POST /apps/1/events` to every group's private channel). Off: the fan-out's recordsync block; on: the same with a `webhooks` block for every event kind (a receiver in the bench process answers 200 and counts) and a `console` whose event stream the bench reads throughout. A fresh Caddy per run, off and on alternated. Rate = the published events the sockets read per Caddy CPU-second (user+system, from the first publish until delivery ends).\n\n",
		h.N, hooksGroup, hooksRate, h.Dur)
	if x, ok := h.ratio(); ok {
		p("Median of the rounds' on/off ratios: **%.3f×** (goal ≥ 0.95×: %s).\n\n", x, verdict(x >= 0.95))
	}
	p("| Round | Variant | Delivered / expected | Caddy CPU-s | Msg per CPU-s | member_added / whispers read | Webhooks received | Console stream messages | Error |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, run := range h.Runs {
		var hooks []string
		for _, k := range []string{"channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event"} {
			if v := run.Webhooks[k]; v > 0 {
				hooks = append(hooks, fmt.Sprintf("%s %d", k, v))
			}
		}
		p("| %d | %s | %d / %d | %.2f | %.0f | %d / %d | %s | %d | %s |\n", run.Round, run.Variant, run.Delivered, run.Expected, run.CPU,
			math.Round(run.MsgPerCPU()), run.Members, run.Whispers, strings.Join(hooks, ", "), run.StreamEvents, strings.ReplaceAll(run.Err, "|", "/"))
	}
	p("\n```caddyfile\n# on\n%s```\n\n", h.SiteOn)
}
