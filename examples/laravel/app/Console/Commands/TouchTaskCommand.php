<?php

namespace App\Console\Commands;

use App\Models\Task;
use App\Support\Broadcasts;
use Illuminate\Console\Command;

/**
 * tasks:touch saves a task outside any HTTP request and broadcasts
 * record.updated and task.updated (see flows:touch).
 *
 *   php artisan --tenant=a tasks:touch 1 2 --status=done
 */
class TouchTaskCommand extends Command
{
    use ResolvesUser;

    protected $signature = 'tasks:touch {project} {id} {--title=} {--status=} {--by=bob@example.com : user id or email of the saver}';

    protected $description = 'Update a task from the console and broadcast it';

    public function handle(): int
    {
        $task = Task::where('project_id', $this->argument('project'))->find($this->argument('id'));
        $user = $this->user((string) $this->option('by'));
        if (! $task || ! $user) {
            $this->error(! $task ? 'no such task' : 'no such user');

            return 1;
        }
        if ($this->option('status') !== null && ! in_array($this->option('status'), Task::STATUSES, true)) {
            $this->error('status must be one of '.implode(', ', Task::STATUSES));

            return 1;
        }
        foreach (['title', 'status'] as $field) {
            if ($this->option($field) !== null) {
                $task->{$field} = $this->option($field);
            }
        }
        $task->updated_by = $user->id;
        $task->updated_at = $task->freshTimestamp();
        $task->save();
        if (! Broadcasts::fromObserver()) {
            Broadcasts::saved($task);
        }
        $this->line(json_encode($task->toRecord()));

        return 0;
    }
}
