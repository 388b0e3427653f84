<?php

namespace App\Providers;

use App\Broadcasting\RedisBroadcaster;
use App\Broadcasting\ResolvesAuthenticatedUsers;
use App\Broadcasting\SignOnlyBroadcaster;
use App\Http\Controllers\BroadcastController;
use Illuminate\Broadcasting\BroadcastManager;
use Illuminate\Broadcasting\Broadcasters\LogBroadcaster;
use Illuminate\Broadcasting\Broadcasters\NullBroadcaster;
use Illuminate\Foundation\Http\Middleware\VerifyCsrfToken;
use Illuminate\Support\Facades\Broadcast;
use Illuminate\Support\Facades\Route;
use Illuminate\Support\ServiceProvider;
use Psr\Log\LoggerInterface;

/**
 * Broadcasting routes and routes/channels.php:
 *
 *   POST /broadcasting/auth           web (session)       Broadcast::routes()
 *   POST /api/broadcasting/auth       api + auth:sanctum  Laravel 11's withBroadcasting(..., ['prefix' => 'api',
 *                                                         'middleware' => ['api', 'auth:sanctum']])
 *   POST /broadcasting/user-auth      web (session)       Laravel 11's Broadcast::userRoutes()
 *   POST /api/broadcasting/user-auth  api + auth:sanctum  Broadcast::userRoutes(the same attributes)
 *
 * GET works too, as Laravel registers both.
 */
class BroadcastServiceProvider extends ServiceProvider
{
    /** Laravel 11's attributes for token clients (laravel/framework 11.x ApplicationBuilder::withBroadcasting). */
    public const API = ['prefix' => 'api', 'middleware' => ['api', 'auth:sanctum']];

    public function boot(): void
    {
        $manager = $this->app->make(BroadcastManager::class);

        // BROADCAST_DRIVER=signonly: pusher-style signed auth answers, no publishing.
        $manager->extend('signonly', function ($app, array $config) {
            return new SignOnlyBroadcaster((string) ($config['key'] ?? ''), (string) ($config['secret'] ?? ''));
        });
        // Laravel 8.83's redis, log and null broadcasters, each with Laravel
        // 11's resolveAuthenticatedUser (the base Broadcaster's in 11.x):
        // built as BroadcastManager::createRedisDriver etc. build them.
        $manager->extend('redis', function ($app, array $config) {
            return new RedisBroadcaster(
                $app->make('redis'), $config['connection'] ?? null,
                $app['config']->get('database.redis.options.prefix', '')
            );
        });
        $manager->extend('log', function ($app) {
            return new class($app->make(LoggerInterface::class)) extends LogBroadcaster {
                use ResolvesAuthenticatedUsers;
            };
        });
        $manager->extend('null', function () {
            return new class extends NullBroadcaster {
                use ResolvesAuthenticatedUsers;
            };
        });

        Broadcast::routes();
        Broadcast::routes(self::API);
        $this->userRoutes();
        $this->userRoutes(self::API);

        // Who a socket signs in as (pusher-js signin()): the logged-in user,
        // its id as a string (Pusher's user_data needs an "id"); nobody for
        // a guest (403). Every broadcaster configured here has the method.
        if (method_exists(Broadcast::driver(), 'resolveAuthenticatedUserUsing')) {
            Broadcast::resolveAuthenticatedUserUsing(function ($request) {
                $user = $request->user();

                return $user ? ['id' => (string) $user->getAuthIdentifier(), 'name' => $user->name] : null;
            });
        }

        require base_path('routes/channels.php');
    }

    /**
     * Laravel 11's BroadcastManager::userRoutes (laravel/framework 11.x
     * src/Illuminate/Broadcasting/BroadcastManager.php), which 8.83 lacks.
     */
    private function userRoutes(?array $attributes = null): void
    {
        $attributes = $attributes ?: ['middleware' => ['web']];

        Route::group($attributes, function ($router) {
            $router->match(
                ['get', 'post'], '/broadcasting/user-auth',
                '\\'.BroadcastController::class.'@authenticateUser'
            )->withoutMiddleware([VerifyCsrfToken::class]);
        });
    }
}
