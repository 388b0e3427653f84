<?php

namespace App\Providers;

use App\Models\Flow;
use App\Models\Task;
use App\Observers\RecordObserver;
use App\Support\Broadcasts;
use Illuminate\Support\ServiceProvider;

class AppServiceProvider extends ServiceProvider
{
    public function boot(): void
    {
        if (Broadcasts::fromObserver()) {
            Flow::observe(RecordObserver::class);
            Task::observe(RecordObserver::class);
        }
    }
}
