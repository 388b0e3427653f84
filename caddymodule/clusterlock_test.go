package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestClusterLockTimeoutCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     caddy.Duration
		err      string
	}{
		{name: "set", in: "cluster redis://127.0.0.1:6379/0\ncluster_lock_timeout 5s", want: caddy.Duration(5 * time.Second)},
		{name: "default", in: "cluster redis://127.0.0.1:6379/0"},
		{name: "not a duration", in: "cluster_lock_timeout soon", err: "not a positive duration"},
		{name: "zero", in: "cluster_lock_timeout 0s", err: "not a positive duration"},
		{name: "duplicate", in: "cluster_lock_timeout 5s\ncluster_lock_timeout 6s", err: "duplicate subdirective"},
		{name: "no argument", in: "cluster_lock_timeout", err: "wrong argument count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("recordsync {\n" + tc.in + "\n}"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Cluster.LockTimeout != tc.want {
				t.Fatalf("Cluster.LockTimeout = %v, want %v", h.Cluster.LockTimeout, tc.want)
			}
			b, _ := json.Marshal(h)
			if tc.want != 0 && !strings.Contains(string(b), `"lock_timeout":5000000000`) {
				t.Fatalf("JSON %s", b)
			}
			if tc.want == 0 && strings.Contains(string(b), "lock_timeout") {
				t.Fatalf("JSON %s has the zero value", b)
			}
		})
	}
}
