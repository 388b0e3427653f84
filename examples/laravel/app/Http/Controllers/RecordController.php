<?php

namespace App\Http\Controllers;

use App\Access;
use Illuminate\Database\Eloquent\Model;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use Illuminate\Routing\Controller;

/**
 * RecordController holds what the record endpoints share: the
 * response shapes and the client_version ("Phase A" in README.md)
 * optimistic-concurrency check.
 */
abstract class RecordController extends Controller
{
    public const CONFLICT_MESSAGE = 'This record was changed by someone else.';

    protected function ok($data, int $status = 200): JsonResponse
    {
        return response()->json(['success' => true, 'data' => $data], $status);
    }

    protected function fail(string $message, int $status, $data = null): JsonResponse
    {
        $body = ['success' => false, 'message' => $message];
        if ($data !== null) {
            $body['data'] = $data;
        }

        return response()->json($body, $status);
    }

    protected function notFound(): JsonResponse
    {
        return $this->fail('Record not found.', 404);
    }

    protected function forbidden(): JsonResponse
    {
        return $this->fail('You do not have access to this record.', 403);
    }

    /** 404 or 403 for a record the user may not read, else null. */
    protected function refuse(Request $request, ?Model $record): ?JsonResponse
    {
        if ($record === null) {
            return $this->notFound();
        }
        if (! Access::canSee($request->user(), $record)) {
            return $this->forbidden();
        }

        return null;
    }

    /**
     * Saves $changes to $record with the client_version check ("Phase A"): a
     * client_version that is not the current updated_at gets 409 with the
     * current version and who saved it; otherwise the record is saved by the
     * current user with a fresh microsecond updated_at, and answered as a GET
     * would.
     *
     * The check and the write are not atomic: RACY_GUARD_SLEEP_MS=N sleeps N
     * ms between them, widening the window in which two writers that loaded
     * the same version both pass (the lost update recordsync must prevent).
     *
     * A request with an X-Import header is saved but not broadcast, and says
     * so to the proxy with X-Recordsync-Broadcast: skip.
     */
    protected function guardedSave(Request $request, Model $record, array $changes, callable $present): JsonResponse
    {
        if ($this->isStale($request, $record)) {
            return $this->conflict($record);
        }
        $this->saveChanges($request, $record, $changes);

        $response = $this->ok($present($record));
        if ($request->headers->has('X-Import')) {
            $response->headers->set('X-Recordsync-Broadcast', 'skip');
        }

        return $response;
    }

    /**
     * Whether the request's client_version names another version than the
     * record's current one ("Phase A"; no client_version: not stale).
     */
    protected function isStale(Request $request, Model $record): bool
    {
        $clientVersion = $request->input('client_version');

        return $clientVersion !== null && ! $record->isVersion($clientVersion);
    }

    /**
     * Writes $changes to $record as the current user with a fresh
     * microsecond updated_at: the write half of the guarded save, after
     * isStale. RACY_GUARD_SLEEP_MS sleeps first (see guardedSave).
     */
    protected function saveChanges(Request $request, Model $record, array $changes): void
    {
        $sleep = (int) env('RACY_GUARD_SLEEP_MS', 0);
        if ($sleep > 0) {
            usleep($sleep * 1000);
        }

        $record->fill($changes);
        $record->updated_by = $request->user()->id;
        $record->updated_at = $record->freshTimestamp();
        $record->save();
    }

    protected function conflict(Model $record): JsonResponse
    {
        return $this->fail(self::CONFLICT_MESSAGE, 409, [
            'updated_at' => $record->version(),
            'updated_by_id' => $record->updated_by !== null ? (int) $record->updated_by : null,
            'updated_by_name' => $record->updaterName(),
        ]);
    }
}
