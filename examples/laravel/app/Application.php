<?php

namespace App;

use Illuminate\Foundation\Application as BaseApplication;

/**
 * Application keeps every file Laravel writes at run time under the storage
 * path (APP_STORAGE), including the provider and package caches that Laravel
 * normally puts in bootstrap/cache.
 */
class Application extends BaseApplication
{
    /**
     * Applies APP_STORAGE and creates the folders the app writes to. Runs
     * right after the environment is loaded, before the configuration.
     */
    public function useRuntimePaths(): void
    {
        $storage = env('APP_STORAGE');
        if ($storage) {
            $this->useStoragePath(rtrim($storage, '/'));
        }

        $tenant = Tenancy::current() ?: 'default';
        foreach ([
            'bootstrap-cache',
            'framework/views',
            'framework/cache',
            'framework/sessions/'.$tenant,
            'logs',
        ] as $dir) {
            $path = $this->storagePath().'/'.$dir;
            if (! is_dir($path)) {
                @mkdir($path, 0775, true);
            }
        }
    }

    /**
     * Laravel's bootstrap/cache, moved under storage/bootstrap-cache.
     */
    public function bootstrapPath($path = '')
    {
        if (strncmp($path, 'cache', 5) === 0) {
            return $this->storagePath().'/bootstrap-'.$path;
        }

        return parent::bootstrapPath($path);
    }
}
