<?php

namespace App\Support;

use Closure;
use Illuminate\Contracts\Foundation\Application;
use Illuminate\Contracts\Support\Arrayable;
use Illuminate\Contracts\Support\Responsable;
use Illuminate\Cookie\Middleware\EncryptCookies;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use Illuminate\Http\Response;
use Illuminate\Support\Arr;
use Illuminate\Support\Facades\App;
use Illuminate\Support\Str;
use Illuminate\View\Compilers\BladeCompiler;

/**
 * Inertia is the server side of Inertia.js as the inertia-laravel adapter
 * answers it, for Debian's Laravel 8.83, which has no inertia-laravel
 * package: the page object, as JSON for an X-Inertia request and in the root
 * view for a first load, shared props, partial reloads, the asset version and
 * the @inertia Blade directive. Static state lives for one request, as the
 * adapter's singleton ResponseFactory does under php-fpm.
 *
 * Followed, from github.com/inertiajs/inertia-laravel:
 *  - 2.x src/Response.php (toResponse: component, props, url, version,
 *    clearHistory, encryptHistory; `new JsonResponse($page, 200,
 *    ['X-Inertia' => 'true'])` or the root view with $page; partial reloads,
 *    Inertia::always props; getUrl), src/ResponseFactory.php (share, version,
 *    getVersion as a string, location: 409 with X-Inertia-Location), and
 *    src/Directive.php (@inertia: `<div id="app" data-page="{{
 *    json_encode($page) }}"></div>`, the page JSON HTML-escaped in an
 *    attribute);
 *  - 3.x src/Response.php and src/PropsResolver.php (shared props resolved
 *    under the page's own; `sharedProps`, the top-level shared keys, in the
 *    page object, inertia.expose_shared_prop_keys being on by default;
 *    clearHistory/encryptHistory only when true), and src/Directive.php
 *    (@inertia: `<script data-page="app" type="application/json">{!!
 *    json_encode($page) !!}</script><div id="app"></div>`: the JSON raw in a
 *    script element, where json_encode's default escaping of "/" as "\/"
 *    keeps a "</script>" inside a value from closing it);
 *  - src/ServiceProvider.php (the directives registered once the Blade
 *    compiler resolves) and src/Support/Header.php (the header names).
 *
 * Which adapter is answered is a test switch: the cookie inertia_major=2 gets
 * inertia-laravel 2's page object and root element (for the Inertia 2
 * client), anything else inertia-laravel 3's. The cookie is not encrypted
 * (register() exempts it): tests and browsers set it by hand.
 */
final class Inertia implements Responsable
{
    // src/Support/Header.php
    public const HEADER = 'X-Inertia';
    public const VERSION = 'X-Inertia-Version';
    public const LOCATION = 'X-Inertia-Location';
    public const ERROR_BAG = 'X-Inertia-Error-Bag';
    public const PARTIAL_COMPONENT = 'X-Inertia-Partial-Component';
    public const PARTIAL_ONLY = 'X-Inertia-Partial-Data';
    public const PARTIAL_EXCEPT = 'X-Inertia-Partial-Except';

    /** The test switch: inertia_major=2 answers as inertia-laravel 2. */
    public const MAJOR_COOKIE = 'inertia_major';

    /** @var array<string, mixed> props every page gets (share) */
    private static $shared = [];

    /** @var array<string, true> shared props sent on partial reloads too (Inertia::always) */
    private static $always = [];

    /** @var Closure|string|null the asset version */
    private static $version = null;

    /** @var string the root view of a first load */
    private static $rootView = 'inertia';

    /** @var string */
    private $component;

    /** @var array<string, mixed> */
    private $props;

    private function __construct(string $component, array $props)
    {
        $this->component = $component;
        $this->props = $props;
    }

    /**
     * register registers @inertia once the Blade compiler resolves (as
     * ServiceProvider::registerBladeDirectives does) and leaves the test
     * switch's cookie unencrypted. Call it from a service provider.
     */
    public static function register(Application $app): void
    {
        $directive = function (BladeCompiler $blade) {
            $blade->directive('inertia', [self::class, 'compileDirective']);
        };
        if ($app->resolved('blade.compiler')) {
            $directive($app->make('blade.compiler'));
        } else {
            $app->afterResolving('blade.compiler', $directive);
        }
        // Every EncryptCookies (the app's subclass too) leaves it as sent.
        $app->afterResolving(EncryptCookies::class, function (EncryptCookies $cookies) {
            $cookies->disableFor(self::MAJOR_COOKIE);
        });
    }

    /**
     * share adds props every page of this request gets; $always: sent on
     * partial reloads too (the adapter's Inertia::always, which its
     * middleware uses for `errors`).
     */
    public static function share(array $props, bool $always = false): void
    {
        self::$shared = array_merge(self::$shared, $props);
        foreach (array_keys($props) as $key) {
            if ($always) {
                self::$always[$key] = true;
            } else {
                unset(self::$always[$key]);
            }
        }
    }

    /** version sets the asset version: a string, or a Closure giving one (or null). */
    public static function version($version): void
    {
        self::$version = $version;
    }

    /** getVersion is the asset version as a string ('' when there is none). */
    public static function getVersion(): string
    {
        $version = self::$version instanceof Closure ? App::call(self::$version) : self::$version;

        return (string) $version;
    }

    public static function setRootView(string $view): void
    {
        self::$rootView = $view;
    }

    /** render is the page of $component with $props (over the shared props). */
    public static function render(string $component, array $props = []): self
    {
        return new self($component, $props);
    }

    /**
     * location sends the browser to $url with a full page load: for an
     * Inertia request a 409 with X-Inertia-Location (the client then sets
     * window.location), otherwise a redirect.
     */
    public static function location(string $url)
    {
        if (request()->header(self::HEADER)) {
            return new Response('', 409, [self::LOCATION => $url]);
        }

        return redirect()->away($url);
    }

    /** major is the adapter a request gets: 2 with the cookie inertia_major=2, else 3. */
    public static function major(Request $request): int
    {
        return $request->cookies->get(self::MAJOR_COOKIE) === '2' ? 2 : 3;
    }

    /**
     * compileDirective compiles @inertia (or @inertia('id')) to the root
     * element of the adapter the view's $inertiaMajor names: Directive::compile
     * of 3.x (the page JSON in a script element, then the mount element) or of
     * 2.x (the page JSON HTML-escaped in the mount element's data-page). Blade
     * compiles the {{ }} and {!! !!} in it after the directives, as it does
     * the adapter's.
     */
    public static function compileDirective($expression = ''): string
    {
        $id = trim(trim((string) $expression), "\'\"") ?: 'app';

        return '<?php if (($inertiaMajor ?? 3) === 2): ?>'
            .'<div id="'.$id.'" data-page="{{ json_encode($page) }}"></div>'
            .'<?php else: ?>'
            .'<script data-page="'.$id.'" type="application/json">{!! json_encode($page) !!}</script><div id="'.$id.'"></div>'
            .'<?php endif; ?>';
    }

    /** toResponse answers the page: JSON to an X-Inertia request, else the root view. */
    public function toResponse($request)
    {
        $major = self::major($request);
        $page = [
            'component' => $this->component,
            'props' => $this->resolveProps($request),
            'url' => self::url($request),
            'version' => self::getVersion(),
        ];
        if ($major === 2) {
            $page['clearHistory'] = false;
            $page['encryptHistory'] = false;
        } elseif ($keys = self::sharedKeys()) {
            $page['sharedProps'] = $keys;
        }

        if ($request->header(self::HEADER)) {
            return new JsonResponse($page, 200, [self::HEADER => 'true']);
        }

        return response()->view(self::$rootView, ['page' => $page, 'inertiaMajor' => $major]);
    }

    /**
     * resolveProps: the shared props under the page's own; on a partial
     * reload of this component only X-Inertia-Partial-Data's (dot paths)
     * without X-Inertia-Partial-Except's, plus the always props; closures
     * called, Arrayables turned into arrays.
     */
    private function resolveProps(Request $request): array
    {
        $all = array_merge(self::$shared, $this->props);
        $props = $all;
        if ($request->header(self::PARTIAL_COMPONENT) === $this->component) {
            $only = array_filter(explode(',', (string) $request->header(self::PARTIAL_ONLY, '')));
            $except = array_filter(explode(',', (string) $request->header(self::PARTIAL_EXCEPT, '')));
            if ($only) {
                $props = [];
                foreach ($only as $key) {
                    Arr::set($props, $key, Arr::get($all, $key));
                }
            }
            if ($except) {
                Arr::forget($props, $except);
            }
            $props = array_merge(array_intersect_key($all, self::$always), $props);
        }

        return self::resolveValues($props);
    }

    private static function resolveValues(array $props): array
    {
        foreach ($props as $key => $value) {
            if ($value instanceof Closure) {
                $value = App::call($value);
            }
            if ($value instanceof Arrayable) {
                $value = $value->toArray();
            }
            if (is_array($value)) {
                $value = self::resolveValues($value);
            }
            $props[$key] = $value;
        }

        return $props;
    }

    /** sharedKeys: the top-level names of the shared props (3.x PropsResolver). */
    private static function sharedKeys(): array
    {
        $keys = [];
        foreach (array_keys(self::$shared) as $key) {
            $keys[] = Str::before((string) $key, '.');
        }

        return array_values(array_unique($keys));
    }

    /** url: the request's path and query, keeping a trailing slash (Response::getUrl). */
    private static function url(Request $request): string
    {
        $url = Str::start(Str::after($request->fullUrl(), $request->getSchemeAndHttpHost()), '/');
        $rawUri = Str::before($request->getRequestUri(), '?');
        if (! Str::endsWith($rawUri, '/')) {
            return $url;
        }
        $path = Str::finish(Str::before($url, '?'), '/');

        return Str::contains($url, '?') ? $path.'?'.Str::after($url, '?') : $path;
    }
}
