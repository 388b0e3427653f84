package pusher

import (
	"strconv"
	"strings"
)

// MaxChannelNameLength is the longest channel name accepted (Pusher's limit,
// the Pusher protocol docs, "pusher:subscribe").
const MaxChannelNameLength = 200

// Channel name prefixes that give a channel its kind (the Pusher protocol
// docs, "Channels"; pusher-js's Factory.createChannel).
const (
	PrivatePrefix          = "private-"
	PresencePrefix         = "presence-"
	PrivateEncryptedPrefix = "private-encrypted-"
)

// Kind is what a channel's name prefix makes of it.
type Kind int

// The kinds of channel.
const (
	// KindPublic: no prefix; anyone may subscribe.
	KindPublic Kind = iota
	// KindPrivate: "private-"; a subscription needs a signature.
	KindPrivate
	// KindPresence: "presence-"; a signature over the member's channel_data.
	KindPresence
	// KindPrivateEncrypted: "private-encrypted-"; end-to-end encrypted
	// payloads, which need a shared secret per channel.
	KindPrivateEncrypted
)

// String returns the kind's name: "public", "private", "presence" or
// "private-encrypted".
func (k Kind) String() string {
	switch k {
	case KindPublic:
		return "public"
	case KindPrivate:
		return "private"
	case KindPresence:
		return "presence"
	case KindPrivateEncrypted:
		return "private-encrypted"
	default:
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// KindOf classifies a channel by its prefix. "private-encrypted-" is tested
// before "private-", which it extends. It does not check that name is
// valid (ValidChannelName).
func KindOf(name string) Kind {
	switch {
	case strings.HasPrefix(name, PrivateEncryptedPrefix):
		return KindPrivateEncrypted
	case strings.HasPrefix(name, PrivatePrefix):
		return KindPrivate
	case strings.HasPrefix(name, PresencePrefix):
		return KindPresence
	default:
		return KindPublic
	}
}

// channelNameChars is the set of ^[-a-zA-Z0-9_=@,.;]+$ (pusher-http-php).
var channelNameChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-_=@,.;" {
		t[c] = true
	}
	return t
}()

// ValidChannelName reports whether name is a legal Pusher channel name:
// 1 to MaxChannelNameLength characters of [-a-zA-Z0-9_=@,.;] (the pattern
// of pusher-http-php's Pusher::validate_channel).
func ValidChannelName(name string) bool {
	if name == "" || len(name) > MaxChannelNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !channelNameChars[name[i]] {
			return false
		}
	}
	return true
}
