<?php

namespace App\Http\Controllers;

use App\Models\User;
use Illuminate\Http\Request;
use Illuminate\Routing\Controller;
use Illuminate\Support\Facades\Hash;
use Illuminate\Validation\ValidationException;

/**
 * POST /api/tokens: a Sanctum personal access token for email and password,
 * as Sanctum's docs issue one to a mobile app ("Issuing Mobile API
 * Tokens"): no session is started, the token is shown once.
 */
class TokenController extends Controller
{
    public function store(Request $request)
    {
        $request->validate([
            'email' => 'required|string',
            'password' => 'required|string',
            'device_name' => 'nullable|string|max:255',
        ]);

        $user = User::where('email', $request->input('email'))->first();
        if (! $user || ! Hash::check($request->input('password'), $user->password)) {
            throw ValidationException::withMessages(['email' => 'The provided credentials are incorrect.']);
        }

        $token = $user->createToken($request->input('device_name') ?: 'api');

        return response()->json([
            'success' => true,
            'data' => ['token' => $token->plainTextToken, 'user' => $user->toPublicArray()],
        ], 201);
    }
}
