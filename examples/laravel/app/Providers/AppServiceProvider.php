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
        // @inertia and the inertia_major test cookie (app/Support/Inertia.php).
        \App\Support\Inertia::register($this->app);
        if (Broadcasts::fromObserver()) {
            Flow::observe(RecordObserver::class);
            Task::observe(RecordObserver::class);
        }
    }
}
