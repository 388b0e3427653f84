<?php

use App\Tenancy;
use Illuminate\Support\Str;

return [
    // file: one folder per tenant under {APP_STORAGE}/framework/sessions, so a
    // session of tenant a never authenticates anyone in tenant b.
    // database: the tenant's own sessions table.
    'driver' => env('SESSION_DRIVER', 'file'),
    'lifetime' => (int) env('SESSION_LIFETIME', 120),
    'expire_on_close' => false,
    'encrypt' => false,
    'files' => storage_path('framework/sessions/'.(Tenancy::current() ?: 'default')),
    'connection' => null,
    'table' => 'sessions',
    'store' => null,
    'lottery' => [2, 100],
    // With laravel_app_key recordsync finds and decrypts this cookie under
    // whatever name it has (its session_cookie option may pin the name).
    // Laravel 8's default name (laravel/laravel 8.x config/session.php):
    // laravel_session without APP_NAME, acme_portal_session for "Acme Portal".
    'cookie' => env('SESSION_COOKIE', Str::slug(env('APP_NAME', 'laravel'), '_').'_session'),
    'path' => '/',
    'domain' => env('SESSION_DOMAIN'),
    'secure' => (bool) env('SESSION_SECURE_COOKIE', false),
    'http_only' => true,
    'same_site' => 'lax',
];
