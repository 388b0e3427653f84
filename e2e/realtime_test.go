package e2e

import (
	"fmt"
	"testing"
)

const (
	testAppID     = "1001"
	testAppKey    = "e2e-key"
	testAppSecret = "e2e-secret"
)

// realtimeSite is a Caddyfile site with recordsync (tenant = host, the hub
// on) in front of upstream.
func realtimeSite(upstream string) string {
	return fmt.Sprintf(`:{PORT} {
	recordsync {
		tenant {http.request.host}
		updated_by_id data.updated_by
		updated_by_name data.updated_by_name
		record flow /api/v1/flows/{id}
		record projecttask /api/v1/projects/{project}/tasks/{id} {
			list project.{project} task.updated task_id
		}
		app_id %s
		app_key %s
		app_secret %s
		ws_path /ws
		import_header X-Import
	}
	reverse_proxy %s
}
`, testAppID, testAppKey, testAppSecret, upstream)
}

// TestEchoClients drives laravel-echo + pusher-js from npm against the real
// Caddy binary: subscribe through /broadcasting/auth, receive the
// record.updated of a PUT the proxy saw, toOthers, list channels, imports,
// forged signatures, tenant isolation and the since extension.
func TestEchoClients(t *testing.T) {
	app := startFakeApp(t, testAppKey, testAppSecret)
	c := startCaddy(t, realtimeSite(app.Addr()))
	runNodeTest(t, "realtime.test.mjs", map[string]string{
		"RS_PORT":    fmt.Sprint(c.HTTPPort),
		"RS_APP_KEY": testAppKey,
	})
}
