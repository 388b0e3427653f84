package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInvalidConfigNamesTheLine runs `caddy validate` on broken Caddyfiles:
// each must fail with a message naming the file and line at fault.
func TestInvalidConfigNamesTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, block, want string
	}{
		{"unknown subdirective", "bogus 1", `unrecognized subdirective "bogus"`},
		{"pattern without id", "record flow /api/v1/flows/{flow}", "has no {id}"},
		{"bad gjson path", "version_field data..updated_at", "not a valid gjson path"},
		{"bad status", "conflict_status 400", "conflict_status must be 409 or 412"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "Caddyfile")
			cfg := ":8080 {\n\trecordsync {\n\t\trecord ok /api/v1/ok/{id}\n\t\t" + tc.block + "\n\t}\n\trespond ok\n}\n"
			if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(caddyBin, "validate", "--config", path, "--adapter", "caddyfile").CombinedOutput()
			if err == nil {
				t.Fatalf("caddy validate accepted it:\n%s", out)
			}
			// Caddy logs the error as JSON: undo its quote escaping.
			msg := strings.ReplaceAll(string(out), `\"`, `"`)
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "Caddyfile:4") {
				t.Fatalf("output does not name the problem (%q) and line 4:\n%s", tc.want, out)
			}
		})
	}
	// A valid one passes.
	path := filepath.Join(t.TempDir(), "Caddyfile")
	os.WriteFile(path, []byte(":8080 {\n\trecordsync {\n\t\trecord flow /api/v1/flows/{id}\n\t}\n\trespond ok\n}\n"), 0o644)
	if out, err := exec.Command(caddyBin, "validate", "--config", path, "--adapter", "caddyfile").CombinedOutput(); err != nil {
		t.Fatalf("valid config refused: %v\n%s", err, out)
	}
}

// TestCaddyfileExampleIsValid keeps the shipped Caddyfile.example loadable:
// `caddy validate` must accept it with its environment variables set.
func TestCaddyfileExampleIsValid(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddyBin, "validate", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"APP_KEY=base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"REVERB_APP_ID=1", "REVERB_APP_KEY=key", "REVERB_APP_SECRET=secret",
		"HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Valid configuration") {
		t.Fatalf("Caddyfile.example: %v\n%s", err, out)
	}
}
