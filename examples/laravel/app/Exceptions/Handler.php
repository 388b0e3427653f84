<?php

namespace App\Exceptions;

use Illuminate\Auth\AuthenticationException;
use Illuminate\Foundation\Exceptions\Handler as ExceptionHandler;
use Throwable;

/**
 * Handler renders errors of the API (and of anyone asking for JSON) in the
 * shape of the record API's failures, {"success":false,"message":...}.
 */
class Handler extends ExceptionHandler
{
    protected $dontFlash = ['password', 'password_confirmation'];

    protected function shouldReturnJson($request, Throwable $e)
    {
        return $request->is('api/*') || $request->is('broadcasting/*') || $request->expectsJson();
    }

    protected function unauthenticated($request, AuthenticationException $exception)
    {
        return $this->shouldReturnJson($request, $exception)
            ? response()->json(['success' => false, 'message' => 'Unauthenticated.'], 401)
            : redirect()->guest($exception->redirectTo() ?? '/login');
    }

    protected function invalidJson($request, $exception)
    {
        return response()->json([
            'success' => false,
            'message' => $exception->getMessage(),
            'errors' => $exception->errors(),
        ], $exception->status);
    }

    protected function convertExceptionToArray(Throwable $e)
    {
        return ['success' => false] + parent::convertExceptionToArray($e);
    }
}
