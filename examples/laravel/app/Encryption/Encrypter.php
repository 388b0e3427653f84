<?php

namespace App\Encryption;

use Illuminate\Contracts\Encryption\DecryptException;
use Illuminate\Encryption\Encrypter as BaseEncrypter;
use RuntimeException;

/**
 * Laravel 11's Encrypter on Laravel 8.83: encrypts under the current key
 * only, and decrypts with the current key, then each previous key
 * (APP_PREVIOUS_KEYS), as laravel/framework 11.x
 * src/Illuminate/Encryption/Encrypter.php does (previousKeys, getAllKeys,
 * and decrypt trying each key, checking the MAC of CBC payloads under
 * each). 8.83's own Encrypter checks the MAC with the current key alone, in
 * getJsonPayload.
 *
 * Bound by App\Providers\EncryptionServiceProvider; the cookie prefixes of
 * Laravel 11 (one per key) are App\Http\Middleware\EncryptCookies.
 */
class Encrypter extends BaseEncrypter
{
    /**
     * The previous / legacy encryption keys.
     *
     * @var array
     */
    protected $previousKeys = [];

    /**
     * Decrypt the given value: the current key first, then the previous
     * keys in order (11.x's decrypt, line for line).
     *
     * @param  string  $payload
     * @param  bool  $unserialize
     * @return mixed
     *
     * @throws \Illuminate\Contracts\Encryption\DecryptException
     */
    public function decrypt($payload, $unserialize = true)
    {
        $payload = $this->getJsonPayload($payload);

        $iv = base64_decode($payload['iv']);

        $this->ensureTagIsValid(
            $tag = empty($payload['tag']) ? null : base64_decode($payload['tag'])
        );

        $foundValidMac = false;

        foreach ($this->getAllKeys() as $key) {
            if (
                $this->shouldValidateMac() &&
                ! ($foundValidMac = $foundValidMac || $this->validMacForKey($payload, $key))
            ) {
                continue;
            }

            $decrypted = \openssl_decrypt(
                $payload['value'], strtolower($this->cipher), $key, 0, $iv, $tag ?? ''
            );

            if ($decrypted !== false) {
                break;
            }
        }

        if ($this->shouldValidateMac() && ! $foundValidMac) {
            throw new DecryptException('The MAC is invalid.');
        }

        if (($decrypted ?? false) === false) {
            throw new DecryptException('Could not decrypt the data.');
        }

        return $unserialize ? unserialize($decrypted) : $decrypted;
    }

    /**
     * The JSON payload, without 8.83's MAC check under the current key
     * (decrypt checks it under each key, as 11.x does).
     *
     * @param  string  $payload
     * @return array
     *
     * @throws \Illuminate\Contracts\Encryption\DecryptException
     */
    protected function getJsonPayload($payload)
    {
        if (! is_string($payload)) {
            throw new DecryptException('The payload is invalid.');
        }

        $payload = json_decode(base64_decode($payload), true);

        if (! $this->validPayload($payload)) {
            throw new DecryptException('The payload is invalid.');
        }

        return $payload;
    }

    /**
     * 11.x's validPayload: iv, value and mac are strings, a tag too when
     * present, and the iv has the cipher's length.
     *
     * @param  mixed  $payload
     * @return bool
     */
    protected function validPayload($payload)
    {
        if (! is_array($payload)) {
            return false;
        }

        foreach (['iv', 'value', 'mac'] as $item) {
            if (! isset($payload[$item]) || ! is_string($payload[$item])) {
                return false;
            }
        }

        if (isset($payload['tag']) && ! is_string($payload['tag'])) {
            return false;
        }

        return strlen(base64_decode($payload['iv'], true)) === openssl_cipher_iv_length(strtolower($this->cipher));
    }

    /**
     * Whether the MAC is valid for the given payload and key.
     *
     * @param  array  $payload
     * @param  string  $key
     * @return bool
     */
    protected function validMacForKey($payload, $key)
    {
        return hash_equals(
            hash_hmac('sha256', $payload['iv'].$payload['value'], $key), $payload['mac']
        );
    }

    /**
     * CBC payloads carry a MAC; GCM (AEAD) ones a tag instead.
     *
     * @return bool
     */
    protected function shouldValidateMac()
    {
        return substr(strtolower($this->cipher), -4) !== '-gcm';
    }

    /**
     * The current encryption key and all previous encryption keys.
     *
     * @return array
     */
    public function getAllKeys()
    {
        return [$this->key, ...$this->previousKeys];
    }

    /**
     * The previous encryption keys.
     *
     * @return array
     */
    public function getPreviousKeys()
    {
        return $this->previousKeys;
    }

    /**
     * Set the previous / legacy encryption keys that should be utilized if
     * decryption fails; each must fit the cipher as the current key does.
     *
     * @param  array  $keys
     * @return $this
     */
    public function previousKeys(array $keys)
    {
        foreach ($keys as $key) {
            if (! static::supported($key, $this->cipher)) {
                throw new RuntimeException('Unsupported cipher or incorrect key length. Supported ciphers are: aes-128-cbc, aes-256-cbc, aes-128-gcm, aes-256-gcm.');
            }
        }

        $this->previousKeys = $keys;

        return $this;
    }
}
