<?php

namespace App\Http\Controllers;

use App\Access;
use Illuminate\Http\Request;

/**
 * GET /api/v1/records/{type}/{id}/version: the version poll, answered
 * as successResponse(['updated_at' => ..., 'updated_by_name' => ...]).
 * Types: flow, projecttask (id = task id). 404 for an unknown type or
 * record, 403 when the user may not see it.
 */
class VersionController extends RecordController
{
    public function show(Request $request, string $type, string $id)
    {
        if (! in_array($type, ['flow', 'projecttask'], true)) {
            return $this->fail('Unknown record type.', 404);
        }
        $record = Access::find($type, $id);
        if ($refused = $this->refuse($request, $record)) {
            return $refused;
        }

        return $this->ok([
            'updated_at' => $record->version(),
            'updated_by_name' => $record->updaterName(),
        ]);
    }
}
