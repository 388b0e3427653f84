#!/bin/sh
# Runs the benchmark suite and writes bench/REPORT.md. Flags go to the
# program: bench/run.sh -quick, bench/run.sh -skip-laravel, ...
set -e
cd "$(dirname "$0")"
exec go run . "$@"
