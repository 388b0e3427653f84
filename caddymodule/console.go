package caddymodule

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/recordsync/recordsync/engine"
)

// ConsoleConfig is the live console (README, "Live console"): a page on
// Path showing the viewers' tenants' sockets, channels, presence members
// and a live stream of events, with a form to send a test event. Off
// without it.
type ConsoleConfig struct {
	// Path is where the console is served, e.g. "/_recordsync". Required.
	Path string `json:"path"`
	// Viewers are who may open it, and which tenants each sees. At least
	// one.
	Viewers []ConsoleViewerConfig `json:"viewers"`
	// User is the placeholder giving the user name an authentication in
	// front of recordsync (basic_auth, forward_auth copying a header...)
	// established; a viewer of that name opens the console. Default:
	// "{http.auth.user.id}" (Caddy's authentication handlers).
	User string `json:"user,omitempty"`
	// Payloads shows events' data and presence members' user_info.
	// Default: off (names, channels, sizes and sources only).
	Payloads bool `json:"payloads,omitempty"`
}

// ConsoleViewerConfig is one viewer of the console.
type ConsoleViewerConfig struct {
	// Name is matched against the user an authentication in front
	// established (ConsoleConfig.User).
	Name string `json:"name"`
	// Tenants are the patterns of the tenants the viewer sees ("*" for
	// any run of characters, "*" alone for every tenant, the only pattern
	// that matches the tenant of a site without tenancy).
	Tenants []string `json:"tenants"`
	// Token, when set, lets the viewer sign in with it in the console's
	// form (or send it as Authorization: Bearer): at least 16 characters.
	// Placeholders are evaluated at provisioning, e.g.
	// "{env.RECORDSYNC_CONSOLE_TOKEN}".
	Token string `json:"token,omitempty"`
}

// defaultConsoleUser is ConsoleConfig.User's default.
const defaultConsoleUser = "{http.auth.user.id}"

// parseConsole reads
//
//	console <path> {
//		viewer <name> <tenant pattern>... [{ token <secret> }]
//		user <placeholder>
//		payloads
//	}
func (h *Handler) parseConsole(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return d.Errf("console takes the console's path, e.g. console /_recordsync { viewer ops * }")
	}
	if err := engine.ValidateConsolePath(args[0]); err != nil {
		return d.Errf("%v", err)
	}
	c := &ConsoleConfig{Path: args[0]}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		key := d.Val()
		if key != "viewer" && seen[key] {
			return d.Errf("duplicate console subdirective %q", key)
		}
		seen[key] = true
		switch key {
		case "viewer":
			v, err := parseViewer(d, c.Viewers)
			if err != nil {
				return err
			}
			c.Viewers = append(c.Viewers, v)
		case "user":
			if err := oneString(d, &c.User); err != nil {
				return err
			}
		case "payloads":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.Payloads = true
		default:
			return d.Errf("unrecognized console subdirective %q (want viewer, user or payloads)", key)
		}
	}
	if len(c.Viewers) == 0 {
		return d.Errf("console %s has no viewer: add viewer <name> <tenant pattern>... (the console is closed to everyone without one)", c.Path)
	}
	h.Console = c
	return nil
}

// parseViewer reads `viewer <name> <tenant pattern>... [{ token <secret> }]`.
func parseViewer(d *caddyfile.Dispenser, others []ConsoleViewerConfig) (ConsoleViewerConfig, error) {
	args := d.RemainingArgs()
	if len(args) < 2 {
		return ConsoleViewerConfig{}, d.Errf("viewer takes a name and the tenants it sees, e.g. viewer alice a.example.com *.b.example.com, or viewer ops *")
	}
	v := ConsoleViewerConfig{Name: args[0], Tenants: args[1:]}
	for _, o := range others {
		if o.Name == v.Name {
			return v, d.Errf("console viewer %q is declared twice", v.Name)
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "token" || v.Token != "" {
			return v, d.Errf("a viewer's block takes one token <secret>, got %q", d.Val())
		}
		if err := oneString(d, &v.Token); err != nil {
			return v, err
		}
		if !strings.Contains(v.Token, "{") && len(v.Token) < engine.MinConsoleToken {
			return v, d.Errf("console viewer %q: the token must be at least %d characters", v.Name, engine.MinConsoleToken)
		}
	}
	return v, nil
}

// provisionConsole builds the console on the Engine, with the tokens'
// placeholders evaluated. Errors name the console's setting at fault.
func (h *Handler) provisionConsole(eng *engine.Engine) error {
	c := h.Console
	if c == nil {
		return nil
	}
	if c.User == "" {
		c.User = defaultConsoleUser
	}
	repl := caddy.NewReplacer()
	opts := engine.ConsoleOptions{Path: c.Path, Payloads: c.Payloads, Logger: h.logger}
	for i, v := range c.Viewers {
		tok := v.Token
		if tok != "" {
			tok = repl.ReplaceKnown(tok, "")
			if tok == "" {
				return fmt.Errorf("recordsync: console viewer %q (console.viewers[%d]): the token %s is empty", v.Name, i, v.Token)
			}
		}
		opts.Viewers = append(opts.Viewers, engine.ConsoleViewer{Name: v.Name, Tenants: v.Tenants, Token: tok})
	}
	con, err := eng.NewConsole(opts)
	if err != nil {
		return fmt.Errorf("recordsync: console %s: %w", c.Path, err)
	}
	h.console = con
	return nil
}

// validateConsole checks the console's path against the websocket's.
func (h *Handler) validateConsole() error {
	c := h.Console
	if c == nil {
		return nil
	}
	if err := engine.ValidateConsolePath(c.Path); err != nil {
		return fmt.Errorf("recordsync: %w", err)
	}
	ws := h.WebSocket.Path
	if ws == "" {
		ws = "/ws"
	}
	if c.Path == ws || strings.HasPrefix(c.Path, ws+"/") || strings.HasPrefix(ws, c.Path+"/") {
		return fmt.Errorf("recordsync: console path %s overlaps the websocket path %s", c.Path, ws)
	}
	return nil
}

// serveConsole serves a request under the console's path, with the user
// the configured placeholder names (resolved here: only this package
// knows Caddy's placeholders).
func (h *Handler) serveConsole(w http.ResponseWriter, r *http.Request) {
	var user string
	if repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); repl != nil {
		user = repl.ReplaceAll(h.Console.User, "")
	}
	h.console.ServeHTTP(w, r, engine.ConsoleRequest{User: user})
}
