package realtime

import (
	"time"

	"github.com/recordsync/recordsync/pusher"
)

// Sign signs a subscription to channel for the socket socketID, as an app's
// /broadcasting/auth would with the pusher broadcaster: it returns
// "key:hex(hmac_sha256(secret, socket_id:channel[:channel_data]))" under the
// current credentials. It signs only for an open socket of tenant (of this
// hub, or, with a SocketDirectory, of another instance of the cluster), and only
// what that socket could then subscribe with: a private- channel without
// channelData, or a presence- channel with a channelData the hub accepts
// (a JSON object with user_id). Anything else reports false. It implements
// the proxy's Signer, which calls it after the app authorised the request.
// Safe for concurrent use.
func (h *Hub) Sign(tenant, socketID, channel, channelData string) (auth string, ok bool) {
	if !pusher.ValidChannelName(channel) {
		return "", false
	}
	switch pusher.KindOf(channel) {
	case pusher.KindPrivate:
		if channelData != "" {
			return "", false
		}
	case pusher.KindPresence:
		if _, err := pusher.ParseChannelData(channelData); err != nil {
			return "", false
		}
	default:
		return "", false
	}
	if !h.SocketOpen(tenant, socketID) {
		return "", false
	}
	cfg := h.cfg.Load()
	return pusher.ChannelAuth(cfg.AppKey, cfg.AppSecret, socketID, channel, channelData), true
}

// SignUser signs a user sign-in (pusher:signin) of the socket socketID
// with userData, as an app's /broadcasting/user-auth would with the pusher
// broadcaster: "key:hex(hmac_sha256(secret, socket_id::user::user_data))"
// under the current credentials, only for an open socket of tenant and a
// userData pusher.ParseUserData accepts. It implements the proxy's Signer,
// which calls it after the app authenticated the user. Safe for concurrent
// use.
func (h *Hub) SignUser(tenant, socketID, userData string) (auth string, ok bool) {
	if _, err := pusher.ParseUserData(userData); err != nil || !h.SocketOpen(tenant, socketID) {
		return "", false
	}
	cfg := h.cfg.Load()
	return pusher.UserAuth(cfg.AppKey, cfg.AppSecret, socketID, userData), true
}

// SocketOpen reports whether socketID is an open socket of tenant: of this
// hub, or, with a SocketDirectory, of another instance of the cluster.
// Redis trouble answers false, like an unknown socket: a grant is never let
// through blind. It implements the proxy's Signer. Safe for concurrent use.
func (h *Hub) SocketOpen(tenant, socketID string) bool {
	h.connsMu.Lock()
	c := h.conns[socketID]
	h.connsMu.Unlock()
	if c != nil {
		return c.tenant == tenant && !c.stopped()
	}
	d := h.socketDirectory()
	if d == nil {
		return false
	}
	owner, found, err := d.Lookup(socketID)
	if err == nil && !found {
		// The other instance registers a new socket in the background:
		// pusher-js asks for its grant right after connecting, which can
		// overtake the registration. A miss is asked once more.
		time.Sleep(directoryRetry)
		owner, found, err = d.Lookup(socketID)
	}
	return err == nil && found && owner == tenant
}

// directoryRetry is how long SocketOpen waits before asking the cluster's
// socket directory a second time about a socket it did not know.
const directoryRetry = 50 * time.Millisecond
