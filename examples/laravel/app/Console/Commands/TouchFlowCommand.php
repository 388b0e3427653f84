<?php

namespace App\Console\Commands;

use App\Models\Flow;
use App\Support\Broadcasts;
use Illuminate\Console\Command;

/**
 * flows:touch saves a flow outside any HTTP request (a save the proxy never
 * sees) and broadcasts record.updated, from the observer when it is on, else
 * directly. Prints the saved record as JSON.
 *
 *   php artisan --tenant=a flows:touch 1 --name="Renamed" --by=bob@example.com
 */
class TouchFlowCommand extends Command
{
    use ResolvesUser;

    protected $signature = 'flows:touch {id} {--name=} {--description=} {--by=bob@example.com : user id or email of the saver}';

    protected $description = 'Update a flow from the console and broadcast it';

    public function handle(): int
    {
        $flow = Flow::find($this->argument('id'));
        $user = $this->user((string) $this->option('by'));
        if (! $flow || ! $user) {
            $this->error(! $flow ? 'no such flow' : 'no such user');

            return 1;
        }
        foreach (['name', 'description'] as $field) {
            if ($this->option($field) !== null) {
                $flow->{$field} = $this->option($field);
            }
        }
        $flow->updated_by = $user->id;
        $flow->updated_at = $flow->freshTimestamp();
        $flow->save();
        if (! Broadcasts::fromObserver()) {
            Broadcasts::saved($flow);
        }
        $this->line(json_encode($flow->toRecord()));

        return 0;
    }
}
