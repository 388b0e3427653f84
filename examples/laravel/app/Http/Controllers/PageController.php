<?php

namespace App\Http\Controllers;

use App\Access;
use App\Models\Flow;
use App\Models\Project;
use App\Tenancy;
use Illuminate\Http\Request;
use Illuminate\Routing\Controller;

/** The demo's Blade pages. */
class PageController extends Controller
{
    public function home(Request $request)
    {
        $user = $request->user();
        $flows = $projects = collect();
        if ($user) {
            $visible = function ($record) use ($user) {
                return Access::canSee($user, $record);
            };
            $flows = Flow::orderBy('id')->get()->filter($visible);
            $projects = Project::orderBy('id')->get()->filter($visible);
        }

        return view('home', ['user' => $user, 'tenant' => Tenancy::current(), 'flows' => $flows, 'projects' => $projects]);
    }

    public function flow(Request $request, string $id)
    {
        $flow = Flow::with('updater')->find($id);
        abort_if($flow === null, 404);
        abort_unless(Access::canSee($request->user(), $flow), 403);

        return view('flow', ['flow' => $flow, 'record' => $flow->toRecord(), 'tenant' => Tenancy::current()]);
    }

    public function project(Request $request, string $id)
    {
        $project = Project::find($id);
        abort_if($project === null, 404);
        abort_unless(Access::canSee($request->user(), $project), 403);
        $tasks = $project->tasks()->with('updater')->get()->map->toRecord();

        return view('project', ['project' => $project, 'tasks' => $tasks, 'tenant' => Tenancy::current()]);
    }
}
