<?php
// Laravel encrypted cookies made by PHP, for the tests of laravel/cookie.go
// and of proxy's session reading (cookie_php_test.go, proxy/session_test.go):
// php -d include_path=.:/usr/share/php cookievectors.php
//
// Made by Debian's Laravel 8.83 (php-laravel-framework): its Encrypter and
// CookieValuePrefix, as EncryptCookies::encrypt uses them. Laravel 8.83's
// Encrypter already has AES-128/256-GCM; one value is also made exactly as
// Laravel 12.x's Encrypter::encrypt does (encrypt12 below), to show the
// format did not change. Laravel 8.83 has no previous keys: a value under a
// previous key is one made before the key was rotated, by an Encrypter of
// that key. Every value made by the 8.83 Encrypter is read back by it, as
// EncryptCookies::decrypt of 8.83 reads it ("laravel_reads").
require 'Illuminate/autoload.php';

use Illuminate\Contracts\Encryption\DecryptException;
use Illuminate\Cookie\CookieValuePrefix;
use Illuminate\Encryption\Encrypter;
use Illuminate\Support\Str;

$appName = 'My App';
$key = random_bytes(32);
$previous = random_bytes(32);
$other = random_bytes(32);
$key16 = random_bytes(16);
$sessionID = Str::random(40);
$csrfToken = Str::random(40);

// The default session cookie name of an app named $appName, by where its
// config/session.php comes from.
$names = [
    // laravel/laravel 8.x to 11.x config/session.php; laravel/framework 11.x
    // and 12.x config/session.php (12.x adds a (string) cast)
    'slug_underscore' => Str::slug($appName, '_').'_session',
    // laravel/laravel 12.x (since mid-2025) and master (13.x) config/session.php
    'slug_hyphen' => Str::slug($appName).'-session',
    // laravel/framework 13.x config/session.php
    'snake' => Str::snake($appName).'_session',
];

// encrypt12 is Laravel 12.x's Encrypter::encrypt without serialize
// (src/Illuminate/Encryption/Encrypter.php of laravel/framework 12.x).
function encrypt12(string $key, string $cipher, string $value): string
{
    $aead = ['aes-128-gcm' => true, 'aes-256-gcm' => true][strtolower($cipher)] ?? false;
    $iv = random_bytes(openssl_cipher_iv_length(strtolower($cipher)));
    $value = \openssl_encrypt($value, strtolower($cipher), $key, 0, $iv, $tag);
    $iv = base64_encode($iv);
    $tag = base64_encode($tag ?? '');
    $mac = $aead ? '' : hash_hmac('sha256', $iv.$value, $key);

    return base64_encode(json_encode(compact('iv', 'value', 'mac', 'tag'), JSON_UNESCAPED_SLASHES));
}

// laravelReads is what EncryptCookies::decrypt of Laravel 8.83 makes of
// the cookie: the value after its prefix, or null.
function laravelReads(Encrypter $e, string $name, string $value): ?string
{
    try {
        $plain = $e->decrypt($value, false);
    } catch (DecryptException $ex) {
        return null;
    }
    return strpos($plain, CookieValuePrefix::create($name, $e->getKey())) === 0
        ? CookieValuePrefix::remove($plain) : null;
}

$vectors = [];
function add(string $what, string $name, string $plain, string $keyOf, string $cipher, bool $laravel12 = false)
{
    global $vectors;
    $k = $GLOBALS[$keyOf];
    $cookieValue = CookieValuePrefix::create($name, $k).$plain;
    $e = new Encrypter($k, $cipher);
    $value = $laravel12 ? encrypt12($k, $cipher, $cookieValue) : $e->encrypt($cookieValue, false);
    $vectors[] = [
        'what' => $what,
        'name' => $name,
        'value' => $value,
        // what the browser sends back: Symfony's Cookie rawurlencodes it
        'sent' => rawurlencode($value),
        'plain' => $plain,
        'key' => $keyOf,
        'cipher' => $cipher,
        'laravel_reads' => laravelReads($e, $name, $value),
    ];
}

add('session, AES-256-CBC, Laravel 12 skeleton name', $names['slug_hyphen'], $sessionID, 'key', 'AES-256-CBC');
add('session, AES-256-CBC, Laravel 8-11 name', $names['slug_underscore'], $sessionID, 'key', 'AES-256-CBC');
add('session under a previous key', $names['slug_hyphen'], $sessionID, 'previous', 'AES-256-CBC');
add('session, AES-256-GCM', $names['slug_hyphen'], $sessionID, 'key', 'AES-256-GCM');
add('session, AES-256-GCM under a previous key', $names['slug_hyphen'], $sessionID, 'previous', 'AES-256-GCM');
add('session, AES-128-GCM as Laravel 12 encrypts', $names['slug_hyphen'], $sessionID, 'key16', 'AES-128-GCM', true);
add('session, AES-256-CBC as Laravel 12 encrypts', $names['slug_hyphen'], $sessionID, 'key', 'AES-256-CBC', true);
add('session, AES-128-CBC', 'laravel_session', $sessionID, 'key16', 'AES-128-CBC');
add('XSRF-TOKEN', 'XSRF-TOKEN', $csrfToken, 'key', 'AES-256-CBC');
add('remember cookie', 'remember_web_'.sha1('Illuminate\Auth\SessionGuard'), '1|'.Str::random(60).'|'.hash('sha256', 'x'), 'key', 'AES-256-CBC');
add('another app\'s session', 'laravel_session', Str::random(40), 'other', 'AES-256-CBC');

echo json_encode([
    'app_name' => $appName,
    'names' => $names,
    'app_key' => 'base64:'.base64_encode($key),
    'previous_key' => 'base64:'.base64_encode($previous),
    'other_key' => 'base64:'.base64_encode($other),
    'key16' => 'base64:'.base64_encode($key16),
    'session_id' => $sessionID,
    'csrf_token' => $csrfToken,
    'vectors' => $vectors,
], JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT), "\n";
