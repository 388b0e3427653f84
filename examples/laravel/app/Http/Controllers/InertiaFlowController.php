<?php

namespace App\Http\Controllers;

use App\Access;
use App\Models\Flow;
use App\Support\Inertia;
use Illuminate\Http\Request;
use Illuminate\Validation\ValidationException;

/**
 * The flow editor as Inertia pages (routes/inertia.php): component
 * Flows/Edit with the flow as the API's `data` has it (Flow::toRecord) in
 * props.flow. A save is validated and checked against client_version as the
 * API's (FlowController::changes, RecordController::isStale and
 * saveChanges), and answered as an Inertia app answers: a redirect to the
 * page (303 after the middleware), or back with the errors in the session —
 * a stale client_version is one, `errors.client_version`.
 */
class InertiaFlowController extends FlowController
{
    public function edit(Request $request, string $id)
    {
        return Inertia::render('Flows/Edit', ['flow' => $this->visible($request, $id)->toRecord()]);
    }

    public function update(Request $request, string $id)
    {
        $changes = $this->changes($request);
        $flow = $this->visible($request, $id);
        if ($this->isStale($request, $flow)) {
            throw ValidationException::withMessages([
                'client_version' => sprintf('%s %s saved it at %s: reload to see their changes.',
                    self::CONFLICT_MESSAGE, $flow->updaterName() ?? 'Someone else', $flow->version()),
            ]);
        }
        $this->saveChanges($request, $flow, $changes);

        return redirect('/inertia/flows/'.$flow->id);
    }

    /** The flow, or 404 / 403 (as an error page: Inertia shows it in its modal). */
    private function visible(Request $request, string $id): Flow
    {
        $flow = Flow::with('updater')->find($id);
        abort_if($flow === null, 404);
        abort_unless(Access::canSee($request->user(), $flow), 403);

        return $flow;
    }
}
