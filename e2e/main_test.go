package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/recordsync/recordsync/internal/harness"
)

// caddyBin is the path of the Caddy binary built from this checkout.
var caddyBin string

// repoRoot is the checkout's top folder.
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = filepath.Dir(wd)
	dir, err := os.MkdirTemp("", "recordsync-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	caddyBin = filepath.Join(dir, "caddy")
	if err := harness.BuildCaddy(repoRoot, caddyBin); err != nil {
		fmt.Fprintln(os.Stderr, "building caddy:", err)
		return 1
	}
	return m.Run()
}
