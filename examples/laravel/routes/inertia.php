<?php

// The flow editor as Inertia pages (InertiaFlowController), behind the web
// group, the Inertia middleware and auth (see RouteServiceProvider). recordsync
// reads the flow from props.flow (`record flow ... { inertia flow
// /inertia/flows/{id} }`).

use App\Http\Controllers\InertiaFlowController;
use Illuminate\Support\Facades\Route;

Route::get('/inertia/flows/{id}', [InertiaFlowController::class, 'edit'])->whereNumber('id');
Route::match(['put', 'patch'], '/inertia/flows/{id}', [InertiaFlowController::class, 'update'])->whereNumber('id');
