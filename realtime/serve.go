package realtime

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/coder/websocket"
	"go.uber.org/zap"
)

// IsWebSocketPath reports whether p is the hub's: WSPath itself or anything
// under WSPath+"/" (so that a wrong path under it is answered with 4005 by
// ServeWebSocket rather than passed on). With WSPath "/" only "/" and
// "/app/..." are the hub's.
func (h *Hub) IsWebSocketPath(p string) bool {
	base := h.cfg.Load().wsBase
	if base == "" {
		return p == "/" || strings.HasPrefix(p, "/app/")
	}
	return p == base || strings.HasPrefix(p, base+"/")
}

// pathStatus is what a socket path asks for.
type pathStatus int

const (
	pathOK pathStatus = iota
	pathUnknownKey
	pathNotFound
)

// checkPath resolves the app key of a socket request: {base}/app/{key}, or
// {base} itself with ?app_key= (optional: the configured key by default).
func checkPath(cfg *config, p string, q url.Values) pathStatus {
	rest := p
	if cfg.wsBase != "" {
		var ok bool
		if rest, ok = strings.CutPrefix(p, cfg.wsBase); !ok {
			return pathNotFound
		}
	}
	switch {
	case rest == "" || rest == "/":
		if k := q.Get("app_key"); k != "" && k != cfg.AppKey {
			return pathUnknownKey
		}
		return pathOK
	case strings.HasPrefix(rest, "/app/"):
		key := rest[len("/app/"):]
		if key == "" || strings.Contains(key, "/") {
			return pathNotFound
		}
		if key != cfg.AppKey {
			return pathUnknownKey
		}
		return pathOK
	default:
		return pathNotFound
	}
}

// originAllowed reports whether the request's Origin may open a socket: no
// Origin (not a browser), an Origin matching an AllowedOrigins pattern, or,
// without patterns, an Origin whose host is the request's Host.
func originAllowed(cfg *config, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if len(cfg.AllowedOrigins) == 0 {
		return strings.EqualFold(u.Host, r.Host) || strings.EqualFold(stripPort(u.Host), stripPort(r.Host)) && sameDefaultPort(u, r)
	}
	for _, pat := range cfg.AllowedOrigins {
		if pat == "*" {
			return true
		}
		target := u.Host
		if strings.Contains(pat, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(pat), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

func stripPort(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// sameDefaultPort accepts "https://example.com" against Host "example.com:443"
// (and the reverse): the ports differ only by being implicit.
func sameDefaultPort(u *url.URL, r *http.Request) bool {
	port := func(hostport, scheme string) string {
		if _, p, err := net.SplitHostPort(hostport); err == nil {
			return p
		}
		if scheme == "https" || scheme == "wss" {
			return "443"
		}
		return "80"
	}
	reqScheme := "http"
	if r.TLS != nil {
		reqScheme = "https"
	}
	return port(u.Host, u.Scheme) == port(r.Host, reqScheme)
}

// ServeWebSocket upgrades r to a websocket owned by tenant and hands it to
// the hub's goroutines; it returns as soon as the socket is handed off, so
// the caller's (deep) handler stack is not kept. w may wrap the real writer
// (coder/websocket finds the hijacker through Unwrap).
//
// A refused Origin gets HTTP 403 and a request that is not a websocket
// upgrade (or comes over HTTP/2 or HTTP/3) gets 426, both before any upgrade.
// Unknown key (4001), wrong path (4005), old protocol (4007) and tenant
// quota (4004) are answered after the upgrade with pusher:error and a close,
// as pusher-js expects. ServeWebSocket returns an error only when it wrote
// nothing: ErrClosed after Close.
func (h *Hub) ServeWebSocket(w http.ResponseWriter, r *http.Request, tenant string) error {
	if h.isClosed.Load() {
		return ErrClosed
	}
	cfg := h.cfg.Load()
	log := cfg.Logger
	if !originAllowed(cfg, r) {
		if ce := log.Check(zap.DebugLevel, "realtime: origin refused"); ce != nil {
			ce.Write(zap.String("origin", r.Header.Get("Origin")), zap.String("host", r.Host))
		}
		http.Error(w, "websocket: origin not allowed", http.StatusForbidden)
		return nil
	}
	if r.ProtoMajor != 1 {
		http.Error(w, "websocket: only HTTP/1.1 upgrades are supported", http.StatusUpgradeRequired)
		return nil
	}

	c := newConn(h, cfg, tenant)
	if cfg.Authorizer != nil {
		c.upgrade = upgradeRequestOf(r)
	}
	// Hijack through sockHijacker: the socket gets small buffers, and the
	// hub writes its frames to the connection itself (sock.go).
	aw := w
	if hj := newSockHijacker(w, &c.sw); hj != nil {
		aw = hj
	}
	ws, err := websocket.Accept(aw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // origin checked above, with our own rules
		CompressionMode:    websocket.CompressionDisabled,
		OnPingReceived: func(context.Context, []byte) bool {
			c.touch()
			return true
		},
		OnPongReceived: func(context.Context, []byte) { c.touch() },
	})
	if err != nil {
		// Accept has written the error response.
		if ce := log.Check(zap.DebugLevel, "realtime: upgrade failed"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return nil
	}
	ws.SetReadLimit(cfg.hardReadLimit)
	c.ws = ws

	switch checkPath(cfg, r.URL.Path, r.URL.Query()) {
	case pathUnknownKey:
		h.refuse(ws, cfg, CodeAppNotFound, "Application does not exist")
		return nil
	case pathNotFound:
		h.refuse(ws, cfg, CodePathNotFound, "Path not found")
		return nil
	}
	if p := r.URL.Query().Get("protocol"); p != "" {
		if v, err := strconv.Atoi(p); err == nil && v < 5 {
			h.refuse(ws, cfg, CodeUnsupportedProtocol, "Unsupported protocol version")
			return nil
		}
	}

	switch code := h.register(c, cfg); code {
	case 0:
	case CodeOverQuota:
		h.refuse(ws, cfg, CodeOverQuota, "Over connection quota")
		return nil
	default:
		h.refuse(ws, cfg, code, "server shutting down, reconnect")
		return nil
	}
	// The handshake is the first frame in the queue; newConn left writing
	// set, so this first writer is started here.
	c.enqueue(handshakeFrame(c.id, cfg.activitySec))
	c.startWriter()
	go c.readLoop()
	if ce := log.Check(zap.DebugLevel, "realtime: socket open"); ce != nil {
		ce.Write(zap.String("socket_id", c.id), zap.String("tenant", tenant))
	}
	return nil
}

// refuse sends pusher:error code and closes the socket with the same code,
// on a goroutine the hub waits for.
func (h *Hub) refuse(ws *websocket.Conn, cfg *config, code int, msg string) {
	cfg.Observer.Refused(RefusedConnection)
	h.connsMu.Lock()
	if h.closed {
		h.connsMu.Unlock()
		_ = ws.CloseNow()
		return
	}
	h.wg.Add(1)
	h.connsMu.Unlock()
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), cfg.WriteTimeout)
		_ = ws.Write(ctx, websocket.MessageText, errorFrame(code, msg))
		cancel()
		_ = ws.Close(websocket.StatusCode(code), msg)
	}()
}
