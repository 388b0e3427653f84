#!/usr/bin/env bash
# The recordsync demo: the example Laravel app (examples/laravel) on php-fpm,
# Redis, and Caddy with recordsync in front, on http://localhost:8080
# (tenants at http://a.localhost:8080 and http://b.localhost:8080).
#
#   ./scripts/demo.sh            # as root on Debian, with Go installed
#   PORT=9090 ./scripts/demo.sh  # another port
#
# It installs what is missing (scripts/install-deps.sh), builds Caddy with the
# module, makes fresh keys and a fresh app state in a temporary folder, starts
# everything bound to 127.0.0.1, prints what to try, and stops everything on
# Ctrl-C (or when one of the servers dies). KEEP_STATE=1 keeps the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

PORT=${PORT:-8080}
STATE=$(mktemp -d "${TMPDIR:-/tmp}/recordsync-demo.XXXXXX")

# Process ids of what the demo started (empty until started).
CADDY_PID="" FPM_PID="" REDIS_PID=""

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# port_in_use PORT: something listens on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port PORT: PORT if free, else the next free one above it.
free_port() {
	local p=$1
	while port_in_use "$p"; do p=$((p + 1)); done
	echo "$p"
}

# wait_for_port NAME PORT PID LOGFILE: until PORT accepts connections; fails
# with the log when the process PID exits first or after 20 s.
wait_for_port() {
	local name=$1 port=$2 pid=$3 logfile=$4 i
	for ((i = 0; i < 200; i++)); do
		port_in_use "$port" && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$logfile" >&2 || true
			die "$name exited during start-up (log: $logfile)"
		fi
		sleep 0.1
	done
	tail -n 30 "$logfile" >&2 || true
	die "$name did not listen on 127.0.0.1:$port within 20 s (log: $logfile)"
}

# random_hex N: 2N hex characters from the kernel's random source.
random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# stop_pid NAME PID: SIGTERM, wait up to 5 s, then SIGKILL.
stop_pid() {
	local name=$1 pid=$2 i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "demo: $name ($pid) did not stop; killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
}

# cleanup stops everything the demo started (trap on EXIT).
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	echo
	log "stopping"
	stop_pid caddy "$CADDY_PID"
	stop_pid php-fpm "$FPM_PID"
	# php-fpm runs in its own process group (setsid): any worker that
	# outlived its master goes with the group.
	[ -n "$FPM_PID" ] && kill -KILL -- "-$FPM_PID" 2>/dev/null || true
	stop_pid redis-server "$REDIS_PID"
	wait 2>/dev/null || true
	if [ "${KEEP_STATE:-}" = 1 ]; then
		echo "state kept in $STATE"
	else
		rm -rf "$STATE"
	fi
	exit "$status"
}

# install_deps: Debian packages (php-fpm, Laravel, Redis, ...) and npm clients.
install_deps() {
	command -v go >/dev/null || die "Go is required (https://go.dev/dl/)"
	if [ "$(id -u)" = 0 ]; then
		log "checking dependencies (scripts/install-deps.sh)"
		scripts/install-deps.sh
	else
		echo "demo: not root, skipping scripts/install-deps.sh (run it as root if something is missing)" >&2
	fi
	FPM_BIN=$(command -v php-fpm8.2 || command -v php-fpm || ls /usr/sbin/php-fpm* 2>/dev/null | sort -r | head -n1 || true)
	[ -n "$FPM_BIN" ] || die "php-fpm not found"
	command -v php >/dev/null || die "php not found"
	command -v redis-server >/dev/null || die "redis-server not found"
}

# build_caddy: Caddy with the recordsync module, from this checkout.
build_caddy() {
	log "building Caddy with recordsync"
	go build -o "$STATE/bin/caddy" ./cmd/caddy
}

# make_keys: a fresh Laravel APP_KEY and Pusher-style app credentials, shared
# by the app (signonly broadcaster) and recordsync (app_key/app_secret).
make_keys() {
	APP_KEY="base64:$(head -c 32 /dev/urandom | base64)"
	REVERB_APP_ID=$((RANDOM * 32768 + RANDOM))
	REVERB_APP_KEY="demo-$(random_hex 8)"
	REVERB_APP_SECRET=$(random_hex 24)
	export APP_KEY REVERB_APP_ID REVERB_APP_KEY REVERB_APP_SECRET
}

# start_redis: redis-server on 127.0.0.1:6379, or the next free port.
start_redis() {
	REDIS_PORT=$(free_port 6379)
	log "starting redis-server on 127.0.0.1:$REDIS_PORT"
	mkdir -p "$STATE/redis"
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
		--daemonize no --dir "$STATE/redis" >"$STATE/redis.log" 2>&1 &
	REDIS_PID=$!
	wait_for_port redis-server "$REDIS_PORT" "$REDIS_PID" "$STATE/redis.log"
}

# setup_app: the app's environment (php-fpm passes it on, clear_env = no) and
# its databases for the tenants a, b and default, seeded.
setup_app() {
	log "setting up the example app (tenants a, b, default) in $STATE/app"
	export APP_ENV=local APP_DEBUG=false
	export APP_STORAGE="$STATE/app/storage" DB_DATABASE="$STATE/app/db"
	export LOG_CHANNEL=single
	# Pusher-style signed /broadcasting/auth answers, so Laravel Echo can
	# subscribe through recordsync's /ws (App\Broadcasting\SignOnlyBroadcaster).
	export BROADCAST_DRIVER=signonly
	export PUSHER_APP_KEY="$REVERB_APP_KEY" PUSHER_APP_SECRET="$REVERB_APP_SECRET"
	export REDIS_HOST=127.0.0.1 REDIS_PORT
	mkdir -p "$APP_STORAGE" "$DB_DATABASE"
	(cd examples/laravel && php artisan app:setup a b default) >"$STATE/setup.log" 2>&1 ||
		{ cat "$STATE/setup.log" >&2; die "php artisan app:setup failed"; }
}

# start_php_fpm: the pool of examples/laravel/php-fpm.conf.tmpl on
# 127.0.0.1:9000 (or the next free port), in its own process group.
start_php_fpm() {
	FPM_PORT=$(free_port 9000)
	log "starting php-fpm on 127.0.0.1:$FPM_PORT"
	mkdir -p "$STATE/fpm"
	sed -e "s#{{DIR}}#$STATE/fpm#g" -e "s#{{PORT}}#$FPM_PORT#g" \
		examples/laravel/php-fpm.conf.tmpl >"$STATE/fpm/php-fpm.conf"
	(cd examples/laravel && exec setsid "$FPM_BIN" -R -F -y "$STATE/fpm/php-fpm.conf" -p "$STATE/fpm") \
		>"$STATE/fpm/stdout.log" 2>&1 &
	FPM_PID=$!
	wait_for_port php-fpm "$FPM_PORT" "$FPM_PID" "$STATE/fpm/php-fpm.log"
}

# start_caddy: examples/laravel/demo/Caddyfile on 127.0.0.1:$PORT.
start_caddy() {
	port_in_use "$PORT" && die "port $PORT is taken; run with PORT=<another port>"
	ADMIN_PORT=$(free_port 2019)
	export PORT ADMIN_PORT FPM_PORT APP_ROOT="$REPO/examples/laravel/public"
	log "starting Caddy on http://localhost:$PORT"
	HOME="$STATE" XDG_DATA_HOME="$STATE/caddy-data" XDG_CONFIG_HOME="$STATE/caddy-config" \
		"$STATE/bin/caddy" run --config examples/laravel/demo/Caddyfile --adapter caddyfile \
		>"$STATE/caddy.log" 2>&1 &
	CADDY_PID=$!
	wait_for_port caddy "$PORT" "$CADDY_PID" "$STATE/caddy.log"
}

# check_site: the login page answers through the whole chain.
check_site() {
	command -v curl >/dev/null || return 0
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: a.localhost' "http://127.0.0.1:$PORT/login") || true
	[ "$code" = 200 ] || { tail -n 20 "$STATE/caddy.log" "$STATE/fpm/php-fpm.log" >&2 || true; die "GET /login answered $code"; }
}

print_banner() {
	local url="http://a.localhost:$PORT"
	cat <<EOF

  recordsync demo is running
  ──────────────────────────
  Tenant a:  $url/          Tenant b:  http://b.localhost:$PORT/
  (*.localhost is loopback in Chromium and Firefox; http://localhost:$PORT/ is the tenant "default")

  Users in every tenant, password "secret":
    alice@example.com   editor
    bob@example.com     editor
    carol@example.com   guest: may not see flow 2 nor project 2

  What to try (log in as Alice in one window and as Bob in a private window)
  1. Someone else saved while you edit: open $url/flows/1 in both windows, type in
     Alice's form without saving, save in Bob's. Alice's page shows the banner
     "This record was updated by Bob while you have unsaved changes." with Reload Latest
     and Dismiss. With a clean form the page refreshes silently instead. The line
     "Also viewing" shows who else has the record open (presence).
  2. A stale save stopped at the edge: after Bob's save, save Alice's form anyway:
     409 "This record was changed by someone else." with Bob's name, answered by
     recordsync itself (response header X-Recordsync-Cache: hit; PHP never sees it).
  3. Live tables: open $url/projects/1 in both windows and edit task titles in Bob's:
     Alice's table refreshes itself (at most every 3 s); while Alice is editing a row
     inline she gets "n record(s) were updated while you're editing." instead.
  4. Version polls from the cache, in a logged-in tab's developer console:
       fetch('/api/v1/records/flow/1/version').then(r => r.headers.get('X-Recordsync-Cache'))
     miss the first time (the app authorises the session), hit after that.
  5. The events themselves, from a terminal, as Bob, with Laravel Echo:
       node examples/laravel/demo/listen.mjs --port $PORT --key $REVERB_APP_KEY bob@example.com record.flow.1
     (--host b.localhost for tenant b). Echo settings for your own pages:
       broadcaster 'reverb', key '$REVERB_APP_KEY', wsHost location.hostname,
       wsPort $PORT, wsPath '/ws', forceTLS false
  6. Tenants: flow 1 of a and flow 1 of b are different records; nothing crosses.
  7. Metrics: curl -s http://127.0.0.1:$ADMIN_PORT/metrics | grep ^recordsync_

  Logs: $STATE/caddy.log, $STATE/fpm/, $STATE/app/storage/logs/
  Ctrl-C stops everything.

EOF
}

main() {
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	install_deps
	build_caddy
	make_keys
	start_redis
	setup_app
	start_php_fpm
	start_caddy
	check_site
	print_banner
	# Until Ctrl-C, or until one of the servers exits.
	set +e
	wait -n "$CADDY_PID" "$FPM_PID" "$REDIS_PID"
	echo "demo: a server exited; see the logs above" >&2
	tail -n 20 "$STATE/caddy.log" "$STATE/fpm/php-fpm.log" "$STATE/redis.log" >&2 2>/dev/null
	exit 1
}

main "$@"
