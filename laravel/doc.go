// Package laravel is Laravel's side of the wire: what recordsync reads of
// what a Laravel app sends, kept apart from the Pusher protocol (package
// pusher) and the hub (package realtime).
//
// It reads a request as PHP and Laravel read it (request.go), so that what
// recordsync infers about the app's decisions is what the app decided:
// ReadAuthRequest, the socket_id and channel_name a broadcaster's
// /broadcasting/auth read (PHP's variable-name mangling, $_POST and $_GET
// splitting, json_decode's failures, Laravel's isJson and its merge of the
// body over the query), or an error where they might differ; Method, the
// method Laravel routes a request as (Symfony's getMethod with Laravel's
// parameter override); RoutePath, the path Laravel's router matches;
// BearerToken, what Request::bearerToken returns (the caller's token).
// php_differential_test.go holds them against the real php-fpm and Laravel.
//
// It reads Laravel's encrypted cookies (cookie.go: EncryptCookies,
// CookieValuePrefix and the Encrypter's four ciphers, under APP_KEY and
// APP_PREVIOUS_KEYS), and a request's cookies as PHP fills $_COOKIE
// (cookieheader.go: PHPCookies, the names the prefixes are bound to), so
// that a caller is keyed on its verified session, whatever its cookie's
// name.
//
// It owns the auth_upstream authoriser (authupstream.go): UpstreamAuthorizer
// is the hub's realtime.Authorizer for sockets that subscribe without
// "auth", asking the app's own /broadcasting/auth with the socket's
// credentials, its answers cached and its requests bounded. It takes only
// a real grant (grantOf: true, a signed answer, channel_data), never an
// empty 200 such as Laravel's null and log broadcasters answer.
//
// It owns the redis broadcaster ingress: RedisIngress PSUBSCRIBEs
// {prefix}* on the Redis that Laravel's redis broadcaster
// (Illuminate/Broadcasting/Broadcasters/RedisBroadcaster.php) publishes to,
// strips the prefix (or reads the tenant from a per-tenant prefix,
// TenantPattern) and publishes {"event","data","socket"} through a
// Publisher (the hub's PublishLocal) with socket as the socket excluded
// (toOthers); data, an object on Redis, reaches pusher-js as a JSON string,
// without the "socket" member RedisBroadcaster leaves in it. With tenancy
// on, a message whose tenant cannot be read is dropped and counted
// (IngressNoTenant), never sent to every tenant. Malformed, oversized and
// badly named messages are counted and skipped. When Redis goes away the
// ingress logs once, reconnects with a jittered backoff
// (DefaultRedisMinBackoff to DefaultRedisMaxBackoff) and resubscribes by
// itself.
//
// It knows nothing of sockets, channels' subscribers or Caddy.
package laravel
