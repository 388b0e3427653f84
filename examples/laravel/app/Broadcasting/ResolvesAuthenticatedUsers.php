<?php

namespace App\Broadcasting;

use Closure;

/**
 * Laravel 11's user authentication of broadcasters, which Laravel 8.83's
 * Broadcaster lacks (laravel/framework 11.x
 * src/Illuminate/Broadcasting/Broadcasters/Broadcaster.php,
 * resolveAuthenticatedUser and resolveAuthenticatedUserUsing):
 * Broadcast::resolveAuthenticatedUserUsing(fn ($request) => [...]) names
 * the user a socket signs in as (pusher-js's signin(), POST
 * /broadcasting/user-auth); without a callback nobody may sign in (403).
 * The redis, log and null broadcasters answer the callback's array as it
 * is; SignOnlyBroadcaster signs it, as the pusher broadcaster does.
 */
trait ResolvesAuthenticatedUsers
{
    /** @var Closure|null */
    protected $authenticatedUserCallback = null;

    /**
     * The authenticated user payload for the incoming connection request.
     *
     * @param  \Illuminate\Http\Request  $request
     * @return array|string|null
     */
    public function resolveAuthenticatedUser($request)
    {
        if ($this->authenticatedUserCallback) {
            return $this->authenticatedUserCallback->__invoke($request);
        }

        return null;
    }

    public function resolveAuthenticatedUserUsing(Closure $callback)
    {
        $this->authenticatedUserCallback = $callback;
    }
}
