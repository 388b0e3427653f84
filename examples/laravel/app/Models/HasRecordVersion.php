<?php

namespace App\Models;

use Carbon\Carbon;
use DateTimeInterface;

/**
 * HasRecordVersion gives a model the record version recordsync learns:
 * updated_at with microseconds (two saves within one second still get
 * different versions), serialised as 2026-01-01T12:00:00.000000Z, and who
 * saved it last.
 *
 * Models using it declare protected $dateFormat = 'Y-m-d H:i:s.u' (stored as
 * text in SQLite, with microseconds).
 */
trait HasRecordVersion
{
    public function updater()
    {
        return $this->belongsTo(User::class, 'updated_by');
    }

    /** The version: updated_at as ISO 8601 UTC with microseconds. */
    public function version(): ?string
    {
        return $this->updated_at ? self::iso($this->updated_at) : null;
    }

    public static function iso(DateTimeInterface $date): string
    {
        return Carbon::instance($date)->utc()->format('Y-m-d\TH:i:s.u\Z');
    }

    /**
     * Whether a client's loaded version (client_version) names the current
     * version: the same string, or the same instant at microsecond precision
     * written another way (offset, fewer digits).
     */
    public function isVersion($clientVersion): bool
    {
        $current = $this->version();
        if ($current === null || ! is_scalar($clientVersion)) {
            return false;
        }
        $clientVersion = (string) $clientVersion;
        if ($clientVersion === $current) {
            return true;
        }
        try {
            return self::iso(Carbon::parse($clientVersion)) === $current;
        } catch (\Throwable $e) {
            return false;
        }
    }

    /**
     * The name of who saved the record last. The updater relation is
     * reloaded when updated_by changed since it was loaded (a model
     * observer runs inside save(), before anyone could refresh it).
     */
    public function updaterName(): ?string
    {
        if ($this->updated_by === null) {
            return null;
        }
        if (! $this->relationLoaded('updater') || optional($this->updater)->getKey() != $this->updated_by) {
            $this->load('updater');
        }

        return optional($this->updater)->name;
    }

    /** The fields every record answer carries: version and who saved it. */
    public function versionFields(): array
    {
        return [
            'updated_at' => $this->version(),
            'updated_by' => $this->updated_by !== null ? (int) $this->updated_by : null,
            'updated_by_name' => $this->updaterName(),
        ];
    }

    protected function serializeDate(DateTimeInterface $date)
    {
        return self::iso($date);
    }
}
