<?php

use App\Tenancy;

return [
    // One SQLite file per tenant: {DB_DATABASE}/{tenant}.sqlite (see App\Tenancy).
    'default' => 'tenant',

    'connections' => [
        'tenant' => [
            'driver' => 'sqlite',
            'database' => Tenancy::databasePath(),
            'prefix' => '',
            'foreign_key_constraints' => true,
        ],
    ],

    'migrations' => 'migrations',

    'redis' => [
        'client' => env('REDIS_CLIENT', 'phpredis'),
        'options' => [
            'cluster' => 'redis',
            'prefix' => Tenancy::redisPrefix(),
        ],
        'default' => [
            'host' => env('REDIS_HOST', '127.0.0.1'),
            'port' => (int) env('REDIS_PORT', 6379),
            'password' => env('REDIS_PASSWORD'),
            'database' => (int) env('REDIS_DB', 0),
            'timeout' => 1.0,
            'read_timeout' => 2.0,
        ],
    ],
];
