package realtime

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/recordsync/recordsync/pusher"
)

// User sign-in and user channels (the Pusher protocol docs,
// "pusher:signin" and "pusher:signin_success"; the Pusher docs, "User
// authentication", "Server to user messages" and "Terminating user
// connections"):
//
//   - a socket signs in with pusher:signin {auth, user_data}, the answer of
//     the app's user authentication endpoint (Laravel's
//     /broadcasting/user-auth): auth must be the app key and the
//     HMAC-SHA256 of "socket_id::user::user_data" under the app secret
//     (pusher.VerifyUserAuth), and user_data a JSON object with an "id".
//     The socket is then signed in as that id, and gets
//     pusher:signin_success {"user_data": user_data}: pusher-js's UserFacade
//     (src/core/user.ts) parses user_data and subscribes to the user's
//     channel. A refusal is pusher:error 4009 and the socket stays up;
//     a socket signed in as one user cannot sign in as another.
//   - "#server-to-user-{id}" (pusher.UserChannelPrefix) opens, without
//     auth, only to a socket signed in as id; anyone else gets
//     pusher:subscription_error AuthError 401.
//   - the HTTP API publishes to a user's channel like to any channel
//     (pusher-http-node's sendToUser triggers on it): every socket of that
//     user in the tenant gets the event, on every instance of a cluster
//     (the cluster shares publishes).
//   - POST /apps/{app_id}/users/{user_id}/terminate_connections closes the
//     user's sockets of the tenant with 4009, on every instance of a
//     cluster (UserTerminator).

// CodeUnauthorized is the Pusher protocol's 4009 "Connection is
// unauthorized": the pusher:error of a refused sign-in (the socket stays
// up) and the close code of a socket terminate_connections closes (4000–4099:
// pusher-js does not reconnect by itself, as Soketi does it).
const CodeUnauthorized = 4009

// RefusedSignin is the Observer.Refused reason of a pusher:signin refused
// (a signature or user_data that does not verify, another user than the
// one the socket is signed in as) and of a subscription to a user channel
// by a socket not signed in as that user.
const RefusedSignin = "signin"

// UserTerminator is what a Broker also implements to close a user's
// sockets on the other instances of a cluster (package cluster's Link
// does); the hub asks it with a type assertion, so a Broker without it
// terminates on its own instance only.
type UserTerminator interface {
	// TerminateUser tells the other instances to close the sockets of
	// tenant signed in as userID (they call Hub.TerminateLocalUser). It
	// must not block.
	TerminateUser(tenant, userID string)
}

// userIndex holds the signed-in sockets by (tenant, user id); its zero
// value is ready.
type userIndex struct {
	mu sync.Mutex
	m  map[chanKey]map[*conn]struct{}
}

func (u *userIndex) add(k chanKey, c *conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = make(map[chanKey]map[*conn]struct{})
	}
	s := u.m[k]
	if s == nil {
		s = make(map[*conn]struct{}, 1)
		u.m[k] = s
	}
	s[c] = struct{}{}
}

func (u *userIndex) remove(k chanKey, c *conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if s := u.m[k]; s != nil {
		delete(s, c)
		if len(s) == 0 {
			delete(u.m, k)
		}
	}
}

func (u *userIndex) sockets(k chanKey) []*conn {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.m[k]
	out := make([]*conn, 0, len(s))
	for c := range s {
		out = append(out, c)
	}
	return out
}

// signinData is the data of pusher:signin.
type signinData struct {
	Auth     string
	UserData string
}

// Errors of parseSigninData; their text reaches the client in pusher:error.
var (
	errSigninAuth     = errors.New(`"auth" must be a non-empty string`)
	errSigninUserData = errors.New(`"user_data" must be a non-empty string`)
)

// parseSigninData decodes the data of pusher:signin: an object with "auth"
// and "user_data", both non-empty strings (pusher-js sends the object; a
// JSON string holding it is accepted too, as for pusher:subscribe). It
// never panics.
func parseSigninData(raw json.RawMessage) (signinData, error) {
	var d signinData
	m, err := dataObject(raw)
	if err != nil {
		return d, err
	}
	if d.Auth, err = optString(m["auth"]); err != nil || d.Auth == "" {
		return signinData{}, errSigninAuth
	}
	if d.UserData, err = optString(m["user_data"]); err != nil || d.UserData == "" {
		return signinData{}, errSigninUserData
	}
	return d, nil
}

// signin handles pusher:signin (see the top of this file). readLoop only.
func (c *conn) signin(cfg *config, raw json.RawMessage) {
	d, err := parseSigninData(raw)
	if err != nil {
		c.refuseMessage("invalid pusher:signin: " + err.Error())
		return
	}
	if err := pusher.VerifyUserAuth(cfg.AppKey, cfg.AppSecret, c.id, d.UserData, d.Auth); err != nil {
		c.refuseSignin("sign-in refused: " + err.Error())
		return
	}
	id, err := pusher.ParseUserData(d.UserData)
	if err == nil && !pusher.ValidUserID(id) {
		err = pusher.ErrUserData
	}
	if err != nil {
		c.refuseSignin("sign-in refused: " + err.Error())
		return
	}
	if c.user != "" && c.user != id {
		c.refuseSignin("sign-in refused: the connection is signed in as another user")
		return
	}
	if c.user == "" {
		c.user = id
		c.hub.users.add(chanKey{c.tenant, id}, c)
	}
	c.enqueue(signinSuccessFrame(d.UserData))
}

// refuseSignin answers pusher:error 4009, counted as RefusedSignin; the
// socket stays up (its public and private channels are not the sign-in's
// business).
func (c *conn) refuseSignin(msg string) {
	c.hub.cfg.Load().Observer.Refused(RefusedSignin)
	c.sendError(CodeUnauthorized, msg)
}

// signOut forgets c's sign-in when the socket ends. readLoop only.
func (c *conn) signOut() {
	if c.user != "" {
		c.hub.users.remove(chanKey{c.tenant, c.user}, c)
	}
}

// subscribeUser handles pusher:subscribe to the user channel of id: only a
// socket signed in as id may, without auth. readLoop only.
func (c *conn) subscribeUser(cfg *config, name, id string) {
	if c.user != id {
		c.refuseSubscription(RefusedSignin, name, subErrAuth,
			"auth failed: the connection is not signed in as the user of "+quoteForMsg(name), 401)
		return
	}
	if _, ok := c.channels[name]; ok {
		c.enqueue(subscriptionSucceededFrame(name)) // idempotent, as for other channels
		return
	}
	if cfg.MaxChannelsPerConn > 0 && len(c.channels) >= cfg.MaxChannelsPerConn {
		c.refuseSubscription(RefusedLimit, name, subErrLimit,
			"too many channels on this connection (limit "+itoa64(int64(cfg.MaxChannelsPerConn))+")", 429)
		return
	}
	c.hub.addSub(c, chanKey{c.tenant, name})
	c.enqueue(subscriptionSucceededFrame(name))
	if c.channels == nil {
		c.channels = make(map[string]struct{}, 2)
	}
	c.channels[name] = struct{}{}
}

// signinSuccessFrame is pusher:signin_success with data
// {"user_data":"<the user_data string signed in with>"}.
func signinSuccessFrame(userData string) []byte {
	data := make([]byte, 0, 16+len(userData)*11/10)
	data = append(data, `{"user_data":`...)
	data = pusher.AppendJSONString(data, userData)
	data = append(data, '}')
	return eventFrame("pusher:signin_success", "", data)
}

// validEventChannel reports whether an event may be published on name: a
// channel name ValidChannelName accepts, or a user's channel.
func validEventChannel(name string) bool {
	if pusher.ValidChannelName(name) {
		return true
	}
	_, ok := pusher.UserOfChannel(name)
	return ok
}

// TerminateUser closes, with 4009, every socket of tenant signed in as
// userID on this instance and, when the cluster's Broker is a
// UserTerminator, on the other instances. It returns how many sockets it
// closed here.
func (h *Hub) TerminateUser(tenant, userID string) int {
	n := h.TerminateLocalUser(tenant, userID)
	if t, ok := h.clusterBroker().(UserTerminator); ok {
		t.TerminateUser(tenant, userID)
	}
	return n
}

// TerminateLocalUser closes, with 4009, the sockets of tenant signed in as
// userID on this instance only (how another instance's TerminateUser
// arrives), and returns how many.
func (h *Hub) TerminateLocalUser(tenant, userID string) int {
	conns := h.users.sockets(chanKey{tenant, userID})
	for _, c := range conns {
		c.stop(CodeUnauthorized, "connection terminated by the app")
	}
	return len(conns)
}

// terminatePath returns the user of an HTTP API path
// users/{user_id}/terminate_connections (rest is the path after
// /apps/{app_id}/): ok is false for any other path.
func terminatePath(rest string) (userID string, ok bool) {
	mid, ok := strings.CutPrefix(rest, "users/")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(mid, "/terminate_connections")
}

// terminateConnections answers POST users/{user_id}/terminate_connections:
// {} once the user's sockets of tenant are told to close.
func (h *Hub) terminateConnections(method, userID, tenant string) ([]byte, error) {
	if method != http.MethodPost {
		return nil, apiErrorf(http.StatusMethodNotAllowed, "method %s not allowed, use %s", method, http.MethodPost)
	}
	if strings.Contains(userID, "/") || !pusher.ValidUserID(userID) {
		return nil, apiErrorf(http.StatusBadRequest, "invalid user id %s", quoteForMsg(userID))
	}
	h.TerminateUser(tenant, userID)
	return []byte("{}"), nil
}
