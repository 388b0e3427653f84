<?php

use App\Http\Controllers\AuthController;
use App\Http\Controllers\PageController;
use Illuminate\Support\Facades\Route;

Route::get('/', [PageController::class, 'home']);

Route::get('/login', [AuthController::class, 'showLogin'])->name('login');
Route::post('/login', [AuthController::class, 'login']);
Route::post('/logout', [AuthController::class, 'logout']);

Route::middleware('auth')->group(function () {
    Route::get('/flows/{id}', [PageController::class, 'flow'])->whereNumber('id');
    Route::get('/projects/{id}', [PageController::class, 'project'])->whereNumber('id');
    Route::get('/spa/{bundle}', [\App\Http\Controllers\SpaController::class, 'show'])->where('bundle', '[a-z0-9-]+');
});
