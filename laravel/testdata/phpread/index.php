<?php
// What PHP and Laravel read of this request: the method Laravel routes it
// as, the socket_id and channel_name Laravel's broadcasters read, the
// Bearer token (Request::bearerToken), which of two routes matches, and
// $_COOKIE (each name base64, in PHP's order, arrays as such). Run by php_differential_test.go under php-fpm, with
// Debian's Laravel (php-laravel-framework). It is named index.php because
// Symfony finds the front controller in a path by the script's file name.
require 'Illuminate/autoload.php';

use Illuminate\Http\Request;
use Illuminate\Routing\Route;
use Illuminate\Routing\RouteCollection;

function described($v)
{
    if (is_string($v)) {
        return ['type' => 'string', 'b64' => base64_encode($v)];
    }
    return ['type' => gettype($v)];
}

$out = [];
$out['cookies'] = [];
foreach ($_COOKIE as $name => $value) {
    $out['cookies'][] = ['name' => base64_encode((string) $name), 'value' => described($value)];
}
try {
    $r = Request::capture();
    $out['socket_id'] = described($r->socket_id);
    $out['channel_name'] = described($r->channel_name);
    $out['bearer'] = described($r->bearerToken());
    // Symfony refuses an override that is not a method name (Laravel then
    // answers 400): reported as the error.
    $out['method'] = $r->getMethod();
    $routes = new RouteCollection();
    $routes->add(new Route(['GET', 'HEAD', 'POST'], 'broadcasting/auth', ['uses' => fn () => null]));
    $routes->add(new Route(['PUT', 'PATCH'], 'api/v1/flows/{id}', ['uses' => fn () => null]));
    try {
        $out['route'] = $routes->match($r)->uri();
    } catch (\Throwable $e) {
        $out['route'] = '';
    }
} catch (\Throwable $e) {
    $out['error'] = get_class($e);
}
header('Content-Type: application/json');
echo json_encode($out);
