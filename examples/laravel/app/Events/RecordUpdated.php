<?php

namespace App\Events;

use App\Tenancy;
use Illuminate\Broadcasting\InteractsWithSockets;
use Illuminate\Broadcasting\PrivateChannel;
use Illuminate\Contracts\Broadcasting\ShouldBroadcastNow;
use Illuminate\Database\Eloquent\Model;

/**
 * RecordUpdated is the record.updated event (what the browser kit reads) on
 * private-record.{type}.{id}, with the payload
 * {tenant_id, record_type, record_id, updated_at_iso, updated_by_id,
 * updated_by_name, tab_id} (under 1 KB). Laravel adds "socket" (the
 * X-Socket-ID of the saving request when sent with toOthers()).
 */
class RecordUpdated implements ShouldBroadcastNow
{
    use InteractsWithSockets;

    /** @var array */
    public $payload;

    public function __construct(array $payload)
    {
        $this->payload = $payload;
    }

    /**
     * The payload for a saved record of the given type; tab_id is the tag of
     * the saving request's X-Tab-ID, as recordsync broadcasts it: the first
     * 32 hex digits of its SHA-256 (null from artisan and other non-HTTP
     * saves). The browser kit ignores the events that carry its own tab's
     * tag; the id itself is never broadcast, so that no subscriber learns
     * another tab's id and sends it to make that tab ignore a save.
     */
    public static function payloadFor(Model $record, string $type): array
    {
        $request = app()->bound('request') && ! app()->runningInConsole() ? request() : null;
        $tab = $request ? $request->header('X-Tab-ID') : null;

        return [
            'tenant_id' => Tenancy::current(),
            'record_type' => $type,
            'record_id' => (int) $record->getKey(),
            'updated_at_iso' => $record->version(),
            'updated_by_id' => $record->updated_by !== null ? (int) $record->updated_by : null,
            'updated_by_name' => $record->updaterName(),
            'tab_id' => $tab !== null && $tab !== '' ? substr(hash('sha256', $tab), 0, 32) : null,
        ];
    }

    public function broadcastOn()
    {
        return new PrivateChannel("record.{$this->payload['record_type']}.{$this->payload['record_id']}");
    }

    public function broadcastAs()
    {
        return 'record.updated';
    }

    public function broadcastWith()
    {
        return $this->payload;
    }
}
