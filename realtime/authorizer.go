package realtime

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// Authorizer decides, for a socket that subscribes to a private- or
// presence- channel without "auth", whether it may (for clients
// that cannot call the app's auth endpoint themselves). The hub calls it on
// the socket's reader, so the socket's later messages wait for the answer;
// ctx ends when the socket does. Implementations must be safe for
// concurrent use. laravel.UpstreamAuthorizer asks the app.
type Authorizer interface {
	Authorize(ctx context.Context, req AuthRequest) AuthResult
}

// AuthRequest is one subscription to authorise.
type AuthRequest struct {
	// Tenant is the socket's tenant.
	Tenant string
	// SocketID is the socket's id ("123.456").
	SocketID string
	// Channel is the full channel name ("private-record.flow.1").
	Channel string
	// Upgrade is what the hub kept of the socket's upgrade request.
	Upgrade *UpgradeRequest
}

// UpgradeRequest is what the hub keeps of a socket's websocket upgrade
// request when an Authorizer is configured: where it came in and the
// caller's credentials. Cookie and Authorization are secrets: String leaves
// them out, and nothing logs them.
type UpgradeRequest struct {
	// Host is the upgrade's Host header.
	Host string
	// TLS is set when the upgrade came over TLS.
	TLS bool
	// LocalNetwork and LocalAddr are the local address the upgrade's
	// connection was accepted on (http.LocalAddrContextKey), e.g. "tcp",
	// "127.0.0.1:8080"; empty when unknown.
	LocalNetwork, LocalAddr string
	// Cookie and Authorization are the upgrade's headers of those names
	// (several Cookie headers joined with "; ").
	Cookie, Authorization string
}

// String describes u without its credentials.
func (u *UpgradeRequest) String() string {
	if u == nil {
		return "<nil>"
	}
	return fmt.Sprintf("upgrade{host=%q tls=%v local=%s cookie=%dB authorization=%dB}",
		u.Host, u.TLS, u.LocalAddr, len(u.Cookie), len(u.Authorization))
}

// upgradeRequestOf captures r for an Authorizer.
func upgradeRequestOf(r *http.Request) *UpgradeRequest {
	u := &UpgradeRequest{
		Host:          r.Host,
		TLS:           r.TLS != nil,
		Cookie:        strings.Join(r.Header.Values("Cookie"), "; "),
		Authorization: r.Header.Get("Authorization"),
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && a != nil {
		u.LocalNetwork, u.LocalAddr = a.Network(), a.String()
	}
	return u
}

// AuthResult is an Authorizer's answer.
type AuthResult struct {
	// Allowed grants the subscription.
	Allowed bool
	// Status is the app's HTTP status, or 503 when the app could not be
	// asked (busy, timed out, unreachable); it is the status of a refusal's
	// pusher:subscription_error.
	Status int
	// ChannelData is a presence grant's channel_data (a JSON object with
	// user_id), as the app answered it.
	ChannelData string
	// Message explains a refusal to the client.
	Message string
	// Cached is set when the answer came from the cache.
	Cached bool
}

// upstreamAuthorize authorises c's subscription to name through the
// configured Authorizer (no "auth" sent). It returns the presence member
// data for presence channels, or queues the subscription error and
// reports false. readLoop only.
func (c *conn) upstreamAuthorize(cfg *config, name string, kind pusher.Kind) (pusher.Member, bool) {
	res := cfg.Authorizer.Authorize(doneContext{c.done}, AuthRequest{
		Tenant: c.tenant, SocketID: c.id, Channel: name, Upgrade: c.upgrade,
	})
	if !res.Allowed {
		status := res.Status
		if status == 0 {
			status = http.StatusUnauthorized
		}
		msg := res.Message
		if msg == "" {
			msg = "refused by the app"
		}
		c.refuseSubscription(RefusedByApp, name, subErrAuth, "auth failed: "+msg, status)
		return pusher.Member{}, false
	}
	if kind != pusher.KindPresence {
		return pusher.Member{}, true
	}
	member, err := pusher.ParseChannelData(res.ChannelData)
	if err != nil {
		c.refuseSubscription(RefusedByApp, name, subErrInvalid, "invalid channel_data from the app: "+err.Error(), 400)
		return pusher.Member{}, false
	}
	return member, true
}

// doneContext is a context.Context that ends when done is closed (a
// socket's stop), with no allocation or goroutine of its own.
type doneContext struct{ done <-chan struct{} }

func (doneContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (d doneContext) Done() <-chan struct{}     { return d.done }
func (d doneContext) Err() error {
	select {
	case <-d.done:
		return context.Canceled
	default:
		return nil
	}
}
func (doneContext) Value(any) any { return nil }
