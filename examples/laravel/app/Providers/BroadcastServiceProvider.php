<?php

namespace App\Providers;

use App\Broadcasting\SignOnlyBroadcaster;
use Illuminate\Broadcasting\BroadcastManager;
use Illuminate\Support\Facades\Broadcast;
use Illuminate\Support\ServiceProvider;

/** POST /broadcasting/auth (web middleware) and routes/channels.php. */
class BroadcastServiceProvider extends ServiceProvider
{
    public function boot(): void
    {
        // BROADCAST_DRIVER=signonly: pusher-style signed auth answers, no publishing.
        $this->app->make(BroadcastManager::class)->extend('signonly', function ($app, array $config) {
            return new SignOnlyBroadcaster((string) ($config['key'] ?? ''), (string) ($config['secret'] ?? ''));
        });

        Broadcast::routes();

        require base_path('routes/channels.php');
    }
}
