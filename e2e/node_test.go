package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// runNodeTest runs one node:test file of e2e/node with env added, and fails
// the Go test with node's output when any of its tests fail.
func runNodeTest(t testing.TB, file string, env map[string]string) {
	t.Helper()
	dir := filepath.Join(repoRoot, "e2e", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "pusher-js")); err != nil {
		t.Fatalf("npm packages missing in e2e/node (the README's test command runs npm ci there): %v", err)
	}
	cmd := exec.Command("node", "--test", "--test-reporter=spec", file)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("node --test %s:\n%s", file, out)
	if err != nil {
		t.Fatalf("node tests in %s failed: %v", file, err)
	}
}
