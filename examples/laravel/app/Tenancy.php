<?php

namespace App;

/**
 * Tenancy picks the tenant of the current request or command.
 *
 * One SQLite database per tenant ({DB_DATABASE}/{tenant}.sqlite), so record
 * ids repeat across tenants, as in any app with one database per tenant.
 *
 * The tenant key is:
 *   - the TENANT environment variable when it is set (single-tenant mode, and
 *     how `php artisan --tenant=a ...` selects one);
 *   - otherwise the first label of the request's host name: a.localhost → "a",
 *     b.example.test:8080 → "b";
 *   - "default" for a bare IP address or a one-label host (127.0.0.1, localhost).
 *
 * In Caddy, the same key for *.localhost is {http.request.host.labels.1}.
 * A host whose first label is not a valid key gives "" (no tenant): the
 * EnsureTenant middleware answers 404 for it, as for a tenant without a
 * database. php-fpm runs one request per process state, so the key is
 * computed once per request.
 */
final class Tenancy
{
    /** @var string|null */
    private static $current;

    /** Valid tenant keys: what may appear in a file name and a Redis prefix. */
    public const PATTERN = '/^[a-z0-9][a-z0-9_-]{0,62}$/';

    public static function current(): string
    {
        if (self::$current === null) {
            $fixed = env('TENANT');
            self::$current = $fixed !== null && $fixed !== ''
                ? self::validate(strtolower((string) $fixed))
                : self::fromHost($_SERVER['HTTP_HOST'] ?? '');
        }

        return self::$current;
    }

    /** Switches the tenant (used by app:setup to prepare several). */
    public static function set(string $tenant): void
    {
        self::$current = self::validate($tenant);
    }

    public static function fromHost(string $host): string
    {
        $host = strtolower(trim($host));
        if ($host === '' || $host[0] === '[') {
            return 'default'; // IPv6 literal, or no Host at all
        }
        $host = preg_replace('/:\d+$/', '', $host);
        if (filter_var($host, FILTER_VALIDATE_IP) || strpos($host, '.') === false) {
            return 'default';
        }

        return self::validate(explode('.', $host, 2)[0]);
    }

    private static function validate(string $tenant): string
    {
        return preg_match(self::PATTERN, $tenant) ? $tenant : '';
    }

    /** The folder holding the tenants' SQLite files (env DB_DATABASE). */
    public static function databaseDir(): string
    {
        $dir = env('DB_DATABASE');

        return rtrim($dir ?: dirname(__DIR__).'/database', '/');
    }

    public static function databasePath(?string $tenant = null): string
    {
        $tenant = $tenant ?? self::current();

        return self::databaseDir().'/'.($tenant === '' ? 'invalid-tenant' : $tenant).'.sqlite';
    }

    /** Whether the tenant has a database (created by `php artisan app:setup`). */
    public static function exists(): bool
    {
        return self::current() !== '' && is_file(self::databasePath());
    }

    /**
     * Laravel's database.redis.options.prefix: REDIS_PREFIX (default
     * laravel_database_), and with REDIS_TENANT_PREFIX=1 the per-tenant
     * tenant{tenant}_laravel_database_. The redis broadcaster publishes to
     * {prefix}{channel}, so the prefix carries the tenant to the proxy.
     */
    public static function redisPrefix(): string
    {
        $prefix = env('REDIS_PREFIX', 'laravel_database_');
        if (filter_var(env('REDIS_TENANT_PREFIX', false), FILTER_VALIDATE_BOOLEAN)) {
            $prefix = 'tenant'.self::current().'_'.$prefix;
        }

        return $prefix;
    }
}
