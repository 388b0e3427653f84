<?php

namespace App\Sanctum;

use Illuminate\Contracts\Auth\Factory as AuthFactory;
use Illuminate\Http\Request;
use Illuminate\Support\Arr;

/**
 * The sanctum guard's user resolver (laravel/sanctum 4.x src/Guard.php,
 * wrapped in a RequestGuard by App\Providers\SanctumServiceProvider as
 * SanctumServiceProvider::createGuard does): the user of the session guards
 * (config sanctum.guard, ["web"]) when there is one, else the user of the
 * request's "Authorization: Bearer {id}|{plain}" token (its last use
 * recorded). Not emulated: the TokenAuthenticated event and the custom
 * token retrieval and authentication callbacks.
 */
class Guard
{
    /** @var AuthFactory */
    protected $auth;

    /** @var int|null minutes */
    protected $expiration;

    /** @var string|null */
    protected $provider;

    public function __construct(AuthFactory $auth, $expiration = null, $provider = null)
    {
        $this->auth = $auth;
        $this->expiration = $expiration;
        $this->provider = $provider;
    }

    public function __invoke(Request $request)
    {
        foreach (Arr::wrap(config('sanctum.guard', 'web')) as $guard) {
            if ($user = $this->auth->guard($guard)->user()) {
                return $this->supportsTokens($user)
                    ? $user->withAccessToken(new TransientToken)
                    : $user;
            }
        }

        if ($token = $this->getTokenFromRequest($request)) {
            $accessToken = PersonalAccessToken::findToken($token);

            if (! $this->isValidAccessToken($accessToken) ||
                ! $this->supportsTokens($accessToken->tokenable)) {
                return null;
            }

            $tokenable = $accessToken->tokenable->withAccessToken($accessToken);

            tap($accessToken->getConnection()->hasModifiedRecords(), function ($hasModifiedRecords) use ($accessToken) {
                $accessToken->forceFill(['last_used_at' => now()])->save();

                $accessToken->getConnection()->setRecordModificationState($hasModifiedRecords);
            });

            return $tokenable;
        }

        return null;
    }

    protected function supportsTokens($tokenable = null)
    {
        return $tokenable && in_array(HasApiTokens::class, class_uses_recursive(get_class($tokenable)));
    }

    protected function getTokenFromRequest(Request $request)
    {
        $token = $request->bearerToken();

        return $this->isValidBearerToken($token) ? $token : null;
    }

    /** "{digits}|{something}" for integer token keys, else anything not empty. */
    protected function isValidBearerToken(?string $token = null)
    {
        if (! is_null($token) && str_contains($token, '|')) {
            [$id, $token] = explode('|', $token, 2);

            return ctype_digit($id) && ! empty($token);
        }

        return ! empty($token);
    }

    protected function isValidAccessToken($accessToken): bool
    {
        if (! $accessToken) {
            return false;
        }

        return (! $this->expiration || $accessToken->created_at->gt(now()->subMinutes($this->expiration)))
            && (! $accessToken->expires_at || ! $accessToken->expires_at->isPast())
            && $this->hasValidProvider($accessToken->tokenable);
    }

    protected function hasValidProvider($tokenable)
    {
        if (is_null($this->provider)) {
            return true;
        }

        $model = config("auth.providers.{$this->provider}.model");

        return $tokenable instanceof $model;
    }
}
