package e2e

import (
	"fmt"
	"testing"
)

// TestPresenceLaravel runs laravel-echo + pusher-js against
// recordsync in front of the real example app with Laravel's redis
// broadcaster: its unsigned /broadcasting/auth grants (`true`,
// {"channel_data":{...}}) are signed by recordsync for live sockets, so
// Echo.private and Echo.join work; routes/channels.php still refuses Carol;
// presence here/joining/leaving with Alice in two tabs and Bob in one;
// whispers with client_events members. The redis broadcaster authorises
// without a Redis connection, and nothing here publishes, so no
// redis-server is needed.
func TestPresenceLaravel(t *testing.T) {
	_, _, c := startRSLaravel(t, map[string]string{
		"BROADCAST_DRIVER": "redis",
		"REDIS_HOST":       "127.0.0.1",
		"REDIS_PORT":       fmt.Sprint(freePort(t)), // nobody listens: auth never connects
	}, rsOptions{Extra: "client_events members"})
	runNodeTest(t, "presence.test.mjs", map[string]string{
		"RS_HOST":    "127.0.0.1",
		"RS_PORT":    fmt.Sprint(c.HTTPPort),
		"RS_APP_KEY": testAppKey,
	})
}
