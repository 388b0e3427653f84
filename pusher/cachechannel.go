package pusher

import "strings"

// Cache channels (the Pusher docs, "Cache channels"): a channel whose name
// starts with one of these prefixes remembers its last event, which is
// sent to a new subscriber right after pusher_internal:subscription_succeeded
// ("pusher:cache_miss" when there is none). The prefix is the kind's
// prefix followed by "cache-": the channel keeps its kind (KindOf).
var cachePrefixes = [...]string{
	"cache-",
	PrivatePrefix + "cache-",
	PresencePrefix + "cache-",
	PrivateEncryptedPrefix + "cache-",
}

// IsCacheChannel reports whether name is a cache channel: it starts with
// "cache-", "private-cache-", "presence-cache-" or
// "private-encrypted-cache-". It does not check that name is valid
// (ValidChannelName).
func IsCacheChannel(name string) bool {
	for _, p := range cachePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
