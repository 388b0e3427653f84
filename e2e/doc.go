// Package e2e holds recordsync's end-to-end tests: the real Caddy binary built
// from ./cmd/caddy, the real Laravel example app behind php-fpm, a real
// redis-server, and the real npm clients (pusher-js, laravel-echo, pusher),
// all started by the tests themselves on free loopback ports. The servers
// are started by internal/harness (which the benchmark uses too);
// caddy_test.go, php_test.go and redis_test.go (through internal/testredis)
// wrap it in helpers that fail the test and stop what they started when it
// ends.
//
// The servers are found on PATH (caddy is built by TestMain). When one is
// missing the tests that need it fail with a message naming the package to
// install; the README's test command installs them all.
package e2e
