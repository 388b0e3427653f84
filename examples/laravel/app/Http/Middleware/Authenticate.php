<?php

namespace App\Http\Middleware;

use Illuminate\Auth\Middleware\Authenticate as Middleware;

/** auth: pages redirect to /login; the API answers 401 JSON. */
class Authenticate extends Middleware
{
    protected function redirectTo($request)
    {
        if ($request->is('api/*') || $request->expectsJson()) {
            return null;
        }

        return '/login';
    }
}
