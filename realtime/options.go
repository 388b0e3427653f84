package realtime

import (
	"errors"
	"fmt"
	"math"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/recordsync/recordsync/versioncache"
)

// Defaults applied by NewHub and Update when an Options field is zero.
const (
	DefaultWSPath             = "/ws"
	DefaultActivityTimeout    = 30 * time.Second
	DefaultPongTimeout        = 30 * time.Second
	DefaultMaxMessageBytes    = 10_000
	DefaultMaxChannelsPerConn = 100
	DefaultSendQueue          = 256
	DefaultWriteTimeout       = 10 * time.Second
	// DefaultPresenceMaxMembers is Pusher's limit of members (users, not
	// sockets) in one presence channel.
	DefaultPresenceMaxMembers = 100
	// DefaultClientEventRate is how many client events one socket may send
	// per second (Pusher's limit), with a burst of as many.
	DefaultClientEventRate = 10
	// DefaultCloseWait bounds how long Close waits for the sockets' goroutines.
	DefaultCloseWait = 10 * time.Second
)

// hardReadFactor: a message up to this many times MaxMessageBytes (at least
// minHardReadLimit) is read and discarded with a pusher:error; a longer one
// makes the websocket library close the socket with 1009 (message too big).
const (
	hardReadFactor   = 16
	minHardReadLimit = 64 << 10
)

// Options configure a Hub. Zero values mean the defaults.
type Options struct {
	// AppID is the Pusher-style app id Laravel also holds: the Pusher HTTP
	// API answers at /apps/{AppID}/... . Optional: without it
	// there is no HTTP API.
	AppID string
	// AppKey is the public app key clients connect with (ws_path/app/{key}).
	// Required.
	AppKey string
	// AppSecret signs private-channel subscriptions. Required.
	AppSecret string
	// WSPath is where sockets connect: WSPath+"/app/{key}" (what pusher-js
	// builds) and WSPath itself (the key then comes from ?app_key= or is the
	// configured one). Default: DefaultWSPath ("/ws").
	WSPath string
	// AllowedOrigins are Origin patterns allowed to open a socket, matched
	// case-insensitively with path.Match: a pattern with "://" against
	// "scheme://host", otherwise against the host ("*.example.com"); "*"
	// allows any origin. Empty: only an Origin whose host equals the
	// request's Host. A request without Origin (not a browser) is allowed.
	// A refused origin gets HTTP 403 before the upgrade.
	AllowedOrigins []string
	// ActivityTimeout is announced to clients in the handshake (whole
	// seconds, at least 1) and is how long a socket may stay silent before
	// the server sends pusher:ping. Default: DefaultActivityTimeout.
	ActivityTimeout time.Duration
	// PongTimeout is how long a pinged socket has to send anything before it
	// is closed with 4201. Default: DefaultPongTimeout.
	PongTimeout time.Duration
	// MaxMessageBytes bounds one inbound message; a longer one is discarded
	// and answered with pusher:error 4200. Default: DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// MaxConnsPerTenant bounds the sockets of one tenant; the socket over the
	// limit gets pusher:error 4004 and is closed with 4004. Zero: unlimited.
	MaxConnsPerTenant int
	// MaxChannelsPerConn bounds the channels one socket may subscribe to;
	// the subscription over it gets pusher:subscription_error LimitReached
	// (status 429). Negative: unlimited. Default: DefaultMaxChannelsPerConn.
	MaxChannelsPerConn int
	// SendQueue is how many frames may wait for one socket; when a publish
	// finds the queue full the socket is closed with 4100 (slow consumer).
	// Default: DefaultSendQueue.
	SendQueue int
	// WriteTimeout bounds one frame write; a write stuck longer closes the
	// socket without a close frame. Default: DefaultWriteTimeout.
	WriteTimeout time.Duration
	// PresenceMaxMembers bounds the members (distinct user_ids) of one
	// presence channel; a new member over it gets
	// pusher:subscription_error LimitReached (status 429), while more sockets
	// of an existing member are always accepted. Negative: unlimited.
	// Default: DefaultPresenceMaxMembers.
	PresenceMaxMembers int
	// ClientEvents says who may send client-* events (Echo's whisper):
	// ClientEventsOff (answered with pusher:error 4301) or
	// ClientEventsMembers (the subscribers of a private- or presence-
	// channel, to the others on it), as Reverb accepts whispers from
	// channel members. Default: ClientEventsMembers.
	ClientEvents string
	// ClientEventRate bounds the client events of one socket per second
	// (burst as many); past it an event is dropped with pusher:error 4301.
	// Default: DefaultClientEventRate.
	ClientEventRate int
	// Authorizer, when set, authorises a private- or presence- subscription
	// that comes without "auth" (auth_upstream); the hub then
	// keeps each new socket's upgrade Host, local address, Cookie and
	// Authorization for it. A subscription with "auth" is verified as
	// always. Default: none (no auth is a 401 AuthError).
	Authorizer Authorizer
	// Versions, when set, answers the "since" subscribe extension.
	Versions *versioncache.Store
	// Models are the record types whose saves the app (or recordsync)
	// also announces with Laravel's model broadcasting: such events move
	// the version cache, and are delivered once per version, like
	// record.updated.
	Models []ModelRoute
	// CacheTTL is how long a cache channel's last event is replayed to new
	// subscribers after it was published (cachechannels.go). Default:
	// DefaultCacheTTL.
	CacheTTL time.Duration
	// CacheMaxChannels and CacheMaxBytes bound the cache channels' last
	// events kept, across tenants; past them the least recently published
	// are forgotten. Defaults: DefaultCacheMaxChannels,
	// DefaultCacheMaxBytes.
	CacheMaxChannels int
	CacheMaxBytes    int64
	// Logger receives the hub's logs. Default: zap.NewNop().
	Logger *zap.Logger
	// Observer receives metrics. May be nil.
	Observer Observer
	// Activity is told of sockets, channels, members and events
	// (activity.go): webhooks and the console. Nil: none.
	Activity Activity
}

// ModelRoute maps a model's broadcast channel onto a record type: an event
// on "private-"+Class+"."+id (Illuminate/Database/Eloquent/
// BroadcastsEvents.php: broadcastChannel is the class with dots, then the
// key) carries record id's version in data.model[VersionKey], and who
// saved it in data.model[ByIDKey] and [ByNameKey] (when set).
type ModelRoute struct {
	Class, Type                    string
	VersionKey, ByIDKey, ByNameKey string
}

// Observer receives the hub's metrics. Its methods are called from many
// goroutines, on the publish path too: they must be fast and safe for
// concurrent use.
type Observer interface {
	// Connections reports opened (+1) and closed (-1) sockets.
	Connections(delta int)
	// Subscriptions reports subscriptions added and removed.
	Subscriptions(delta int)
	// Channels reports (tenant, channel) pairs gaining a first subscriber or
	// losing the last one.
	Channels(delta int)
	// Published counts events handed to Publish.
	Published(n int)
	// Delivered counts frames queued for sockets.
	Delivered(n int)
	// Encoded counts frames built by publishes: one per publish that found
	// subscribers, however many sockets get it.
	Encoded()
	// Refused counts what a socket asked for and was refused, by reason
	// (Refused*): a refused connection, message or subscription.
	Refused(reason string)
	// Dropped counts events or frames not delivered, by reason (Drop*).
	Dropped(reason string)
	// SlowConsumer counts sockets closed because their queue overflowed.
	SlowConsumer()
	// Learned counts record events, from any ingress, that advanced
	// Options.Versions (saves the proxy may never have seen).
	Learned()
}

// Reasons passed to Observer.Refused.
const (
	// RefusedConnection: the socket was closed at once: unknown app key
	// (4001), wrong path (4005), unsupported protocol (4007), over the
	// connection quota (4004).
	RefusedConnection = "connection"
	// RefusedMessage: a client message answered pusher:error 4200
	// (malformed JSON, binary, over max_message_size, unknown pusher: event,
	// invalid subscribe or unsubscribe data). A refused client event (4301)
	// is counted once, as a dropped event (DropClientEvent*), not here.
	RefusedMessage = "message"
	// RefusedSignature: a private or presence subscription whose auth
	// signature was missing or wrong (forged, another socket's, another
	// channel's): subscription_error AuthError 401.
	RefusedSignature = "signature"
	// RefusedByApp: the app's channel authorisation (auth_upstream) said no
	// or could not be asked.
	RefusedByApp = "app"
	// RefusedChannel: an invalid channel name or channel_data
	// (subscription_error InvalidChannel 400).
	RefusedChannel = "channel"
	// RefusedLimit: over the subscriptions per socket or presence members
	// limits (LimitReached 429).
	RefusedLimit = "limit"
	// RefusedUnsupported: a channel kind the hub does not support (501);
	// none since encrypted channels are subscribed as private ones.
	RefusedUnsupported = "unsupported"
)

// Reasons passed to Observer.Dropped.
const (
	// DropSlowConsumer: a socket's queue was full; that socket is closed.
	DropSlowConsumer = "slow_consumer"
	// DropInvalid: the event had an invalid channel or empty name.
	DropInvalid = "invalid"
	// DropClosed: the hub was closed.
	DropClosed = "closed"
)

type nopObserver struct{}

func (nopObserver) Connections(int)   {}
func (nopObserver) Subscriptions(int) {}
func (nopObserver) Channels(int)      {}
func (nopObserver) Published(int)     {}
func (nopObserver) Delivered(int)     {}
func (nopObserver) Dropped(string)    {}
func (nopObserver) SlowConsumer()     {}
func (nopObserver) Encoded()          {}
func (nopObserver) Refused(string)    {}
func (nopObserver) Learned()          {}

// config is an immutable snapshot of normalised Options; Update swaps it.
type config struct {
	Options
	// wsBase is WSPath without a trailing slash ("" for the root).
	wsBase string
	// activitySec is ActivityTimeout in whole seconds for the handshake.
	activitySec int
	// hardReadLimit is the websocket library's read limit.
	hardReadLimit int64
}

// ErrNoAppKey and ErrNoAppSecret are returned by NewHub and Update when the
// credentials are missing.
var (
	ErrNoAppKey    = errors.New("realtime: app_key is required")
	ErrNoAppSecret = errors.New("realtime: app_secret is required")
)

func newConfig(o Options) (*config, error) {
	if o.AppKey == "" {
		return nil, ErrNoAppKey
	}
	if o.AppSecret == "" {
		return nil, ErrNoAppSecret
	}
	if strings.ContainsAny(o.AppKey, "/?#") {
		return nil, fmt.Errorf("realtime: app_key %q must not contain '/', '?' or '#'", o.AppKey)
	}
	if o.WSPath == "" {
		o.WSPath = DefaultWSPath
	}
	if !strings.HasPrefix(o.WSPath, "/") {
		return nil, fmt.Errorf("realtime: ws_path %q must start with '/'", o.WSPath)
	}
	for _, p := range o.AllowedOrigins {
		if _, err := path.Match(strings.ToLower(p), ""); err != nil {
			return nil, fmt.Errorf("realtime: allowed_origins: bad pattern %q: %w", p, err)
		}
	}
	if o.ActivityTimeout <= 0 {
		o.ActivityTimeout = DefaultActivityTimeout
	}
	if o.PongTimeout <= 0 {
		o.PongTimeout = DefaultPongTimeout
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.MaxConnsPerTenant < 0 {
		o.MaxConnsPerTenant = 0
	}
	if o.MaxChannelsPerConn == 0 {
		o.MaxChannelsPerConn = DefaultMaxChannelsPerConn
	}
	if o.SendQueue <= 0 {
		o.SendQueue = DefaultSendQueue
	}
	if o.PresenceMaxMembers == 0 {
		o.PresenceMaxMembers = DefaultPresenceMaxMembers
	}
	switch o.ClientEvents {
	case "":
		o.ClientEvents = ClientEventsMembers
	case ClientEventsOff, ClientEventsMembers:
	default:
		return nil, fmt.Errorf("realtime: client_events: want %q or %q, got %q", ClientEventsOff, ClientEventsMembers, o.ClientEvents)
	}
	if o.ClientEventRate < 0 {
		return nil, fmt.Errorf("realtime: client_event_rate: must not be negative, got %d", o.ClientEventRate)
	}
	if o.ClientEventRate == 0 {
		o.ClientEventRate = DefaultClientEventRate
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.CacheMaxChannels <= 0 {
		o.CacheMaxChannels = DefaultCacheMaxChannels
	}
	if o.CacheMaxBytes <= 0 {
		o.CacheMaxBytes = DefaultCacheMaxBytes
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	o.AllowedOrigins = append([]string(nil), o.AllowedOrigins...)
	c := &config{Options: o, wsBase: strings.TrimRight(o.WSPath, "/")}
	c.activitySec = int(math.Ceil(o.ActivityTimeout.Seconds()))
	if c.activitySec < 1 {
		c.activitySec = 1
	}
	c.hardReadLimit = max(o.MaxMessageBytes*hardReadFactor, minHardReadLimit)
	return c, nil
}
