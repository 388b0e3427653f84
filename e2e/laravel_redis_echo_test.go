package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"testing"
)

// TestLaravelRedisEcho runs laravel-echo + pusher-js (Node)
// against the real example app broadcasting through Laravel's redis
// broadcaster (BROADCAST_FROM_OBSERVER=1, per-tenant Redis prefix) into
// recordsync's Redis ingress, with a real redis-server: Bob's
// Echo.private('record.flow.1'), authorised by the app's own
// /broadcasting/auth (recordsync signs the redis broadcaster's `true`),
// receives an artisan flows:touch (a save the proxy never saw) and Alice's
// PUT through the proxy exactly once (the proxy's broadcast and the
// observer's are deduplicated); Carol is refused flow 2. The tenant is the
// host's first label under .localhost, "default" for 127.0.0.1 (the app's
// rule), through a Caddy map.
func TestLaravelRedisEcho(t *testing.T) {
	addr, _, _ := startRedis(t)
	_, port, _ := net.SplitHostPort(addr)
	app := startLaravel(t, map[string]string{
		"BROADCAST_DRIVER":        "redis",
		"BROADCAST_FROM_OBSERVER": "1",
		"REDIS_HOST":              "127.0.0.1",
		"REDIS_PORT":              port,
		"REDIS_TENANT_PREFIX":     "1",
	})
	site := fmt.Sprintf(`http://:{PORT} {
	map {http.request.host} {rs_tenant} {
		~^([a-z0-9-]+)\.localhost$ "${1}"
		default default
	}
	recordsync {
		tenant {rs_tenant}
		updated_by_id data.updated_by
		updated_by_name data.updated_by_name
		record flow /api/v1/flows/{id}
		laravel_app_key %s
		app_id %s
		app_key %s
		app_secret %s
		redis redis://%s/0
		redis_tenant_pattern "tenant{tenant}_laravel_database_"
	}
%s}
`, app.AppKey, testAppID, testAppKey, testAppSecret, addr, laravelSite(app))
	c := startCaddy(t, site)
	appEnv, _ := json.Marshal(app.Env)
	runNodeTest(t, "laravel-redis.test.mjs", map[string]string{
		"RS_HOST":    "127.0.0.1",
		"RS_PORT":    fmt.Sprint(c.HTTPPort),
		"RS_APP_KEY": testAppKey,
		"RS_APP_DIR": app.Dir,
		"RS_APP_ENV": string(appEnv),
		"RS_PHP":     phpBin(t),
		"RS_TENANT":  "default",
	})
	if t.Failed() {
		t.Logf("caddy log:\n%s\nlaravel:\n%s", c.Log(), app.Logs())
	}
}
