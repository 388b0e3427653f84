<?php

namespace App\Models;

use Illuminate\Database\Eloquent\Model;

/**
 * Task is the record type "projecttask":
 * /api/v1/projects/{project}/tasks/{id}.
 */
class Task extends Model
{
    use HasRecordVersion;

    /** updated_at with microseconds: the record version. */
    protected $dateFormat = 'Y-m-d H:i:s.u';

    public const TYPE = 'projecttask';

    public const STATUSES = ['todo', 'doing', 'done'];

    protected $fillable = ['title', 'status'];

    protected $casts = ['project_id' => 'integer', 'updated_by' => 'integer'];

    public function project()
    {
        return $this->belongsTo(Project::class);
    }

    public function toRecord(): array
    {
        return [
            'id' => $this->id,
            'project_id' => $this->project_id,
            'title' => $this->title,
            'status' => $this->status,
            'created_at' => $this->created_at ? self::iso($this->created_at) : null,
        ] + $this->versionFields();
    }
}
