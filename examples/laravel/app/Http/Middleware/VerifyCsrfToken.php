<?php

namespace App\Http\Middleware;

use Illuminate\Foundation\Http\Middleware\VerifyCsrfToken as Middleware;

/**
 * CSRF protection of the web group. The JSON record API under /api/ is
 * exempt: it is session-authenticated, but a cross-site page cannot send a
 * JSON PUT/PATCH without a CORS preflight, which this app never allows.
 * Forms (/login, /logout) need the token (_token field, X-CSRF-TOKEN, or
 * X-XSRF-TOKEN from the XSRF-TOKEN cookie as axios sends it).
 * /broadcasting/auth is exempt by Laravel itself (Broadcast::routes()).
 */
class VerifyCsrfToken extends Middleware
{
    protected $except = [
        'api/*',
    ];
}
