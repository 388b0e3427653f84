package realtime

import (
	"strings"
	"testing"
)

func TestUpgradeRequestStringHidesCredentials(t *testing.T) {
	u := &UpgradeRequest{Host: "a.test", Cookie: "laravel_session=secret", Authorization: "Bearer secret"}
	if s := u.String(); strings.Contains(s, "secret") {
		t.Fatalf("String leaks: %s", s)
	}
}
