package pusher

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// ChannelAuth is the auth string that subscribes socketID to a private
// channel (channelData "") or a presence channel (channelData the exact
// JSON string sent along): key + ":" + the lowercase hex HMAC-SHA256 of
// socketID:channel[:channelData] under secret (the Pusher docs,
// "auth-signatures"; pusher-http-php's authorizeChannel and
// authorizePresenceChannel). It is what an app's /broadcasting/auth
// answers and what VerifyChannelAuth accepts.
func ChannelAuth(key, secret, socketID, channel, channelData string) string {
	return key + ":" + hex.EncodeToString(channelMAC(secret, socketID, channel, channelData))
}

// channelMAC is the HMAC-SHA256 of socketID:channel[:channelData] under
// secret.
func channelMAC(secret, socketID, channel, channelData string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(socketID))
	mac.Write([]byte{':'})
	mac.Write([]byte(channel))
	if channelData != "" {
		mac.Write([]byte{':'})
		mac.Write([]byte(channelData))
	}
	return mac.Sum(nil)
}

// Errors of VerifyChannelAuth. Their text is meant for the client (a hub
// sends it in pusher:subscription_error).
var (
	// ErrAuthMissing: the subscription carries no auth.
	ErrAuthMissing = errors.New("missing auth signature")
	// ErrAuthFormat: the auth has no ':' between key and signature.
	ErrAuthFormat = errors.New(`auth must be "key:signature"`)
	// ErrAuthKey: the auth names another app key.
	ErrAuthKey = errors.New("auth signed for another app key")
	// ErrAuthInvalid: the signature is not the one ChannelAuth makes.
	ErrAuthInvalid = errors.New("invalid signature")
)

// VerifyChannelAuth checks a subscription's auth "key:hexsig" against the
// app credentials: the key must be key, the signature the one ChannelAuth
// makes for socketID, channel and channelData (hex in either case).
// Compared in constant time (hmac.Equal on the decoded MAC). The error is
// one of the ErrAuth* values.
func VerifyChannelAuth(key, secret, socketID, channel, channelData, auth string) error {
	if auth == "" {
		return ErrAuthMissing
	}
	k, sig, ok := strings.Cut(auth, ":")
	if !ok {
		return ErrAuthFormat
	}
	if !hmac.Equal([]byte(k), []byte(key)) {
		return ErrAuthKey
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return ErrAuthInvalid
	}
	if !hmac.Equal(channelMAC(secret, socketID, channel, channelData), got) {
		return ErrAuthInvalid
	}
	return nil
}
