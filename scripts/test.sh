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

phase "install"
scripts/install-deps.sh

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
# noise, not a finding. FUZZTIME=200000x (or 30s) fuzzes longer.
phase "fuzz targets (${FUZZTIME:=20000x} each)"
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		echo "-- $pkg $target"
		# A finding fails at once (go test prints it and saves it under
		# testdata/fuzz). The engine can still stumble on a loaded machine
		# ("fuzzing process hung"): then one more try.
		if ! out=$(go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" 2>&1); then
			if echo "$out" | grep -q "Failing input written to"; then
				echo "$out" | tail -40
				exit 1
			fi
			echo "$out" | tail -20 | sed 's/^--- FAIL/(fuzzing engine, not a finding)/'
			echo "retrying $target once"
			go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >/dev/null || { echo "--- FAIL: $target failed twice"; exit 1; }
		fi
	done
done

# Every package runs under the race detector but caddymodule, the Caddy glue:
# its tests would build all of Caddy (a thousand packages) a second time,
# instrumented, on top of the plain build that go vet and the end-to-end
# tests' Caddy binary share. Its concurrency lives in engine, proxy,
# realtime and cluster, which run here under the race detector (cluster's
# with two real instances), and in the end-to-end tests against the real
# binary.
phase "go test -race (all but caddymodule), go test ./caddymodule"
go test -race -count=1 -timeout 20m $(go list ./... | grep -v '/caddymodule$')
go test -count=1 -timeout 10m ./caddymodule
phase "done"
