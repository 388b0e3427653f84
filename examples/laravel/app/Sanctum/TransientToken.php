<?php

namespace App\Sanctum;

/**
 * The "token" of a user Sanctum's guard found in the session
 * (laravel/sanctum src/TransientToken.php): may do anything.
 */
class TransientToken
{
    public function can($ability)
    {
        return true;
    }

    public function cant($ability)
    {
        return false;
    }
}
