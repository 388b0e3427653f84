package kit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tabTagRunner loads recordsync.js (argv[1]) in a bare window — plain
// http, no crypto, no BroadcastChannel, as on a plain-http page that is
// not localhost — once per tab id (argv[2], JSON), with that id in
// sessionStorage, and prints what the kit says its id and tag are.
const tabTagRunner = `
const fs = require('fs'), vm = require('vm');
const src = fs.readFileSync(process.argv[1], 'utf8');
const out = {};
for (const id of JSON.parse(process.argv[2])) {
  const store = { 'recordsync.tab_id': id };
  const window = {
    document: { readyState: 'complete', currentScript: null, addEventListener() {}, querySelector() { return null; }, querySelectorAll() { return []; } },
    location: { href: 'http://app.test/', origin: 'http://app.test', protocol: 'http:', host: 'app.test', hostname: 'app.test' },
    sessionStorage: { getItem: (k) => (k in store ? store[k] : null), setItem: (k, v) => { store[k] = v; } },
    isSecureContext: false,
  };
  vm.runInContext(src, vm.createContext({ window, setTimeout: () => 0, clearTimeout() {}, console }));
  out[id] = { tabId: window.RecordSync.tabId(), tag: window.RecordSync.tabTag() };
}
console.log(JSON.stringify(out));
`

// TestKitTabTag: the kit's tab tag, RecordSync.tabTag(), is what
// recordsync's events carry as tab_id for the tab's saves
// (realtime.TabTag): the first 32 hex digits of the SHA-256 of its tab id,
// computed by the kit's own SHA-256 where the page has no crypto.subtle,
// for ids across SHA-256's block boundaries (55, 56 and 64 bytes). Needs
// node (the end-to-end tests' runtime); skipped without it.
func TestKitTabTag(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found")
	}
	if !strings.Contains(string(MJS), " tabTag,") {
		t.Error("recordsync.mjs does not export tabTag")
	}
	dir := t.TempDir()
	kitPath := filepath.Join(dir, FileJS)
	if err := os.WriteFile(kitPath, Configure(Config{Key: "k", WSPath: "/ws"}), 0o600); err != nil {
		t.Fatal(err)
	}
	ids := []string{"tab_0123456789abcdef01234567", "tab_abcdefgh"}
	for _, n := range []int{51, 52, 60, 64} { // 55, 56, 64 and 68 bytes
		ids = append(ids, "tab_"+strings.Repeat("x-_Z9", 13)[:n])
	}
	arg, _ := json.Marshal(ids)
	out, err := exec.Command(node, "-e", tabTagRunner, "--", kitPath, string(arg)).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got map[string]struct{ TabID, Tag string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %s: %v", out, err)
	}
	for _, id := range ids {
		sum := sha256.Sum256([]byte(id))
		want := hex.EncodeToString(sum[:16])
		if g := got[id]; g.TabID != id || g.Tag != want {
			t.Errorf("tab %s: the kit says id %q, tag %q; want tag %s", id, g.TabID, g.Tag, want)
		}
	}
}
