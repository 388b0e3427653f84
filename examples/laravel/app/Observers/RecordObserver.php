<?php

namespace App\Observers;

use App\Support\Broadcasts;
use Illuminate\Database\Eloquent\Model;

/**
 * RecordObserver broadcasts every saved Flow and Task (broadcasting from the
 * model observer), whoever saved it: a PUT, an artisan
 * command, a queue job. Registered only with BROADCAST_FROM_OBSERVER=1.
 */
class RecordObserver
{
    public function saved(Model $record): void
    {
        Broadcasts::saved($record);
    }
}
