#!/usr/bin/env bash
# Installs what the demo and the tests need on Debian (run as root): PHP with
# Debian's Laravel 8, php-fpm, Redis, Chromium, and the npm clients. Skips what
# is already there, so it is quick on a second run.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(php-cli php-fpm php-laravel-framework php-sqlite3 php-redis php-mbstring php-xml redis-server chromium nodejs npm wrk)
missing=()
for p in "${debs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from elsewhere than Debian (a newer Node on PATH): keep it.
if command -v node >/dev/null && command -v npm >/dev/null; then
	missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
pkgs=()
for p in "${missing[@]}"; do [ -n "$p" ] && pkgs+=("$p"); done
if [ ${#pkgs[@]} -gt 0 ]; then
	echo "installing Debian packages: ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

if [ -f e2e/node/package.json ]; then
	if [ ! -d e2e/node/node_modules ] || [ e2e/node/package-lock.json -nt e2e/node/node_modules ]; then
		echo "installing npm packages for the end-to-end tests"
		(cd e2e/node && npm ci --no-audit --no-fund --loglevel=error)
	fi
fi
