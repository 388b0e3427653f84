#!/usr/bin/env bash
# Builds Caddy with the recordsync module using xcaddy (installed with
# `go install` when missing), from this checkout. The result is ./caddy, the
# same binary as `go build ./cmd/caddy` but with Caddy's version information.
#   ./xcaddy.sh                 # Caddy v2.11.9 + recordsync
#   CADDY_VERSION=v2.11.9 OUTPUT=/usr/local/bin/caddy ./xcaddy.sh
set -euo pipefail
cd "$(dirname "$0")"

CADDY_VERSION=${CADDY_VERSION:-v2.11.9}
XCADDY_VERSION=${XCADDY_VERSION:-v0.4.5}
OUTPUT=${OUTPUT:-./caddy}

if ! command -v xcaddy >/dev/null 2>&1; then
	gobin=$(go env GOBIN)
	[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
	if [ ! -x "$gobin/xcaddy" ]; then
		echo "installing xcaddy $XCADDY_VERSION with go install"
		go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$XCADDY_VERSION"
	fi
	export PATH="$gobin:$PATH"
fi

module=$(go list -m)
xcaddy build "$CADDY_VERSION" --with "$module=./" --output "$OUTPUT"
"$OUTPUT" list-modules | grep -q '^http.handlers.recordsync$' && echo "built $OUTPUT with http.handlers.recordsync"
