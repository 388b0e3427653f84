<?php

namespace App\Broadcasting;

use Illuminate\Broadcasting\Broadcasters\Broadcaster;
use Illuminate\Broadcasting\Broadcasters\UsePusherChannelConventions;
use Illuminate\Support\Facades\Log;
use Illuminate\Support\Str;
use Symfony\Component\HttpKernel\Exception\AccessDeniedHttpException;

/**
 * SignOnlyBroadcaster answers /broadcasting/auth exactly as Laravel's
 * pusher/reverb broadcaster does, so that pusher-js and Laravel Echo can
 * subscribe through recordsync's websocket hub, without the Pusher SDK
 * (Debian ships no pusher-php-server):
 *
 *   private-x   → {"auth":"KEY:hex(hmac_sha256(SECRET, socket_id:channel))"}
 *   presence-x  → {"auth":"KEY:hex(hmac_sha256(SECRET, socket_id:channel:channel_data))",
 *                  "channel_data":"{\"user_id\":\"2\",\"user_info\":{...}}"}   (a JSON string)
 *
 * routes/channels.php decides who may subscribe, as with any broadcaster;
 * a refusal is 403.
 *
 * It publishes nothing: broadcast() only logs at debug level. The events
 * reach the browsers because recordsync publishes every save it proxies.
 * Enable it with BROADCAST_DRIVER=signonly and PUSHER_APP_KEY /
 * PUSHER_APP_SECRET (the app_key / app_secret recordsync holds).
 */
class SignOnlyBroadcaster extends Broadcaster
{
    use ResolvesAuthenticatedUsers {
        resolveAuthenticatedUser as resolveUserInfo;
    }
    use UsePusherChannelConventions;

    /** @var string */
    protected $key;

    /** @var string */
    protected $secret;

    public function __construct(string $key, string $secret)
    {
        if ($key === '' || $secret === '') {
            throw new \InvalidArgumentException('BROADCAST_DRIVER=signonly needs PUSHER_APP_KEY and PUSHER_APP_SECRET');
        }
        $this->key = $key;
        $this->secret = $secret;
    }

    /**
     * Authenticate the incoming request for a given channel (as
     * PusherBroadcaster::auth does).
     *
     * @param  \Illuminate\Http\Request  $request
     * @return mixed
     */
    public function auth($request)
    {
        $channelName = $this->normalizeChannelName($request->channel_name);

        if (empty($request->channel_name) ||
            ($this->isGuardedChannel($request->channel_name) &&
            ! $this->retrieveUser($request, $channelName))) {
            throw new AccessDeniedHttpException;
        }

        return parent::verifyUserCanAccessChannel($request, $channelName);
    }

    /**
     * The signed answer pusher-js expects.
     *
     * @param  \Illuminate\Http\Request  $request
     * @param  mixed  $result
     * @return array
     */
    public function validAuthenticationResponse($request, $result)
    {
        $channel = (string) $request->channel_name;
        $socketId = (string) $request->socket_id;
        if (! preg_match('/\A\d+\.\d+\z/', $socketId)) {
            throw new AccessDeniedHttpException('Invalid socket_id.');
        }

        if (! Str::startsWith($channel, 'presence-')) {
            return ['auth' => $this->sign($socketId.':'.$channel)];
        }

        $user = $this->retrieveUser($request, $this->normalizeChannelName($channel));
        $id = method_exists($user, 'getAuthIdentifierForBroadcasting')
            ? $user->getAuthIdentifierForBroadcasting()
            : $user->getAuthIdentifier();
        $data = ['user_id' => (string) $id];
        if (is_array($result) && $result !== []) {
            $data['user_info'] = $result;
        }
        $channelData = json_encode($data, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);

        return [
            'auth' => $this->sign($socketId.':'.$channel.':'.$channelData),
            'channel_data' => $channelData,
        ];
    }

    /**
     * User authentication (POST /broadcasting/user-auth) answered as
     * Laravel 11's PusherBroadcaster::resolveAuthenticatedUser answers it
     * through pusher-http-php's Pusher::authenticateUser (src/Pusher.php):
     * the JSON text {"auth":"KEY:hex(hmac_sha256(SECRET, "socket_id::user::user_data"))",
     * "user_data":"<the user array as JSON>"}, both encoded with
     * json_encode's default flags (escaped slashes and \u escapes), returned
     * as a string (so Laravel sends it as text/html, as the real one does).
     * The user array comes from Broadcast::resolveAuthenticatedUserUsing
     * and must have an "id". A socket_id that is not N.N gets 403, as this
     * class's channel auth does (the SDK throws instead: 500).
     *
     * @param  \Illuminate\Http\Request  $request
     * @return string|null
     */
    public function resolveAuthenticatedUser($request)
    {
        if (! $user = $this->resolveUserInfo($request)) {
            return null;
        }

        $socketId = (string) $request->socket_id;
        if (! preg_match('/\A\d+\.\d+\z/', $socketId)) {
            throw new AccessDeniedHttpException('Invalid socket_id.');
        }
        if (! is_array($user) || ! array_key_exists('id', $user) || empty($user['id'])) {
            throw new \InvalidArgumentException('user_data has no id field');
        }

        $userData = json_encode($user, JSON_THROW_ON_ERROR);

        return json_encode(
            ['auth' => $this->sign($socketId.'::user::'.$userData), 'user_data' => $userData],
            JSON_THROW_ON_ERROR
        );
    }

    /**
     * Publishes nothing (recordsync broadcasts what it proxies).
     *
     * @param  array  $channels
     * @param  string  $event
     * @param  array  $payload
     * @return void
     */
    public function broadcast(array $channels, $event, array $payload = [])
    {
        Log::debug('signonly broadcaster: not published', [
            'event' => $event,
            'channels' => $this->formatChannels($channels),
        ]);
    }

    protected function sign(string $subject): string
    {
        return $this->key.':'.hash_hmac('sha256', $subject, $this->secret);
    }
}
