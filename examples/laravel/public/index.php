<?php

// Front controller: php-fpm runs this for every request Caddy's php_fastcgi
// sends (root * examples/laravel/public).

define('LARAVEL_START', microtime(true));

$app = require __DIR__.'/../bootstrap/app.php';

$kernel = $app->make(Illuminate\Contracts\Http\Kernel::class);

$response = $kernel->handle(
    $request = Illuminate\Http\Request::capture()
)->send();

$kernel->terminate($request, $response);
