<?php

namespace App\Http\Controllers;

use Illuminate\Http\Request;
use Illuminate\Routing\Controller;
use Illuminate\Support\Facades\Broadcast;
use Symfony\Component\HttpKernel\Exception\AccessDeniedHttpException;

/**
 * POST /broadcasting/user-auth (Laravel 11's Broadcast::userRoutes():
 * laravel/framework 11.x src/Illuminate/Broadcasting/BroadcastController.php,
 * authenticateUser): the user the broadcaster resolves for the request, or
 * 403 when it resolves none.
 */
class BroadcastController extends Controller
{
    public function authenticateUser(Request $request)
    {
        if ($request->hasSession()) {
            $request->session()->reflash();
        }

        return Broadcast::resolveAuthenticatedUser($request)
                    ?? throw new AccessDeniedHttpException;
    }
}
