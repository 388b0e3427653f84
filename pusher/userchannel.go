package pusher

import (
	"strings"
	"unicode/utf8"
)

// UserChannelPrefix starts the channel of a signed-in user: pusher-js's
// UserFacade (src/core/user.ts) subscribes a socket that got
// pusher:signin_success to "#server-to-user-" + user_data.id, without
// auth, and pusher-http-node's sendToUser (lib/pusher.js) triggers its
// event on that channel through the HTTP API. The '#' keeps it out of the
// names ValidChannelName accepts: no other channel can be one.
const UserChannelPrefix = "#server-to-user-"

// ValidUserID reports whether id can name a signed-in user: 1 to
// MaxUserIDLength bytes of valid UTF-8 without control characters (an id
// that names a channel, and that reaches logs and error messages).
func ValidUserID(id string) bool {
	if id == "" || len(id) > MaxUserIDLength || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// UserChannel is the channel of the user id: UserChannelPrefix + id.
func UserChannel(id string) string { return UserChannelPrefix + id }

// UserOfChannel returns the user of a user channel: ok is false when name
// does not start with UserChannelPrefix or what follows is not a
// ValidUserID.
func UserOfChannel(name string) (id string, ok bool) {
	id, ok = strings.CutPrefix(name, UserChannelPrefix)
	if !ok || !ValidUserID(id) {
		return "", false
	}
	return id, true
}
