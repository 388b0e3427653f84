package e2e

import (
	"fmt"
	"testing"
)

// TestUserSigninPusherJS runs e2e/node/signin.test.mjs: pusher-js's
// signin() against the real example app (Broadcast::userRoutes(), the
// redis broadcaster's unsigned user info, which recordsync signs), two tabs
// of Bob and one of Carol; the `pusher` SDK's sendToUser reaches both of
// Bob's sockets through recordsync's HTTP API, and Carol's socket is
// refused Bob's channel.
func TestUserSigninPusherJS(t *testing.T) {
	t.Parallel()
	_, spy, c := startRSLaravel(t, map[string]string{
		"BROADCAST_DRIVER":  "redis",
		"PUSHER_APP_KEY":    testAppKey,
		"PUSHER_APP_SECRET": testAppSecret,
		"REDIS_PORT":        fmt.Sprint(freePort(t)), // the redis broadcaster publishes nothing here
	}, rsOptions{})
	runNodeTest(t, "signin.test.mjs", map[string]string{
		"RS_HOST":       "127.0.0.1",
		"RS_PORT":       fmt.Sprint(c.HTTPPort),
		"RS_APP_ID":     testAppID,
		"RS_APP_KEY":    testAppKey,
		"RS_APP_SECRET": testAppSecret,
	})
	// The app decided who the users are (three sign-ins), recordsync
	// signed its answers; the one refusal is Carol's try at Bob's channel.
	if n := spy.Count("POST", "/broadcasting/user-auth"); n < 3 {
		t.Errorf("the app was asked %d times for a user, want 3 or more", n)
	}
	m := drillMetrics(t, c)
	if got := m[`recordsync_auth_signatures_total{result="signed"}`]; got < 3 {
		t.Errorf("recordsync signed %v user authentications, want 3 or more", got)
	}
	if got := m[`recordsync_ws_refused_total{reason="signin"}`]; got != 1 {
		t.Errorf(`recordsync_ws_refused_total{reason="signin"} = %v, want 1`, got)
	}
}

// TestTerminateUserConnectionsCluster runs e2e/node/terminate.test.mjs
// against two Caddies sharing a cluster Redis: the `pusher` SDK's
// terminateUserConnections, sent to one instance, closes the user's
// pusher-js sockets on both with 4009; another user's stay up.
func TestTerminateUserConnectionsCluster(t *testing.T) {
	t.Parallel()
	redisAddr, _, _ := startRedis(t)
	app := startFakeApp(t, testAppKey, testAppSecret)
	a := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	b := startCaddy(t, clusterSite(app.Addr(), redisAddr))
	clusterUp(t, a)
	clusterUp(t, b)
	runNodeTest(t, "terminate.test.mjs", map[string]string{
		"RS_PORT_A":     fmt.Sprint(a.HTTPPort),
		"RS_PORT_B":     fmt.Sprint(b.HTTPPort),
		"RS_APP_ID":     testAppID,
		"RS_APP_KEY":    testAppKey,
		"RS_APP_SECRET": testAppSecret,
	})
	// One terminate message crossed the bus, to B.
	if got := drillMetrics(t, b)[`recordsync_cluster_messages_total{direction="in",kind="terminate"}`]; got != 1 {
		t.Errorf("B received %v terminate messages, want 1", got)
	}
}
