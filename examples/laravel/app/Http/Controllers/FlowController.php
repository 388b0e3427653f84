<?php

namespace App\Http\Controllers;

use App\Access;
use App\Models\Flow;
use Illuminate\Http\Request;

/** /api/v1/flows: the record type "flow". */
class FlowController extends RecordController
{
    public function index(Request $request)
    {
        $user = $request->user();
        $flows = Flow::with('updater')->orderBy('id')->get()
            ->filter(function (Flow $flow) use ($user) {
                return Access::canSee($user, $flow);
            })
            ->map(function (Flow $flow) {
                return $flow->toRecord();
            })
            ->values();

        return $this->ok($flows);
    }

    public function show(Request $request, string $id)
    {
        $flow = Flow::with('updater')->find($id);
        if ($refused = $this->refuse($request, $flow)) {
            return $refused;
        }

        return $this->ok($flow->toRecord());
    }

    public function update(Request $request, string $id)
    {
        $changes = $this->changes($request);
        $flow = Flow::with('updater')->find($id);
        if ($refused = $this->refuse($request, $flow)) {
            return $refused;
        }

        return $this->guardedSave($request, $flow, $changes, function (Flow $flow) {
            return $flow->toRecord();
        });
    }

    /** The changes a save of a flow may make, validated (the API and the Inertia page share them). */
    protected function changes(Request $request): array
    {
        return $request->validate([
            'name' => 'sometimes|required|string|max:255',
            'description' => 'sometimes|nullable|string|max:10000',
        ]);
    }
}
