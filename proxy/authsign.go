package proxy

import (
	"bytes"
	"crypto/subtle"
	"net/http"

	"go.uber.org/zap"

	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/pusher"
)

// Signer is what the proxy needs of the realtime hub for the app's channel
// authorisation answers. Both methods know every open socket of the
// cluster, not only this instance's.
type Signer interface {
	// SocketOpen reports whether socketID is an open socket of tenant.
	SocketOpen(tenant, socketID string) bool
	// Sign signs a channel subscription for a socket: it returns ok only
	// for an open socket of tenant, and signs exactly socketID:channel
	// (private) or socketID:channel:channelData (presence) with the
	// current app credentials.
	Sign(tenant, socketID, channel, channelData string) (auth string, ok bool)
	// SignUser signs a user sign-in (pusher:signin) for a socket: ok only
	// for an open socket of tenant and a userData the hub accepts; it
	// signs exactly socketID::user::userData.
	SignUser(tenant, socketID, userData string) (auth string, ok bool)
}

// Results passed to Observer.AuthSignature, one per answer of the auth
// endpoint.
const (
	// AuthSigned: recordsync signed the app's unsigned grant.
	AuthSigned = "signed"
	// AuthPassed: the answer went through as the app gave it: a refusal
	// or any other non-2xx, or a 2xx for an open socket of the request's
	// tenant (an app-signed grant among them).
	AuthPassed = "passed"
	// AuthUnsigned: an unsigned grant (`true`, a bare channel_data) went
	// through unsigned, as the app gave it: recordsync did not read the
	// request as PHP did, or the grant does not fit the channel.
	AuthUnsigned = "unsigned"
	// AuthRefused: recordsync answered 403 in place of the app's 2xx: the
	// socket is not an open one of the request's tenant, the request was
	// not read as PHP read it (so the socket the app granted is unknown),
	// or the answer was too large to inspect.
	AuthRefused = "refused"
)

// Bounds of the channel authorisation exchange.
const (
	// maxAuthRequestBytes bounds the auth request body read for socket_id
	// and channel_name (pusher-js sends some 60 bytes); a larger body is
	// not read, so a grant for it is not signed.
	maxAuthRequestBytes = 8 << 10
	// maxAuthAnswerBytes bounds the app's answer held for inspection.
	maxAuthAnswerBytes = 64 << 10
)

// serveAuth handles a request to the auth endpoint. The app decides, as
// always, through routes/channels.php; recordsync completes an answer that
// grants the channel without a signature — Laravel's redis broadcaster
// answers `true` (private) or {"channel_data":{...}} (presence) where
// pusher-js needs {"auth":"key:sig"[,"channel_data":"..."]} — and lets a
// grant through only for a socket of the tenant that granted it.
//
// The request is read exactly as PHP and Laravel read it (laravel.ReadAuthRequest),
// or not at all. Then, for a 2xx answer:
//   - the socket_id must be an open socket of the request's tenant (in the
//     cluster); else recordsync answers 403, whatever the app signed;
//   - a grant the app signed must carry exactly the signature recordsync
//     would make for the socket_id and channel_name it read (and the
//     answer's channel_data); else 403;
//   - an unsigned grant of the request's channel kind is signed for exactly
//     the socket_id and channel_name read; a presence answer's channel_data
//     is serialised once (compacted, keys and numbers as the app wrote them)
//     and that string is both signed and sent;
//   - when the request was not read as PHP did, an unsigned grant passes
//     unsigned (pusher-js cannot use it) and any other 2xx is answered 403:
//     the socket the app granted is unknown.
//
// Anything else passes untouched, and the request body reaches the app
// byte for byte.
//
// With user, the request is to the user authentication endpoint
// (pusher:signin): the same rules, with the socket_id alone read from the
// request, and user_data in the place of channel_data — an unsigned answer
// being the user's info itself, as Laravel's base Broadcaster answers for
// the redis broadcaster.
func (h *Handler) serveAuth(w http.ResponseWriter, r *http.Request, info RequestInfo, next Next, user bool) error {
	noTenant := info.Tenanted && info.Tenant == ""
	if noTenant {
		// No socket has an empty tenant: every grant is refused below.
		h.obs.TenantMissing()
	}
	var socketID, channel string
	var readErr error
	if user {
		socketID, readErr = laravel.ReadUserAuthRequest(r, maxAuthRequestBytes)
	} else {
		socketID, channel, readErr = laravel.ReadAuthRequest(r, maxAuthRequestBytes)
	}
	owned := readErr == nil && !noTenant && h.opts.Signer.SocketOpen(info.Tenant, socketID)
	// The grant memory (grants.go): a grant the app gave this caller for
	// this channel in this tenant answers for the app.
	memo := h.opts.Grants != nil && !user && readErr == nil && !noTenant && !fromAuthUpstream(r)
	var gk GrantKey
	if memo {
		gk = GrantKey{Tenant: info.Tenant, Caller: h.grantCaller(r, info), Channel: channel}
		if owned && h.answerRemembered(w, gk, socketID) {
			return nil
		}
	}
	r.Header.Del("Accept-Encoding")
	rec := newRecorder(w, maxAuthAnswerBytes, isSuccess)
	rec.anyType = true
	// A 2xx that cannot be held for inspection may be a grant for a socket
	// of another tenant: it is not sent unless the socket is the tenant's.
	rec.dropUnheld = !owned
	err := next(rec, r)
	if h.opts.Grants != nil && !user {
		h.grantRefused(r, info, rec.status, memo, gk)
	}
	if rec.dropped {
		h.refuseGrant(rec, "answer too large to inspect", readErr)
		return nil
	}
	if err != nil || !rec.buffered() {
		if rec.buffered() {
			_ = rec.writeBuffered()
		}
		h.obs.AuthSignature(AuthPassed)
		return err
	}
	var data, appAuth string
	var kind authAnswer
	var unsigned bool
	if user {
		data, appAuth, kind = parseUserAuthAnswer(rec.body())
		unsigned = kind == answerUser
	} else {
		data, appAuth, kind = parseAuthAnswer(rec.body())
		unsigned = kind == answerPrivate && pusher.KindOf(channel) == pusher.KindPrivate ||
			kind == answerPresence && pusher.KindOf(channel) == pusher.KindPresence
	}
	sign := func() (string, bool) {
		if user {
			return h.opts.Signer.SignUser(info.Tenant, socketID, data)
		}
		return h.opts.Signer.Sign(info.Tenant, socketID, channel, data)
	}
	switch {
	case readErr != nil && (kind == answerPrivate || kind == answerPresence || kind == answerUser):
		h.debug("auth request not read as PHP reads it: the grant goes through unsigned", zap.Error(readErr))
		h.obs.AuthSignature(AuthUnsigned)
		h.sendBuffered(rec)
		return nil
	case readErr != nil:
		h.refuseGrant(rec, "auth request not read as PHP reads it", readErr)
		return nil
	case !owned:
		h.refuseGrant(rec, "socket is not an open one of the request's tenant", nil)
		return nil
	case kind == answerSigned:
		// The app's own signature must be for exactly the socket checked
		// above: what recordsync would sign for what it read.
		want, ok := sign()
		if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(appAuth)) != 1 {
			h.refuseGrant(rec, "the app's signature is not for the socket_id and channel_name read", nil)
			return nil
		}
		h.obs.AuthSignature(AuthPassed)
		h.rememberGrant(memo, gk, data)
		h.sendBuffered(rec)
		return nil
	case !unsigned:
		if kind != answerOther {
			h.obs.AuthSignature(AuthUnsigned)
		} else {
			h.obs.AuthSignature(AuthPassed)
		}
		h.sendBuffered(rec)
		return nil
	}
	auth, ok := sign()
	if !ok {
		h.debug("auth answer not signed: channel, channel_data or user_data refused", zap.String("channel", channel), zap.Bool("user", user))
		h.obs.AuthSignature(AuthUnsigned)
		h.sendBuffered(rec)
		return nil
	}
	h.obs.AuthSignature(AuthSigned)
	h.rememberGrant(memo, gk, data)
	b := make([]byte, 0, 96+len(data)*11/10)
	b = append(b, `{"auth":`...)
	b = pusher.AppendJSONString(b, auth)
	switch kind {
	case answerPresence:
		b = append(b, `,"channel_data":`...)
		b = pusher.AppendJSONString(b, data)
	case answerUser:
		b = append(b, `,"user_data":`...)
		b = pusher.AppendJSONString(b, data)
	}
	b = append(b, '}')
	h.debug("signed the app's authorisation", zap.String("channel", channel), zap.Bool("user", user))
	if err := rec.replaceBody(rec.status, "application/json", b); err != nil {
		h.debug("writing the response failed", zap.Error(err))
	}
	return nil
}

// refuseGrant answers 403 in place of the app's 2xx auth answer.
func (h *Handler) refuseGrant(rec *recorder, why string, readErr error) {
	h.obs.AuthSignature(AuthRefused)
	if ce := h.log.Check(zap.DebugLevel, "auth answer refused: "+why); ce != nil {
		ce.Write(zap.NamedError("request", readErr))
	}
	if err := rec.replaceBody(http.StatusForbidden, "application/json", forbiddenBody); err != nil {
		h.debug("writing the response failed", zap.Error(err))
	}
}

// replaceBody sends status and the held headers with body instead of the
// held one (or of one dropped); validators of the old body are dropped.
func (rec *recorder) replaceBody(status int, contentType string, body []byte) error {
	hdr := rec.w.Header()
	for _, k := range []string{"Etag", "Last-Modified", "Content-Md5", "Digest", "Content-Range", "Content-Encoding"} {
		delete(hdr, k)
	}
	hdr["Content-Type"] = []string{contentType}
	hdr["Content-Length"] = []string{itoa(len(body))}
	rec.buffering = false
	rec.release()
	rec.w.WriteHeader(status)
	_, err := rec.w.Write(body)
	return err
}

// authAnswer is what an app's 2xx auth answer is, for signing.
type authAnswer int

const (
	// answerOther: anything that grants nothing (false, null, an error
	// page, ...).
	answerOther authAnswer = iota
	// answerPrivate: `true`, the redis broadcaster's grant of a private channel.
	answerPrivate
	// answerPresence: {"channel_data":...} without "auth", the redis
	// broadcaster's grant of a presence channel.
	answerPresence
	// answerSigned: {"auth":...}, a grant the app signed (the pusher and
	// reverb broadcasters).
	answerSigned
	// answerUser: the user's info, an unsigned user authentication
	// (Laravel's base Broadcaster::resolveAuthenticatedUser).
	answerUser
)

// parseUserAuthAnswer classifies an app's user authentication answer
// (pusher.ParseUserAuthAnswer): answerSigned with auth and user_data as
// pusher-js reads them, answerUser with the user_data to sign, or
// answerOther.
func parseUserAuthAnswer(body []byte) (userData, auth string, kind authAnswer) {
	a, ok := pusher.ParseUserAuthAnswer(body)
	switch {
	case !ok:
		return "", "", answerOther
	case a.Signed:
		return a.UserData, a.Auth, answerSigned
	default:
		return a.UserData, "", answerUser
	}
}

// parseAuthAnswer classifies an app's auth answer: `true` is the redis
// broadcaster's private grant (Illuminate/Broadcasting/Broadcasters/
// RedisBroadcaster.php, validAuthenticationResponse), and a JSON object is
// read by pusher.ParseAuthAnswer: with "auth" it is answerSigned (auth and
// channelData as pusher-js reads them), without it a presence grant whose
// channelData is the exact string to sign and send. Anything else is
// answerOther.
func parseAuthAnswer(body []byte) (channelData, auth string, kind authAnswer) {
	if string(bytes.TrimSpace(body)) == "true" {
		return "", "", answerPrivate
	}
	a, ok := pusher.ParseAuthAnswer(body)
	switch {
	case !ok:
		return "", "", answerOther
	case a.Signed:
		return a.ChannelData, a.Auth, answerSigned
	default:
		return a.ChannelData, "", answerPresence
	}
}
