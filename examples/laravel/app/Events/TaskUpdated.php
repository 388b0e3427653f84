<?php

namespace App\Events;

use App\Models\Task;
use Illuminate\Broadcasting\InteractsWithSockets;
use Illuminate\Broadcasting\PrivateChannel;
use Illuminate\Contracts\Broadcasting\ShouldBroadcastNow;

/**
 * TaskUpdated is the list event of the Gantt-style task tables:
 * task.updated on private-project.{project_id}, with RecordUpdated's payload
 * plus task_id.
 */
class TaskUpdated implements ShouldBroadcastNow
{
    use InteractsWithSockets;

    /** @var array */
    public $payload;

    /** @var int */
    public $projectId;

    public function __construct(Task $task)
    {
        $this->projectId = (int) $task->project_id;
        $this->payload = RecordUpdated::payloadFor($task, Task::TYPE) + ['task_id' => (int) $task->id];
    }

    public function broadcastOn()
    {
        return new PrivateChannel("project.{$this->projectId}");
    }

    public function broadcastAs()
    {
        return 'task.updated';
    }

    public function broadcastWith()
    {
        return $this->payload;
    }
}
