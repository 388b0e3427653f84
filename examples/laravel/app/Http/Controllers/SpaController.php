<?php

namespace App\Http\Controllers;

use App\Tenancy;
use Illuminate\Http\Request;
use Illuminate\Routing\Controller;

/**
 * The shell of a page built the way Laravel 11–13 starter kits build one
 * (React or Vue, Echo from @laravel/echo-react or -vue): a root element, who
 * the user is and the tenant, and the script Vite would put in public/build/.
 */
class SpaController extends Controller
{
    public function show(Request $request, string $bundle)
    {
        $user = $request->user();

        return view('spa', [
            'bundle' => $bundle,
            'tenant' => Tenancy::current(),
            'user' => ['id' => $user->id, 'name' => $user->name],
        ]);
    }
}
