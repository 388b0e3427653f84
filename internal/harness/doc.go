// Package harness starts the real servers that recordsync's end-to-end
// tests (e2e/) and its benchmark (bench/, a program) run against, so that
// both set them up the same way:
//
//   - Caddy built from ./cmd/caddy (BuildCaddy), started with a Caddyfile
//     (StartCaddy), reloaded through its admin API and stopped, its output
//     kept (Caddy, Global, Block, Site, Indent);
//   - the example Laravel app (examples/laravel) on its own php-fpm, with
//     fresh storage and SQLite databases (StartLaravel, LaravelLogin);
//   - a throw-away redis-server (NewRedis, StartRedis);
//   - any other child process (Start), and free loopback ports (FreePort).
//
// Every server listens on 127.0.0.1 only, on a port that was free a moment
// before; nothing reaches beyond loopback. Nothing here takes a
// testing.TB: functions return errors and the servers have Stop methods
// (idempotent), so the bench can call them, and e2e (and internal/testredis)
// wrap them in small helpers that fail the test and stop them in
// t.Cleanup. What is started is the caller's to stop.
//
// The package uses the standard library only. It finds php-fpm, php and
// redis-server on PATH (Debian's php-fpm, php-laravel-framework,
// php-sqlite3, php-redis and redis-server packages).
package harness
