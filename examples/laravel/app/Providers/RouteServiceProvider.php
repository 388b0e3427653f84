<?php

namespace App\Providers;

use Illuminate\Foundation\Support\Providers\RouteServiceProvider as ServiceProvider;
use Illuminate\Support\Facades\Route;

/**
 * routes/web.php: pages and login (web group). routes/api.php: the record
 * API under /api/v1, on the same session (web group + auth), as a Laravel app
 * serves its API to its own pages.
 */
class RouteServiceProvider extends ServiceProvider
{
    public function boot(): void
    {
        $this->routes(function () {
            Route::middleware('web')
                ->group(base_path('routes/web.php'));

            Route::prefix('api/v1')
                ->middleware(['web', 'auth'])
                ->group(base_path('routes/api.php'));

            // routes/inertia.php: Inertia pages (app/Support/Inertia.php), with
            // the Inertia middleware last, as an app appends it to its web group.
            Route::middleware(['web', 'auth', \App\Http\Middleware\HandleInertiaRequests::class])
                ->group(base_path('routes/inertia.php'));

            // Laravel 11's api routes (withRouting(api: ...)): prefix api,
            // the api group, Sanctum tokens.
            Route::prefix('api')
                ->middleware('api')
                ->group(base_path('routes/sanctum.php'));
        });
    }
}
