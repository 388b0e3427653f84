<?php

/*
 * Laravel 11's routes/api.php after `php artisan install:api` (its stub:
 * laravel/framework 11.x src/Illuminate/Foundation/Console/stubs/api-routes.stub),
 * under prefix /api and the api middleware group (no session, no CSRF),
 * plus the token endpoint a mobile or API client logs in with (Sanctum's
 * docs, "Issuing Mobile API Tokens"). See RouteServiceProvider.
 *
 *   POST /api/tokens  {"email","password","device_name"?}
 *        → 201 {"success":true,"data":{"token":"{id}|{plain}","user":{id,name,email,role}}}
 *        → 422 on bad credentials
 *   GET  /api/user    (Authorization: Bearer {id}|{plain}) → the user; 401 without a valid token
 *
 * /api/broadcasting/auth and /api/broadcasting/user-auth (auth:sanctum)
 * are registered by BroadcastServiceProvider.
 */

use App\Http\Controllers\TokenController;
use Illuminate\Http\Request;
use Illuminate\Support\Facades\Route;

Route::post('/tokens', [TokenController::class, 'store']);

Route::get('/user', function (Request $request) {
    return $request->user();
})->middleware('auth:sanctum');
