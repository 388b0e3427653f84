<?php

// laravel/sanctum 4.x config/sanctum.php, the parts App\Sanctum reads.
return [
    // Guards tried before the Bearer token (the session of the web group).
    'guard' => ['web'],
    // Minutes a token lives; null: until deleted (or its expires_at).
    'expiration' => env('SANCTUM_EXPIRATION') ? (int) env('SANCTUM_EXPIRATION') : null,
    // Put in front of every new token's plain text (e.g. for secret scanners).
    'token_prefix' => env('SANCTUM_TOKEN_PREFIX', ''),
];
