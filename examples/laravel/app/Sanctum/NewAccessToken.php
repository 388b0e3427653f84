<?php

namespace App\Sanctum;

/** A token just made (laravel/sanctum src/NewAccessToken.php). */
class NewAccessToken
{
    /** @var PersonalAccessToken */
    public $accessToken;

    /** @var string "{id}|{plain}", shown once */
    public $plainTextToken;

    public function __construct(PersonalAccessToken $accessToken, string $plainTextToken)
    {
        $this->accessToken = $accessToken;
        $this->plainTextToken = $plainTextToken;
    }
}
