#!/usr/bin/env bash
# Runs every test of recordsync: static checks, unit and integration tests
# with the race detector, the end-to-end tests against the real Caddy, Laravel
# (php-fpm), Redis, Chromium and the npm clients, and each fuzz target for a
# short, bounded time. Installs what it needs first (Debian, as root).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each phase says how long the run has taken so far (the budget is 20
# minutes on a fresh machine, installs included).
phase() { echo "== $* (at $((SECONDS / 60))m$((SECONDS % 60))s)"; }

# While the Debian and npm packages install (network and disk), Go compiles
# what the later phases need: the plain build (go vet, the end-to-end tests'
# Caddy binary), the race-instrumented one and the fuzz-instrumented one. The
# phases below report any compile error themselves, so this warm-up's own
# result is not read.
race_pkgs=$(go list ./... | grep -v -e '/caddymodule$' -e '/cmd/caddy$')
( go build ./... && go build -race $race_pkgs && go test -c -fuzz=Fuzz -o /dev/null ./versioncache ) >/dev/null 2>&1 &
warm=$!

phase "install"
scripts/install-deps.sh
phase "installed; waiting for the compile started beside the installs"
wait "$warm" || true

phase "go vet / gofmt"
go vet ./...
(cd bench && go vet ./...)   # the benchmark, a module of its own
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted"
	exit 1
fi

# Each target runs a fixed number of inputs, not a fixed time: with a time
# limit the engine itself can fail on a loaded machine ("context deadline
# exceeded" when the deadline lands while a worker is mid-input), which is
# noise, not a finding. FUZZTIME=200000x (or 30s) fuzzes longer. Each package
# is built once, instrumented (go test -c -fuzz), and its binary runs each of
# its targets as go test -fuzz would: in the package's folder (a finding is
# written under testdata/fuzz) with go test's corpus cache.
phase "fuzz targets (${FUZZTIME:=20000x} each)"
fuzzbin=$(mktemp -d)
trap 'rm -rf "$fuzzbin"' EXIT
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' || true)
	[ -n "$targets" ] || continue
	bin="$fuzzbin/$(basename "$pkg").test"
	go test -c -fuzz=Fuzz -o "$bin" "$pkg"
	for target in $targets; do
		echo "-- $pkg $target"
		fuzz() {
			(cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^${target}\$" -test.fuzztime="$FUZZTIME" \
				-test.fuzzcachedir="$(go env GOCACHE)/fuzz/$pkg")
		}
		# A finding fails at once (the binary prints it and saves it under
		# testdata/fuzz). The engine can still stumble on a loaded machine
		# ("fuzzing process hung"): then one more try.
		if ! out=$(fuzz 2>&1); then
			if echo "$out" | grep -q "Failing input written to"; then
				echo "$out" | tail -40
				exit 1
			fi
			echo "$out" | tail -20 | sed 's/^--- FAIL/(fuzzing engine, not a finding)/'
			echo "retrying $target once"
			fuzz >/dev/null 2>&1 || { echo "--- FAIL: $target failed twice"; exit 1; }
		fi
	done
done

# Every package runs under the race detector but the two that hold Caddy:
# caddymodule, the Caddy glue, and cmd/caddy, which has no tests (go test
# would still build it). Either would build all of Caddy (a thousand
# packages) a second time, instrumented, on top of the plain build that go
# vet and the end-to-end tests' Caddy binary share. The concurrency lives in
# engine, proxy, realtime and cluster, which run here under the race
# detector (cluster's with two real instances), and in the end-to-end tests
# against the real binary.
phase "go test -race (all but caddymodule), go test ./caddymodule"
go test -race -count=1 -timeout 20m $race_pkgs
go test -count=1 -timeout 10m ./caddymodule
phase "done"
