package harness

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// BuildCaddy builds the Caddy binary with recordsync (./cmd/caddy of the
// checkout at repo) into bin.
func BuildCaddy(repo, bin string) error {
	build := exec.Command("go", "build", "-o", bin, "./cmd/caddy")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	return nil
}

// Global is the Caddyfile's global options block as these servers use it
// (https://caddyserver.com/docs/caddyfile/options): the admin API and the
// HTTP port on 127.0.0.1, no automatic HTTPS, no local CA installed, no
// autosaved config, a short grace period and a log level.
type Global struct {
	// AdminPort is the admin API's port on 127.0.0.1; HTTPPort is
	// http_port, the port of sites without one. StartCaddy fills the ones
	// left 0 with free ports.
	AdminPort, HTTPPort int
	// GracePeriod is grace_period, how long a stop or reload waits for
	// open requests (e.g. "2s").
	GracePeriod string
	// LogLevel is the default logger's level (e.g. "WARN"; default ERROR).
	LogLevel string
	// Extra are more option lines, e.g. "metrics" (per-handler HTTP
	// metrics).
	Extra []string
}

// String is the block, ending with a newline.
func (g Global) String() string {
	level := g.LogLevel
	if level == "" {
		level = "ERROR"
	}
	lines := []string{
		fmt.Sprintf("admin 127.0.0.1:%d", g.AdminPort),
		fmt.Sprintf("http_port %d", g.HTTPPort),
		"auto_https off",
		"skip_install_trust",
	}
	if g.GracePeriod != "" {
		lines = append(lines, "grace_period "+g.GracePeriod)
	}
	lines = append(lines, "persist_config off")
	lines = append(lines, g.Extra...)
	lines = append(lines, Block("log", "level "+level))
	return Site("", lines...)
}

// Indent is lines, each on its own line and indented by one tab (a
// directive of several lines is indented as a whole): a block's body.
func Indent(lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		for _, s := range strings.Split(l, "\n") {
			if s != "" {
				b.WriteByte('\t')
			}
			b.WriteString(s)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Block is "head {", the lines indented, and "}" (no final newline): a
// directive with a block, e.g. Block("recordsync", "record flow /api/v1/flows/{id}").
func Block(head string, lines ...string) string {
	if head != "" {
		head += " "
	}
	return head + "{\n" + Indent(lines...) + "}"
}

// Site is a site block with its directives, ending with a newline, e.g.
// Site(":{PORT}", "reverse_proxy 127.0.0.1:8080"). In a site given to
// StartCaddy or Reload the token {PORT} stands for the HTTP port (it is
// not a Caddy placeholder; those are {http.*}, {env.*}, ...).
func Site(address string, directives ...string) string {
	return Block(address, directives...) + "\n"
}

// CaddyOptions say how StartCaddy runs Caddy.
type CaddyOptions struct {
	// Bin is the Caddy binary (BuildCaddy).
	Bin string
	// Dir is an empty folder of this Caddy's own: its Caddyfile, and its
	// HOME, XDG_DATA_HOME and XDG_CONFIG_HOME (Caddy's storage).
	Dir string
	// WorkDir is its working directory (default Dir).
	WorkDir string
	// Name names it in errors (default "caddy").
	Name string
	// Global is the global options block; its 0 ports are filled.
	Global Global
	// Env is added to its environment, e.g. for {env.NAME} in the site.
	Env []string
	// Group, Output and StopTimeout are as in Options.
	Group       bool
	Output      *Output
	StopTimeout time.Duration
	// Wait is how long it may take to listen on the HTTP port (default 20 s).
	Wait time.Duration
}

// Caddy is a running Caddy.
type Caddy struct {
	*Proc
	// AdminPort and HTTPPort are Global's.
	AdminPort, HTTPPort int

	bin, path string
	global    Global
}

// StartCaddy writes Global and site (with {PORT} replaced) to
// o.Dir/Caddyfile, runs `caddy run` on it and waits until the HTTP port
// accepts connections. The caller stops it.
func StartCaddy(o CaddyOptions, site string) (*Caddy, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	if o.Global.AdminPort == 0 {
		o.Global.AdminPort = ports[0]
	}
	if o.Global.HTTPPort == 0 {
		o.Global.HTTPPort = ports[1]
	}
	c := &Caddy{AdminPort: o.Global.AdminPort, HTTPPort: o.Global.HTTPPort,
		bin: o.Bin, path: filepath.Join(o.Dir, "Caddyfile"), global: o.Global}
	if err := os.WriteFile(c.path, []byte(c.Config(site)), 0o644); err != nil {
		return nil, err
	}
	if o.Name == "" {
		o.Name = "caddy"
	}
	if o.WorkDir == "" {
		o.WorkDir = o.Dir
	}
	if o.Wait <= 0 {
		o.Wait = 20 * time.Second
	}
	env := append(append([]string(nil), o.Env...), "HOME="+o.Dir, "XDG_DATA_HOME="+o.Dir, "XDG_CONFIG_HOME="+o.Dir)
	c.Proc, err = Start(Options{Name: o.Name, Dir: o.WorkDir, Env: env, Group: o.Group, Output: o.Output, StopTimeout: o.StopTimeout},
		o.Bin, "run", "--config", c.path, "--adapter", "caddyfile")
	if err != nil {
		return nil, err
	}
	if err := c.WaitListen(c.Addr(), o.Wait); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Addr is the HTTP port's address, "127.0.0.1:port".
func (c *Caddy) Addr() string { return "127.0.0.1:" + strconv.Itoa(c.HTTPPort) }

// URL is the base URL of the site on the HTTP port.
func (c *Caddy) URL() string { return "http://" + c.Addr() }

// Log is what Caddy printed so far.
func (c *Caddy) Log() string { return c.Output() }

// Config is the whole Caddyfile for site: the global options, then site
// with {PORT} replaced by the HTTP port.
func (c *Caddy) Config(site string) string {
	return c.global.String() + strings.ReplaceAll(site, "{PORT}", strconv.Itoa(c.HTTPPort))
}

// Reload loads a new site (same global options) into the running Caddy
// through its admin API, as `caddy reload` does
// (https://caddyserver.com/docs/command-line#caddy-reload).
func (c *Caddy) Reload(site string) error {
	if err := os.WriteFile(c.path, []byte(c.Config(site)), 0o644); err != nil {
		return err
	}
	out, err := exec.Command(c.bin, "reload", "--config", c.path, "--adapter", "caddyfile",
		"--address", "127.0.0.1:"+strconv.Itoa(c.AdminPort), "--force").CombinedOutput()
	if err != nil {
		return fmt.Errorf("caddy reload: %v\n%s", err, out)
	}
	return nil
}

var adminClient = &http.Client{Timeout: 30 * time.Second}

// Metrics scrapes the admin API's /metrics (Prometheus text format,
// https://caddyserver.com/docs/metrics) into "name{labels}" → value, the
// labels as Caddy prints them.
func (c *Caddy) Metrics() (map[string]float64, error) {
	resp, err := adminClient.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", c.AdminPort))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
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
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}
