// Package redissub is the reconnecting Redis subscriber that the cluster bus
// (cluster.Bus) and the Laravel Redis ingress (laravel.RedisIngress) share:
// one goroutine subscribes, hands the messages to a handler, pings a silent
// connection, and when the connection fails waits a capped, jittered backoff
// and subscribes again, for as long as it runs. It also holds the small
// pieces both need around it: the options of a dedicated subscriber client
// (ClientOptions), the backoff (Backoff) and the "one warning per outage"
// log (Outage).
package redissub

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"
)

// Defaults of Options.
const (
	DefaultMinBackoff   = 200 * time.Millisecond
	DefaultMaxBackoff   = 5 * time.Second
	DefaultPingInterval = 30 * time.Second
	// DefaultReplyTimeout bounds the wait for the confirmation of a
	// SUBSCRIBE and for the answer to a PING.
	DefaultReplyTimeout = 5 * time.Second
	// DefaultDialTimeout is a subscriber client's dial timeout.
	DefaultDialTimeout = 5 * time.Second
)

// ErrResubscribed is what Down receives when go-redis replaced a failed
// connection and subscribed again by itself in the middle of a
// subscription: messages published in between were lost. Up follows.
var ErrResubscribed = errors.New("redissub: the connection was replaced under the subscription; messages in between were lost")

// ClientOptions returns a copy of o for a client that only subscribes, or
// only publishes what its caller drops and counts when Redis fails: RESP2
// (pub/sub replies are plain replies, not push notifications), no CLIENT
// SETINFO or maintenance notifications on connect, no retries inside
// go-redis (the caller retries with its own backoff, and a command that
// fails fails at once instead of spending its whole deadline on redials),
// and a bounded dial.
func ClientOptions(o *redis.Options) *redis.Options {
	c := *o
	c.Protocol = 2
	c.DisableIdentity = true
	c.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	c.MaxRetries = -1
	c.DialerRetries = 1
	if c.DialTimeout <= 0 || c.DialTimeout > DefaultDialTimeout {
		c.DialTimeout = DefaultDialTimeout
	}
	return &c
}

// Options configure a Subscriber. Subscribe and Handle are required; zero
// durations mean the defaults.
type Options struct {
	// Subscribe starts one subscription, e.g. client.Subscribe(ctx, ch) or
	// client.PSubscribe(ctx, pattern). It is called again for every
	// reconnection; the Subscriber closes what it returns.
	Subscribe func(ctx context.Context) *redis.PubSub
	// Handle receives the messages, one at a time, on the Subscriber's
	// goroutine: it must not block.
	Handle func(*redis.Message)
	// Up is called once Redis confirmed a subscription: the first one and
	// every one after a Down. May be nil.
	Up func()
	// Down is called when a subscription ended or could not be made (not
	// when the Subscriber is closed), before the backoff. May be nil.
	Down func(err error)

	// PingInterval: a subscription silent for this long pings Redis; no
	// answer within ReplyTimeout ends it. Default: DefaultPingInterval.
	PingInterval time.Duration
	// ReplyTimeout bounds the wait for a subscription's confirmation and
	// for a ping's answer. Default: DefaultReplyTimeout.
	ReplyTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts (doubling,
	// jittered). Defaults: DefaultMinBackoff, DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

// Subscriber subscribes until Close, reconnecting by itself. Its methods are
// safe for concurrent use.
type Subscriber struct {
	opts       Options
	ctx        context.Context
	cancel     context.CancelFunc
	done       chan struct{}
	wake       chan struct{}
	subscribed atomic.Bool

	// psMu guards ps, the current subscription (closed by Close to end a
	// read at once).
	psMu sync.Mutex
	ps   *redis.PubSub
}

// Start starts subscribing in a new goroutine; it does not wait for Redis.
func Start(opts Options) *Subscriber {
	if opts.Subscribe == nil || opts.Handle == nil {
		panic("redissub: Subscribe and Handle are required")
	}
	if opts.Up == nil {
		opts.Up = func() {}
	}
	if opts.Down == nil {
		opts.Down = func(error) {}
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.ReplyTimeout <= 0 {
		opts.ReplyTimeout = DefaultReplyTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Subscriber{
		opts:   opts,
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		wake:   make(chan struct{}, 1),
	}
	go s.run()
	return s
}

// Subscribed reports whether a subscription is confirmed and has not failed.
func (s *Subscriber) Subscribed() bool { return s.subscribed.Load() }

// Wake cuts the current backoff short: the caller has just seen Redis answer
// again (another connection of the same instance worked).
func (s *Subscriber) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close stops the Subscriber and waits for its goroutine for at most wait;
// it reports whether the goroutine ended. Idempotent.
func (s *Subscriber) Close(wait time.Duration) bool {
	s.cancel()
	s.psMu.Lock()
	if s.ps != nil {
		_ = s.ps.Close()
	}
	s.psMu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-s.done:
		return true
	case <-t.C:
		return false
	}
}

func (s *Subscriber) run() {
	defer close(s.done)
	backoff := NewBackoff(s.opts.MinBackoff, s.opts.MaxBackoff)
	for s.ctx.Err() == nil {
		err := s.session(backoff.Reset)
		s.subscribed.Store(false)
		if s.ctx.Err() != nil {
			return
		}
		s.opts.Down(err)
		t := time.NewTimer(backoff.Next())
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.wake:
			t.Stop()
		}
	}
}

// session subscribes, reports Up once Redis confirmed, and handles messages
// until the connection fails or Close; it returns why it ended.
func (s *Subscriber) session(confirmed func()) error {
	ps := s.opts.Subscribe(s.ctx)
	s.psMu.Lock()
	s.ps = ps
	s.psMu.Unlock()
	defer func() {
		s.psMu.Lock()
		s.ps = nil
		s.psMu.Unlock()
		_ = ps.Close()
	}()
	if s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	// The confirmation proves the connection; it comes at once or never.
	msg, err := ps.ReceiveTimeout(s.ctx, s.opts.ReplyTimeout)
	if err != nil {
		return fmt.Errorf("subscribing: %w", err)
	}
	if _, ok := msg.(*redis.Subscription); !ok {
		return fmt.Errorf("subscribing: unexpected first reply %T", msg)
	}
	select { // a wake-up from before this subscription is stale
	case <-s.wake:
	default:
	}
	confirmed()
	s.subscribed.Store(true)
	s.opts.Up()
	pinged := false
	for {
		timeout := s.opts.PingInterval
		if pinged {
			timeout = s.opts.ReplyTimeout
		}
		msg, err := ps.ReceiveTimeout(s.ctx, timeout)
		if err != nil {
			if s.ctx.Err() != nil {
				return s.ctx.Err()
			}
			if isTimeout(err) && !pinged {
				// Silent for a while: the ping's answer (or any message)
				// must come within ReplyTimeout, or the connection is dead.
				if err := ps.Ping(s.ctx); err != nil {
					return fmt.Errorf("pinging: %w", err)
				}
				pinged = true
				continue
			}
			if pinged && isTimeout(err) {
				return fmt.Errorf("no answer to a ping within %v: %w", s.opts.ReplyTimeout, err)
			}
			return err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Message:
			s.opts.Handle(m)
		case *redis.Subscription:
			// go-redis replaced a failed connection and subscribed again
			// by itself: report the gap, so that the caller catches up.
			if m.Kind == "subscribe" || m.Kind == "psubscribe" || m.Kind == "ssubscribe" {
				s.subscribed.Store(false)
				s.opts.Down(ErrResubscribed)
				s.subscribed.Store(true)
				s.opts.Up()
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// Backoff is a capped exponential backoff with jitter. Not safe for
// concurrent use.
type Backoff struct {
	min, max, cur time.Duration
}

// NewBackoff returns a Backoff from lo (default DefaultMinBackoff) up to hi
// (default DefaultMaxBackoff, at least lo).
func NewBackoff(lo, hi time.Duration) *Backoff {
	if lo <= 0 {
		lo = DefaultMinBackoff
	}
	if hi <= 0 {
		hi = DefaultMaxBackoff
	}
	hi = max(hi, lo)
	return &Backoff{min: lo, max: hi, cur: lo}
}

// Next returns the wait before the next attempt, in [d/2, d] for the
// current step d, and doubles the step up to the cap.
func (b *Backoff) Next() time.Duration {
	d := Jitter(b.cur)
	b.cur = min(b.cur*2, b.max)
	return d
}

// Reset starts again from the minimum (after a success).
func (b *Backoff) Reset() { b.cur = b.min }

// Jitter returns a wait in [d/2, d].
func Jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Outage logs a Redis outage once, whichever of several goroutines notices
// it first: a warning at its start, debug lines while it lasts, an info
// line when it ends. Safe for concurrent use.
type Outage struct {
	log               *zap.Logger
	downMsg, stillMsg string
	backMsg           string
	mu                sync.Mutex
	since             time.Time
	down              bool
}

// NewOutage logs with log: downMsg at the start of an outage (warn),
// stillMsg for later failures (debug), backMsg at its end (info, with how
// long it lasted).
func NewOutage(log *zap.Logger, downMsg, stillMsg, backMsg string) *Outage {
	if log == nil {
		log = zap.NewNop()
	}
	return &Outage{log: log, downMsg: downMsg, stillMsg: stillMsg, backMsg: backMsg}
}

// Down notes a failure; it reports whether it started the outage.
func (o *Outage) Down(err error, fields ...zap.Field) (first bool) {
	o.mu.Lock()
	first = !o.down
	if first {
		o.down, o.since = true, time.Now()
	}
	o.mu.Unlock()
	fields = append(fields, zap.Error(err))
	if first {
		o.log.Warn(o.downMsg, fields...)
	} else if ce := o.log.Check(zap.DebugLevel, o.stillMsg); ce != nil {
		ce.Write(fields...)
	}
	return first
}

// Up notes that Redis works again; it reports whether an outage ended.
func (o *Outage) Up(fields ...zap.Field) (ended bool) {
	o.mu.Lock()
	ended, since := o.down, o.since
	o.down, o.since = false, time.Time{}
	o.mu.Unlock()
	if ended {
		o.log.Info(o.backMsg, append(fields, zap.Duration("after", time.Since(since).Round(time.Millisecond)))...)
	}
	return ended
}
