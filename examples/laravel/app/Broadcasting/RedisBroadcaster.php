<?php

namespace App\Broadcasting;

use Illuminate\Broadcasting\Broadcasters\RedisBroadcaster as BaseBroadcaster;

/**
 * Laravel 8.83's redis broadcaster with Laravel 11's user authentication
 * (ResolvesAuthenticatedUsers): /broadcasting/user-auth answers the user
 * array unsigned, as 11.x's RedisBroadcaster (which inherits the base
 * Broadcaster's resolveAuthenticatedUser) does.
 */
class RedisBroadcaster extends BaseBroadcaster
{
    use ResolvesAuthenticatedUsers;
}
