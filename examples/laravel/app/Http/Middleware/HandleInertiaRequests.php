<?php

namespace App\Http\Middleware;

use App\Support\Inertia;
use Closure;
use Illuminate\Http\Request;
use Illuminate\Support\Facades\Redirect;
use Symfony\Component\HttpFoundation\Response;

/**
 * HandleInertiaRequests is an app's HandleInertiaRequests on inertia-laravel's
 * Inertia\Middleware, emulated (app/Support/Inertia.php says why). Followed:
 * inertia-laravel src/Middleware.php (version from the build manifest,
 * `errors` shared as an always prop, Vary: X-Inertia on every answer, a
 * mismatched X-Inertia-Version on a GET → onVersionChange: the flash kept,
 * 409 with X-Inertia-Location; an empty 200 → back; a 302 after PUT, PATCH
 * or DELETE → 303) and, for 3.x, src/Middleware/EnsureGetOnRedirect.php
 * (the same 302 → 303, now a global middleware).
 */
class HandleInertiaRequests
{
    /** The root view of a first load: resources/views/inertia.blade.php. */
    protected $rootView = 'inertia';

    /**
     * The asset version: a hash of ASSET_URL or of a Vite or Mix manifest in
     * public/, as the adapter's; this example has no build in public/ (its
     * pages are served at /build/ in front of it), so INERTIA_ASSET_VERSION
     * names one instead. None: ''.
     */
    public function version(Request $request): ?string
    {
        if (config('app.asset_url')) {
            return hash('xxh128', config('app.asset_url'));
        }
        if (file_exists($manifest = public_path('build/manifest.json'))) {
            return hash_file('xxh128', $manifest);
        }
        if (file_exists($manifest = public_path('mix-manifest.json'))) {
            return hash_file('xxh128', $manifest);
        }

        return env('INERTIA_ASSET_VERSION') ?: null;
    }

    /**
     * The props every page gets, on partial reloads too (the adapter shares
     * them as Inertia::always): the validation errors.
     */
    public function shareAlways(Request $request): array
    {
        return ['errors' => $this->resolveValidationErrors($request)];
    }

    /** The props every page gets: who is logged in. */
    public function share(Request $request): array
    {
        $user = $request->user();

        return ['auth' => ['user' => $user ? ['id' => $user->id, 'name' => $user->name] : null]];
    }

    public function handle(Request $request, Closure $next)
    {
        Inertia::version(function () use ($request) {
            return $this->version($request);
        });
        Inertia::share($this->shareAlways($request), true);
        Inertia::share($this->share($request));
        Inertia::setRootView($this->rootView);

        $response = $next($request);
        $response->headers->set('Vary', Inertia::HEADER);

        if (! $request->header(Inertia::HEADER)) {
            return $response;
        }

        if ($request->method() === 'GET' && $request->header(Inertia::VERSION, '') !== Inertia::getVersion()) {
            $response = $this->onVersionChange($request, $response);
        }

        if ($response->isOk() && empty($response->getContent())) {
            $response = $this->onEmptyResponse($request, $response);
        }

        if ($response->getStatusCode() === 302 && in_array($request->method(), ['PUT', 'PATCH', 'DELETE'])) {
            $response->setStatusCode(303);
        }

        return $response;
    }

    public function onEmptyResponse(Request $request, Response $response): Response
    {
        return Redirect::back();
    }

    public function onVersionChange(Request $request, Response $response): Response
    {
        if ($request->hasSession()) {
            $request->session()->reflash();
        }

        return Inertia::location($request->fullUrl());
    }

    /**
     * The session's validation errors, one message per field: {"field":
     * "message"}, or per error bag when there are several (X-Inertia-Error-Bag
     * names the default bag's).
     */
    public function resolveValidationErrors(Request $request)
    {
        if (! $request->hasSession() || ! $request->session()->has('errors')) {
            return (object) [];
        }

        return (object) collect($request->session()->get('errors')->getBags())->map(function ($bag) {
            return (object) collect($bag->messages())->map(function ($errors) {
                return $errors[0];
            })->toArray();
        })->pipe(function ($bags) use ($request) {
            if ($bags->has('default') && $request->header(Inertia::ERROR_BAG)) {
                return [$request->header(Inertia::ERROR_BAG) => $bags->get('default')];
            }
            if ($bags->has('default')) {
                return $bags->get('default');
            }

            return $bags->toArray();
        });
    }
}
