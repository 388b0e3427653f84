<?php

return [
    // redis: Laravel's redis broadcaster publishes {prefix}{channel} on the
    // Redis connection below (recordsync's redis ingress reads it).
    // signonly: answers /broadcasting/auth signed as the pusher/reverb
    // broadcaster does (App\Broadcasting\SignOnlyBroadcaster), so Laravel
    // Echo can subscribe through recordsync's /ws; publishes nothing.
    // log / null: nothing leaves the app (the default).
    // Laravel 8 has no reverb driver, and Debian ships no pusher-php-server.
    'default' => env('BROADCAST_DRIVER', 'null'),

    'connections' => [
        'redis' => [
            'driver' => 'redis',
            'connection' => env('BROADCAST_REDIS_CONNECTION', 'default'),
        ],
        'signonly' => [
            'driver' => 'signonly',
            'key' => env('PUSHER_APP_KEY', ''),
            'secret' => env('PUSHER_APP_SECRET', ''),
        ],
        'log' => ['driver' => 'log'],
        'null' => ['driver' => 'null'],
    ],
];
