package e2e

import (
	"fmt"
	"testing"
)

// TestPusherSDK drives the real `pusher` npm SDK against the real Caddy:
// trigger, triggerBatch, channel info, socket_id exclusion, a wrong secret
// (401) and oversize data (issue 4 §1).
func TestPusherSDK(t *testing.T) {
	app := startFakeApp(t, testAppKey, testAppSecret)
	c := startCaddy(t, realtimeSite(app.Addr()))
	runNodeTest(t, "pusher-sdk.test.mjs", map[string]string{
		"RS_PORT":       fmt.Sprint(c.HTTPPort),
		"RS_APP_ID":     testAppID,
		"RS_APP_KEY":    testAppKey,
		"RS_APP_SECRET": testAppSecret,
	})
}
