<?php

return [
    'defaults' => ['guard' => 'web', 'passwords' => 'users'],
    'guards' => [
        'web' => ['driver' => 'session', 'provider' => 'users'],
        // Bearer tokens of personal_access_tokens, after the session
        // (App\Sanctum\Guard, registered by App\Providers\SanctumServiceProvider).
        'sanctum' => ['driver' => 'sanctum', 'provider' => null],
    ],
    'providers' => [
        'users' => ['driver' => 'eloquent', 'model' => App\Models\User::class],
    ],
    'passwords' => [],
    'password_timeout' => 10800,
];
