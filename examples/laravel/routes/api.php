<?php

// Under /api/v1, behind the web group and auth (see RouteServiceProvider).

use App\Http\Controllers\AuthController;
use App\Http\Controllers\FlowController;
use App\Http\Controllers\TaskController;
use App\Http\Controllers\VersionController;
use Illuminate\Support\Facades\Route;

Route::get('/me', [AuthController::class, 'me']);

Route::get('/flows', [FlowController::class, 'index']);
Route::get('/flows/{id}', [FlowController::class, 'show'])->whereNumber('id');
Route::match(['put', 'patch'], '/flows/{id}', [FlowController::class, 'update'])->whereNumber('id');

Route::get('/projects/{project}/tasks', [TaskController::class, 'index'])->whereNumber('project');
Route::get('/projects/{project}/tasks/{id}', [TaskController::class, 'show'])->whereNumber(['project', 'id']);
Route::match(['put', 'patch'], '/projects/{project}/tasks/{id}', [TaskController::class, 'update'])->whereNumber(['project', 'id']);

Route::get('/records/{type}/{id}/version', [VersionController::class, 'show']);
