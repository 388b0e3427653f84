<?php

return [
    // redis: Laravel's redis broadcaster publishes {prefix}{channel} on the
    // Redis connection below (recordsync's redis ingress, issue 4).
    // log / null: nothing leaves the app (the default).
    // Laravel 8 has no reverb driver, and Debian ships no pusher-php-server.
    'default' => env('BROADCAST_DRIVER', 'null'),

    'connections' => [
        'redis' => [
            'driver' => 'redis',
            'connection' => env('BROADCAST_REDIS_CONNECTION', 'default'),
        ],
        'log' => ['driver' => 'log'],
        'null' => ['driver' => 'null'],
    ],
];
