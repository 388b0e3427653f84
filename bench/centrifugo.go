package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/internal/harness"
)

// ---- the peers: Centrifugo, built and run by the bench; Mercure, checked ----
//
// Centrifugo (https://centrifugal.dev) is the Go module
// github.com/centrifugal/centrifugo/v6. The bench builds the version below
// with `go install <module>@<version>` into a folder of the user's cache
// (os.UserCacheDir()/recordsync-bench/centrifugo-<version>, reused when the
// binary is there), never into the product's module: nothing of it enters
// either go.mod. It runs with the memory engine on a free loopback port,
// from a generated config (centrifugoConfig): a token HMAC secret, an API
// key, namespaces for the channels the loads use, admin off, usage
// statistics off (it would otherwise report to the internet), no TLS.
//
// The bench's own client speaks Centrifugo's JSON protocol over websocket
// (https://centrifugal.dev/docs/transports/client_protocol): a connect
// command with a connection JWT the bench signs (HS256), subscribe
// commands, then publications pushed as {"push":{"channel":..,"pub":{"data":..}}};
// several replies may share one frame, one per line, and {} is the
// server's ping, answered with {}. Publishes go through its HTTP server API
// (POST /api/publish and /api/broadcast with X-API-Key).

const (
	centrifugoModule  = "github.com/centrifugal/centrifugo/v6"
	centrifugoVersion = "v6.9.1"
	// mercureModule is the Mercure hub's Go module; see mercureStatus.
	mercureModule = "github.com/dunglas/mercure"
	centAPIKey    = "bench-api-key"
	centSecret    = "bench-token-secret"
)

// centrifugoBinary returns the Centrifugo binary, building it with go
// install when the cache folder does not hold it yet, and what `go version
// -m` says it was built from (module and version).
func centrifugoBinary() (bin, built string, err error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", "", err
	}
	dir := filepath.Join(cache, "recordsync-bench", "centrifugo-"+centrifugoVersion)
	bin = filepath.Join(dir, "centrifugo")
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", "", err
		}
		logf("building Centrifugo %s with go install (once; cached outside the repository)", centrifugoVersion)
		cmd := exec.Command("go", "install", centrifugoModule+"@"+centrifugoVersion)
		cmd.Dir = dir // outside any module: go install pkg@version ignores the current one anyway
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go install %s@%s: %v\n%s", centrifugoModule, centrifugoVersion, err, harness.Tail(string(out), 2000))
		}
	}
	out, _ := exec.Command("go", "version", "-m", bin).Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "mod" {
			built = f[1] + " " + f[2]
		}
	}
	if built == "" {
		built = centrifugoModule + " " + centrifugoVersion
	}
	return bin, built, nil
}

// mercureStatus asks the module registry once for Mercure's versions (go
// list -m -versions) and says why it cannot be measured here, or "" when
// it could be. URLs in the answer are left out (the report names no host).
func mercureStatus() string {
	cmd := exec.Command("go", "list", "-m", "-versions", mercureModule)
	cmd.Dir = os.TempDir()
	out, err := cmd.CombinedOutput()
	if err == nil && len(strings.Fields(string(out))) > 1 {
		return ""
	}
	msg := regexp.MustCompile(`https?://\S+`).ReplaceAllString(strings.TrimSpace(string(out)), "<the module registry>")
	msg = strings.Join(strings.Fields(msg), " ")
	if msg == "" && err != nil {
		msg = err.Error()
	}
	if msg == "" {
		msg = "no versions listed"
	}
	return fmt.Sprintf("`go list -m -versions %s` answered: %s", mercureModule, msg)
}

// centrifugoConfig is the generated config (Centrifugo v6's JSON layout,
// `centrifugo defaultconfig` lists every key). Namespaces: rec and list
// (subscribe allowed to any connected client: the bench's recordsync
// sockets sign their private subscriptions, which costs at subscribe time
// only) and pres, with presence and join/leave messages on, as recordsync's
// presence channels announce members.
func centrifugoConfig(port int) []byte {
	ns := func(name string, presence bool) map[string]any {
		m := map[string]any{"name": name, "allow_subscribe_for_client": true}
		if presence {
			m["presence"] = true
			m["join_leave"] = true
			m["force_push_join_leave"] = true
		}
		return m
	}
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "error"},
		"client": map[string]any{
			"token":           map[string]any{"hmac_secret_key": centSecret},
			"allowed_origins": []string{"*"},
		},
		"http_api":    map[string]any{"key": centAPIKey},
		"admin":       map[string]any{"enabled": false},
		"prometheus":  map[string]any{"enabled": true},
		"usage_stats": map[string]any{"disabled": true},
		"channel": map[string]any{
			"namespaces": []any{ns("rec", false), ns("list", false), ns("pres", true)},
		},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return b
}

// centrifugo is one running Centrifugo.
type centrifugo struct {
	*harness.Proc
	Port int
}

// startCentrifugo runs bin with a generated config in a folder of its own
// under work, on a free port, and tracks it.
func startCentrifugo(bin, work, name string) (*centrifugo, error) {
	dir, err := os.MkdirTemp(work, "centrifugo-"+name+"-")
	if err != nil {
		return nil, err
	}
	port := freePort()
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, centrifugoConfig(port), 0o644); err != nil {
		return nil, err
	}
	p, err := harness.Start(harness.Options{Name: "centrifugo " + name, Dir: dir, Group: true, Output: &harness.Output{Limit: 1 << 20}},
		bin, "--config", cfgPath)
	if err != nil {
		return nil, err
	}
	track(p)
	c := &centrifugo{Proc: p, Port: port}
	if err := p.WaitListen(fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%v\n%s", err, harness.Tail(p.Output(), 2000))
	}
	return c, nil
}

func (c *centrifugo) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.Port) }
func (c *centrifugo) WSURL() string {
	return fmt.Sprintf("ws://127.0.0.1:%d/connection/websocket", c.Port)
}

// metrics scrapes its Prometheus /metrics ("name{labels}" → value).
func (c *centrifugo) metrics() (map[string]float64, error) {
	return scrapeMetrics(c.URL() + "/metrics")
}

// metric is one sample (summed over label sets containing match), -1 when
// /metrics cannot be read.
func (c *centrifugo) metric(name, match string) float64 {
	m, err := c.metrics()
	if err != nil {
		return -1
	}
	return sumMetric(m, name, match)
}

// scrapeMetrics reads a Prometheus text page into "name{labels}" → value.
func scrapeMetrics(url string) (map[string]float64, error) {
	resp, err := adminClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// sumMetric sums the samples named name whose labels contain match.
func sumMetric(m map[string]float64, name, match string) float64 {
	var sum float64
	for k, v := range m {
		rest, ok := strings.CutPrefix(k, name)
		if !ok || (rest != "" && rest[0] != '{') || !strings.Contains(rest, match) {
			continue
		}
		sum += v
	}
	return sum
}

// goMem is what a Go server's own metrics say about its memory: heap in
// use, goroutine stacks in use, goroutines (the Prometheus Go collector,
// which Caddy's admin /metrics and Centrifugo's /metrics both export).
type goMem struct {
	HeapInuse, StackInuse, Goroutines float64
}

func (g *goMem) add(o goMem) {
	g.HeapInuse += o.HeapInuse
	g.StackInuse += o.StackInuse
	g.Goroutines += o.Goroutines
}

func goMemOf(m map[string]float64) goMem {
	return goMem{HeapInuse: m["go_memstats_heap_inuse_bytes"], StackInuse: m["go_memstats_stack_inuse_bytes"], Goroutines: m["go_goroutines"]}
}

// centClient sends the API requests (keep-alive, many at once).
var centClient = &http.Client{Timeout: 30 * time.Second,
	Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 60 * time.Second}}

// centAPI posts one server API command (method: publish, broadcast) with
// the API key.
func (c *centrifugo) api(method string, body []byte) error {
	req, _ := http.NewRequest("POST", c.URL()+"/api/"+method, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", centAPIKey)
	resp, err := centClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || bytes.Contains(b, []byte(`"error"`)) {
		return fmt.Errorf("centrifugo /api/%s: %d %s", method, resp.StatusCode, truncate(string(b), 300))
	}
	return nil
}

// recordEventData is the data of a record.updated as recordsync publishes
// it (README "Broadcasting what the proxy sees"), for Centrifugo's
// publications: the same fields and size.
func recordEventData(typ string, id int, version string) []byte {
	return fmt.Appendf(nil, `{"tenant_id":null,"record_type":%q,"record_id":%d,"updated_at_iso":%q,"updated_by_id":2,"updated_by_name":"Bob","tab_id":null}`,
		typ, id, version)
}

// centPublishes makes n publications of a record.updated-like payload on
// channel, gap apart, each with a new version (the time just before its
// request), like publishSaves does through recordsync.
func centPublishes(c *centrifugo, channel string, n int, gap time.Duration) ([]published, error) {
	var pubs []published
	tick := time.Now()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		v := t0.UTC().Format(versionLayout)
		body, _ := json.Marshal(map[string]any{"channel": channel, "data": json.RawMessage(recordEventData("flow", 1, v))})
		if err := c.api("publish", body); err != nil {
			return nil, err
		}
		pubs = append(pubs, published{v, t0.UnixNano()})
		tick = tick.Add(gap)
		time.Sleep(time.Until(tick))
	}
	return pubs, nil
}

// centToken is a connection JWT for user, HS256 with the config's secret
// (RFC 7519; Centrifugo reads the user from "sub").
func centToken(secret, user string) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"sub": user, "exp": time.Now().Add(24 * time.Hour).Unix()})
	signing := head + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// dialCentrifugo connects to Centrifugo's websocket endpoint as user,
// then subscribes to channels (one frame, one command per line) and waits
// for every reply.
func dialCentrifugo(url, secret, user string, channels []string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	fail := func(err error) (*websocket.Conn, error) { ws.CloseNow(); return nil, err }
	connect, _ := json.Marshal(map[string]any{"id": 1, "connect": map[string]any{"token": centToken(secret, user), "name": "recordsync-bench"}})
	if err := ws.Write(ctx, websocket.MessageText, connect); err != nil {
		return fail(err)
	}
	if err := centReplies(ctx, ws, 1, 1); err != nil {
		return fail(fmt.Errorf("connect: %w", err))
	}
	var cmds [][]byte
	for i, ch := range channels {
		b, _ := json.Marshal(map[string]any{"id": i + 2, "subscribe": map[string]any{"channel": ch}})
		cmds = append(cmds, b)
	}
	if err := ws.Write(ctx, websocket.MessageText, bytes.Join(cmds, []byte("\n"))); err != nil {
		return fail(err)
	}
	if err := centReplies(ctx, ws, 2, len(channels)+1); err != nil {
		return fail(fmt.Errorf("subscribe: %w", err))
	}
	return ws, nil
}

// centReplies reads until the replies with ids from..to have all come,
// answering pings; an error reply fails.
func centReplies(ctx context.Context, ws *websocket.Conn, from, to int) error {
	left := to - from + 1
	for left > 0 {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			if string(line) == "{}" {
				ws.Write(ctx, websocket.MessageText, []byte("{}"))
				continue
			}
			var r struct {
				ID    int             `json:"id"`
				Error json.RawMessage `json:"error"`
			}
			if json.Unmarshal(line, &r) != nil || r.ID < from || r.ID > to {
				continue
			}
			if len(r.Error) > 0 {
				return fmt.Errorf("reply %s", line)
			}
			left--
		}
	}
	return nil
}
