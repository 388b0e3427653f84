<?php

namespace App\Models;

use Illuminate\Database\Eloquent\Model;

/** Flow is the record type "flow": /api/v1/flows/{id}. */
class Flow extends Model
{
    use HasRecordVersion;

    /** updated_at with microseconds: the record version. */
    protected $dateFormat = 'Y-m-d H:i:s.u';

    public const TYPE = 'flow';

    protected $fillable = ['name', 'description'];

    protected $casts = ['restricted' => 'boolean', 'updated_by' => 'integer'];

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
