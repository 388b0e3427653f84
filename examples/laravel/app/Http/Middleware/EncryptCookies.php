<?php

namespace App\Http\Middleware;

use Illuminate\Contracts\Encryption\DecryptException;
use Illuminate\Cookie\CookieValuePrefix;
use Illuminate\Cookie\Middleware\EncryptCookies as Middleware;
use Symfony\Component\HttpFoundation\Request;

/**
 * Laravel 11's cookie decryption on Laravel 8.83: a cookie's value starts
 * with hmac_sha1(name."v2", key)."|" under any of the encrypter's keys, the
 * current one or a previous one (laravel/framework 11.x
 * src/Illuminate/Cookie/Middleware/EncryptCookies.php, validateValue, and
 * src/Illuminate/Cookie/CookieValuePrefix.php, validate). 8.83 accepts the
 * current key's prefix only, so a session cookie made before a key
 * rotation would be dropped even though the encrypter decrypts it.
 * Outgoing cookies are encrypted under the current key, as before.
 */
class EncryptCookies extends Middleware
{
    protected function decrypt(Request $request)
    {
        foreach ($request->cookies as $key => $cookie) {
            if ($this->isDisabled($key) || is_array($cookie)) {
                continue;
            }

            try {
                $value = $this->decryptCookie($key, $cookie);

                $request->cookies->set($key, $this->validateValue($key, $value));
            } catch (DecryptException $e) {
                $request->cookies->set($key, null);
            }
        }

        return $request;
    }

    /** The value without its prefix, or null when no key's prefix starts it. */
    protected function validateValue(string $key, $value): ?string
    {
        if (! is_string($value)) {
            return null;
        }
        $keys = method_exists($this->encrypter, 'getAllKeys')
            ? $this->encrypter->getAllKeys()
            : [$this->encrypter->getKey()];

        foreach ($keys as $k) {
            if (str_starts_with($value, CookieValuePrefix::create($key, $k))) {
                return CookieValuePrefix::remove($value);
            }
        }

        return null;
    }
}
