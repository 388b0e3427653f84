<?php

/*
 * Channel authorisation for POST /broadcasting/auth (Broadcast::routes()).
 *
 * The tenant is implicit: the request's host picks the tenant database, so a
 * user and a record here are always of the same tenant. Laravel strips the
 * private-/presence- prefix before matching, so one callback serves both:
 *   private-record.{type}.{id}   → true for a permitted user (redis driver: `true`)
 *   presence-record.{type}.{id}  → the member's info, {"id":..,"name":..}
 * A user without permission (Carol on flow 2 / project 2) gets 403.
 */

use App\Access;
use Illuminate\Support\Facades\Broadcast;

Broadcast::channel('record.{type}.{id}', function ($user, $type, $id) {
    if (! Access::canSeeRecord($user, $type, $id)) {
        return false;
    }

    return ['id' => $user->id, 'name' => $user->name];
});

Broadcast::channel('project.{id}', function ($user, $id) {
    if (! Access::canSeeProject($user, $id)) {
        return false;
    }

    return ['id' => $user->id, 'name' => $user->name];
});
