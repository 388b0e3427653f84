<?php

namespace App;

use App\Models\Flow;
use App\Models\Project;
use App\Models\Task;
use App\Models\User;

/**
 * Access is the example's permission check, used by the record API, the
 * version endpoint and routes/channels.php alike: a user of role "guest"
 * (Carol in the data app:setup creates) may not see restricted flows or
 * restricted projects and their tasks. The tenant is implicit: each tenant
 * has its own database.
 */
final class Access
{
    /** Record types of the API: flow and projecttask. */
    public static function find(string $type, $id)
    {
        if (! ctype_digit((string) $id)) {
            return null;
        }
        switch ($type) {
            case Flow::TYPE:
                return Flow::find((int) $id);
            case Task::TYPE:
                return Task::find((int) $id);
        }

        return null;
    }

    public static function canSee(User $user, $record): bool
    {
        if ($user->role !== 'guest') {
            return true;
        }
        if ($record instanceof Flow || $record instanceof Project) {
            return ! $record->restricted;
        }
        if ($record instanceof Task) {
            return ! optional($record->project)->restricted;
        }

        return false;
    }

    public static function canSeeRecord(User $user, string $type, $id): bool
    {
        $record = self::find($type, $id);

        return $record !== null && self::canSee($user, $record);
    }

    public static function canSeeProject(User $user, $id): bool
    {
        $project = ctype_digit((string) $id) ? Project::find((int) $id) : null;

        return $project !== null && self::canSee($user, $project);
    }
}
