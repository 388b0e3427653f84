<?php

namespace App\Sanctum;

use Illuminate\Database\Eloquent\Model;

/**
 * A Sanctum personal access token (laravel/sanctum 4.x
 * src/PersonalAccessToken.php): the table personal_access_tokens
 * (app:setup creates it as Sanctum's migration does) holds sha256 of the
 * plain token; the client holds "{id}|{plain}".
 */
class PersonalAccessToken extends Model
{
    protected $table = 'personal_access_tokens';

    protected $casts = [
        'abilities' => 'json',
        'last_used_at' => 'datetime',
        'expires_at' => 'datetime',
    ];

    protected $fillable = ['name', 'token', 'abilities', 'expires_at'];

    protected $hidden = ['token'];

    public function tokenable()
    {
        return $this->morphTo('tokenable');
    }

    /**
     * The token matching "{id}|{plain}" (by id, then sha256(plain) compared
     * in constant time), or a bare plain token (by its hash).
     *
     * @param  string  $token
     * @return static|null
     */
    public static function findToken($token)
    {
        if (strpos($token, '|') === false) {
            return static::where('token', hash('sha256', $token))->first();
        }

        [$id, $token] = explode('|', $token, 2);

        if ($instance = static::find($id)) {
            return hash_equals($instance->token, hash('sha256', $token)) ? $instance : null;
        }

        return null;
    }

    public function can($ability)
    {
        return in_array('*', $this->abilities) ||
               array_key_exists($ability, array_flip($this->abilities));
    }

    public function cant($ability)
    {
        return ! $this->can($ability);
    }
}
