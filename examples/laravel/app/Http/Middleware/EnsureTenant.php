<?php

namespace App\Http\Middleware;

use App\Tenancy;
use Closure;

/**
 * EnsureTenant answers 404 for a host that names no tenant with a database,
 * before anything touches a database or a session.
 */
class EnsureTenant
{
    public function handle($request, Closure $next)
    {
        if (! Tenancy::exists()) {
            return response()->json(['success' => false, 'message' => 'Unknown tenant.'], 404);
        }

        return $next($request);
    }
}
