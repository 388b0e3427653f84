<?php

namespace App\Models;

use Illuminate\Database\Eloquent\BroadcastsEvents;
use Illuminate\Database\Eloquent\Model;

/**
 * Flow is the record type "flow": /api/v1/flows/{id}.
 *
 * With MODEL_BROADCASTS=1 it broadcasts its own saves with Eloquent's model
 * broadcasting (Illuminate/Database/Eloquent/BroadcastsEvents.php, in
 * Laravel 8.83 as in 11.x-13.x): FlowCreated / FlowUpdated / FlowDeleted
 * (BroadcastableModelEventOccurred::broadcastAs: the class's base name and
 * the event) on private-App.Models.Flow.{id} (a model channel is
 * PrivateChannel($model), Model::broadcastChannel), with broadcastWith
 * limited to the id and the version, the same data recordsync's
 * `model App.Models.Flow` sends. ShouldBroadcast on the sync queue: it is
 * sent within save(), and a broadcasting failure fails the save, as in
 * Laravel.
 */
class Flow extends Model
{
    use BroadcastsEvents;
    use HasRecordVersion;

    /** updated_at with microseconds: the record version. */
    protected $dateFormat = 'Y-m-d H:i:s.u';

    public const TYPE = 'flow';

    protected $fillable = ['name', 'description'];

    protected $casts = ['restricted' => 'boolean', 'updated_by' => 'integer'];

    /** The channels of a model event: this model's, when MODEL_BROADCASTS is on. */
    public function broadcastOn($event)
    {
        return filter_var(env('MODEL_BROADCASTS', false), FILTER_VALIDATE_BOOLEAN) ? [$this] : [];
    }

    /** The event's data: {"model":{"id":1,"updated_at":"…000000Z"}}, nothing else of the record. */
    public function broadcastWith($event)
    {
        return ['model' => ['id' => $this->id, 'updated_at' => $this->version()]];
    }

    public function toRecord(): array
    {
        return [
            'id' => $this->id,
            'name' => $this->name,
            'description' => $this->description,
            'created_at' => $this->created_at ? self::iso($this->created_at) : null,
        ] + $this->versionFields();
    }
}
