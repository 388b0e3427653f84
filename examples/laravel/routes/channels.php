<?php

/*
 * Channel authorisation for POST /broadcasting/auth (Broadcast::routes()).
 *
 * The tenant is implicit: the request's host picks the tenant database, so a
 * user and a record here are always of the same tenant. Laravel strips the
 * private-/presence- prefix before matching, so one callback serves both:
 *   private-record.{type}.{id}   → true (the redis broadcaster answers `true`)
 *   presence-record.{type}.{id}  → the member's info {"id":..,"name":..}
 *                                  (answered as {"channel_data":{"user_id":..,"user_info":{..}}})
 * A user without permission (Carol on flow 2 / project 2) gets 403.
 */

use App\Access;
use Illuminate\Support\Facades\Broadcast;

$member = function ($user) {
    $presence = strncmp((string) request()->input('channel_name'), 'presence-', 9) === 0;

    return $presence ? ['id' => $user->id, 'name' => $user->name] : true;
};

Broadcast::channel('record.{type}.{id}', function ($user, $type, $id) use ($member) {
    return Access::canSeeRecord($user, $type, $id) ? $member($user) : false;
});

Broadcast::channel('project.{id}', function ($user, $id) use ($member) {
    return Access::canSeeProject($user, $id) ? $member($user) : false;
});

// Eloquent model broadcasting's channel (Illuminate/Database/Eloquent/
// BroadcastsEvents.php: the class with dots, then the key), as
// `php artisan install:broadcasting` scaffolds it for App.Models.User; here
// for flows, whose saves recordsync announces as FlowUpdated
// (record flow ... { model App.Models.Flow }).
Broadcast::channel('App.Models.Flow.{id}', function ($user, $id) {
    return Access::canSeeRecord($user, 'flow', $id);
});
