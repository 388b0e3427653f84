<?php

namespace App\Http\Controllers;

use Illuminate\Http\Request;
use Illuminate\Routing\Controller;
use Illuminate\Support\Facades\Auth;
use Illuminate\Validation\ValidationException;

/**
 * Session login for the web group. JSON callers (Accept or Content-Type
 * JSON) get JSON answers with the session's CSRF token; forms get redirects.
 */
class AuthController extends Controller
{
    public function showLogin()
    {
        return view('login');
    }

    public function login(Request $request)
    {
        $credentials = $request->validate([
            'email' => 'required|string',
            'password' => 'required|string',
        ]);
        if (! Auth::attempt($credentials)) {
            throw ValidationException::withMessages(['email' => 'These credentials do not match our records.']);
        }
        $request->session()->regenerate();

        if ($this->wantsJson($request)) {
            return $this->me($request);
        }

        return redirect()->intended('/');
    }

    public function logout(Request $request)
    {
        Auth::logout();
        $request->session()->invalidate();
        $request->session()->regenerateToken();

        return $this->wantsJson($request)
            ? response()->json(['success' => true])
            : redirect('/login');
    }

    /** GET /api/v1/me: the user, and the session's CSRF token for forms and sockets. */
    public function me(Request $request)
    {
        return response()->json([
            'success' => true,
            'data' => $request->user()->toPublicArray() + ['csrf_token' => $request->session()->token()],
        ]);
    }

    private function wantsJson(Request $request): bool
    {
        return $request->expectsJson() || $request->isJson();
    }
}
