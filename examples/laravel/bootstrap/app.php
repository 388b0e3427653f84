<?php

/*
 * Builds the application without Composer.
 *
 * Debian's php-laravel-framework installs Laravel 8 and its dependencies on
 * PHP's include_path, each with its own autoloader; Illuminate/autoload.php
 * pulls them all in. The App\ namespace is this example's app/ folder, loaded
 * by the small PSR-4 autoloader below.
 */

require_once 'Illuminate/autoload.php';

spl_autoload_register(function (string $class): void {
    if (strncmp($class, 'App\\', 4) !== 0) {
        return;
    }
    $file = __DIR__.'/../app/'.str_replace('\\', '/', substr($class, 4)).'.php';
    if (is_file($file)) {
        require $file;
    }
});

$app = new App\Application(dirname(__DIR__));

// Everything written at run time (sessions, compiled views, logs, the
// provider caches) goes under APP_STORAGE, so several instances can run side
// by side on temporary folders and the checkout stays read-only. It is read
// after .env is loaded, so it may come from either.
$app->afterBootstrapping(
    Illuminate\Foundation\Bootstrap\LoadEnvironmentVariables::class,
    function (App\Application $app): void {
        $app->useRuntimePaths();
    }
);

$app->singleton(
    Illuminate\Contracts\Http\Kernel::class,
    App\Http\Kernel::class
);

$app->singleton(
    Illuminate\Contracts\Console\Kernel::class,
    App\Console\Kernel::class
);

$app->singleton(
    Illuminate\Contracts\Debug\ExceptionHandler::class,
    App\Exceptions\Handler::class
);

return $app;
