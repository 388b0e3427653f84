<?php

namespace App\Console\Commands;

use App\Models\User;

trait ResolvesUser
{
    /** The user named by --by: an id or an email address. */
    private function user(string $by): ?User
    {
        return ctype_digit($by) ? User::find((int) $by) : User::where('email', $by)->first();
    }
}
