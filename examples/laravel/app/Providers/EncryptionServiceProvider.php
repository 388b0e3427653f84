<?php

namespace App\Providers;

use App\Encryption\Encrypter;
use Illuminate\Encryption\EncryptionServiceProvider as BaseProvider;

/**
 * Laravel 11's encrypter binding (laravel/framework 11.x
 * src/Illuminate/Encryption/EncryptionServiceProvider.php, registerEncrypter):
 * the current key with config('app.previous_keys') (APP_PREVIOUS_KEYS,
 * comma-separated, each base64: or raw) tried after it when decrypting.
 * Without previous keys it binds Laravel 8.83's own Encrypter, unchanged.
 */
class EncryptionServiceProvider extends BaseProvider
{
    protected function registerEncrypter()
    {
        $this->app->singleton('encrypter', function ($app) {
            $config = $app->make('config')->get('app');
            $previous = $config['previous_keys'] ?? [];

            if ($previous === []) {
                return new \Illuminate\Encryption\Encrypter($this->parseKey($config), $config['cipher']);
            }

            return (new Encrypter($this->parseKey($config), $config['cipher']))
                ->previousKeys(array_map(
                    fn ($key) => $this->parseKey(['key' => $key]),
                    $previous
                ));
        });
    }
}
