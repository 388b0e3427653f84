<?php

namespace App\Sanctum;

use DateTimeInterface;
use Illuminate\Support\Str;

/**
 * Sanctum's HasApiTokens (laravel/sanctum 4.x src/HasApiTokens.php) for
 * App\Models\User: createToken() stores sha256 of a random token and
 * returns "{id}|{plain}" once.
 */
trait HasApiTokens
{
    /** @var PersonalAccessToken|TransientToken|null */
    protected $accessToken;

    public function tokens()
    {
        return $this->morphMany(PersonalAccessToken::class, 'tokenable');
    }

    public function tokenCan(string $ability)
    {
        return $this->accessToken && $this->accessToken->can($ability);
    }

    public function createToken(string $name, array $abilities = ['*'], ?DateTimeInterface $expiresAt = null)
    {
        $plainTextToken = $this->generateTokenString();

        $token = $this->tokens()->create([
            'name' => $name,
            'token' => hash('sha256', $plainTextToken),
            'abilities' => $abilities,
            'expires_at' => $expiresAt,
        ]);

        return new NewAccessToken($token, $token->getKey().'|'.$plainTextToken);
    }

    /** config('sanctum.token_prefix'), 40 random characters and their crc32b. */
    public function generateTokenString()
    {
        return sprintf(
            '%s%s%s',
            config('sanctum.token_prefix', ''),
            $tokenEntropy = Str::random(40),
            hash('crc32b', $tokenEntropy)
        );
    }

    public function currentAccessToken()
    {
        return $this->accessToken;
    }

    public function withAccessToken($accessToken)
    {
        $this->accessToken = $accessToken;

        return $this;
    }
}
