# recordsync: the everyday commands. Each runs as root on Debian with Go (see README).
.PHONY: test soak bench demo

# Every test: vet, gofmt, bounded fuzzing, unit, Caddy integration, end-to-end (CI runs this).
test:
	./scripts/test.sh

# The reliability drills of e2e/ at full size (5,000 subscribers, 30 s of reloads, ...), and the
# differential test against the real PHP with 20,000 generated requests.
soak:
	RECORDSYNC_SOAK=1 go test -count=1 -run 'TestPHPDifferential' -timeout 30m -v ./laravel
	RECORDSYNC_SOAK=1 go test -count=1 -run 'Drill' -timeout 60m -v ./e2e

# The benchmark report: bench/REPORT.md with its charts (bench/ is a Go module of its own).
bench:
	cd bench && go run .

# The example Laravel app behind Caddy with recordsync; prints the URL.
demo:
	./scripts/demo.sh
