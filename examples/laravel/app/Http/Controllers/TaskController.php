<?php

namespace App\Http\Controllers;

use App\Models\Project;
use App\Models\Task;
use Illuminate\Http\Request;
use Illuminate\Validation\Rule;

/** /api/v1/projects/{project}/tasks: the record type "projecttask". */
class TaskController extends RecordController
{
    public function index(Request $request, string $project)
    {
        $project = Project::find($project);
        if ($refused = $this->refuse($request, $project)) {
            return $refused;
        }
        $tasks = $project->tasks()->with('updater')->get()->map(function (Task $task) {
            return $task->toRecord();
        });

        return $this->ok($tasks);
    }

    public function show(Request $request, string $project, string $id)
    {
        $task = $this->task($project, $id);
        if ($refused = $this->refuse($request, $task)) {
            return $refused;
        }

        return $this->ok($task->toRecord());
    }

    public function update(Request $request, string $project, string $id)
    {
        $changes = $request->validate([
            'title' => 'sometimes|required|string|max:255',
            'status' => ['sometimes', 'required', Rule::in(Task::STATUSES)],
        ]);
        $task = $this->task($project, $id);
        if ($refused = $this->refuse($request, $task)) {
            return $refused;
        }

        return $this->guardedSave($request, $task, $changes, function (Task $task) {
            return $task->toRecord();
        });
    }

    /** The task, only under its own project. */
    private function task(string $project, string $id): ?Task
    {
        return Task::with('updater', 'project')->where('project_id', $project)->find($id);
    }
}
