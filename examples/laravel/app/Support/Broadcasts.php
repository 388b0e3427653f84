<?php

namespace App\Support;

use App\Events\RecordUpdated;
use App\Events\TaskUpdated;
use App\Models\Flow;
use App\Models\Task;
use Illuminate\Database\Eloquent\Model;

/**
 * Broadcasts sends a saved record's events: record.updated on its record
 * channel and, for tasks, task.updated on the project channel.
 *
 * Like broadcast(...)->toOthers(), the saving request's X-Socket-ID is passed
 * on as "socket", so that tab gets no copy. A broadcasting failure (Redis
 * down) is logged and never fails the save that caused it.
 */
final class Broadcasts
{
    /** Whether the current request is an import (header X-Import): imports are never broadcast. */
    public static function isImport(): bool
    {
        return app()->bound('request') && ! app()->runningInConsole()
            && request()->headers->has('X-Import');
    }

    public static function saved(Model $record): void
    {
        if (self::isImport()) {
            return;
        }
        $events = [];
        if ($record instanceof Flow) {
            $events[] = new RecordUpdated(RecordUpdated::payloadFor($record, Flow::TYPE));
        } elseif ($record instanceof Task) {
            $events[] = new RecordUpdated(RecordUpdated::payloadFor($record, Task::TYPE));
            $events[] = new TaskUpdated($record);
        }
        foreach ($events as $event) {
            try {
                event($event->dontBroadcastToCurrentUser());
            } catch (\Throwable $e) {
                report($e);
            }
        }
    }

    /** BROADCAST_FROM_OBSERVER=1: every save broadcasts from the model observer. */
    public static function fromObserver(): bool
    {
        return filter_var(env('BROADCAST_FROM_OBSERVER', false), FILTER_VALIDATE_BOOLEAN);
    }
}
