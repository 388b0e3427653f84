<?php

namespace App\Models;

use Illuminate\Database\Eloquent\Model;

/** Project groups tasks; its tasks table is a live list (private-project.{id}). */
class Project extends Model
{
    use HasRecordVersion;

    /** updated_at with microseconds: the record version. */
    protected $dateFormat = 'Y-m-d H:i:s.u';

    protected $fillable = ['name'];

    protected $casts = ['restricted' => 'boolean', 'updated_by' => 'integer'];

    public function tasks()
    {
        return $this->hasMany(Task::class)->orderBy('id');
    }
}
