<?php

namespace App\Providers;

use App\Sanctum\Guard;
use Illuminate\Auth\RequestGuard;
use Illuminate\Support\Facades\Auth;
use Illuminate\Support\ServiceProvider;

/**
 * The `sanctum` guard, as laravel/sanctum 4.x src/SanctumServiceProvider.php
 * registers it (configureGuard, createGuard): a RequestGuard around
 * App\Sanctum\Guard, used by `auth:sanctum` on the token API
 * (routes/sanctum.php) and on /api/broadcasting/auth and
 * /api/broadcasting/user-auth (BroadcastServiceProvider). The routes
 * Sanctum adds for SPAs (/sanctum/csrf-cookie) are not emulated.
 */
class SanctumServiceProvider extends ServiceProvider
{
    public function register(): void
    {
        config([
            'auth.guards.sanctum' => array_merge([
                'driver' => 'sanctum',
                'provider' => null,
            ], config('auth.guards.sanctum', [])),
        ]);
    }

    public function boot(): void
    {
        Auth::resolved(function ($auth) {
            $auth->extend('sanctum', function ($app, $name, array $config) use ($auth) {
                return tap($this->createGuard($auth, $config), function ($guard) {
                    app()->refresh('request', $guard, 'setRequest');
                });
            });
        });
    }

    protected function createGuard($auth, $config): RequestGuard
    {
        return new RequestGuard(
            new Guard($auth, config('sanctum.expiration'), $config['provider']),
            request(),
            $auth->createUserProvider($config['provider'] ?? null)
        );
    }
}
