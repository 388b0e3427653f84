package realtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/recordsync/recordsync/pusher"
)

// Webhooks tell the app what happens on the hub, in Pusher's webhook format
// (pusher.WebhookBody): channel_occupied and channel_vacated, member_added
// and member_removed, client_event. It is the hub's Activity (set it in
// Options.Activity): Note only queues, a worker goroutine decides what
// changed (cluster-wide, with an Occupancy) and a sender per target POSTs
// batches, retried with backoff, from a bounded queue.
//
// Occupancy and membership are tracked as states, not as counts: each
// instance tells its Occupancy which channels (and presence members) it
// holds, and a webhook goes out for a change of the cluster's state only
// (the first instance to hold a channel, the last one to let it go).
// Without an Occupancy the instance is the cluster.
type Webhooks struct {
	hub *Hub
	cfg atomic.Pointer[webhookConfig]

	// mu guards what Note queues (pending, order, clients), the targets
	// and closed.
	mu      sync.Mutex
	pending map[stateKey][]bool // ops (true: held) since the worker's last take, at most maxOps
	order   []stateKey          // pending's keys, in the order they first got an op
	clients ring[ActivityEvent]
	targets map[targetID]*hookTarget
	closed  bool

	kick     chan struct{}
	occReq   chan occRequest
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	// The worker's own state.
	occ     Occupancy
	held    map[stateKey]bool // the states the Occupancy (or, without one, this instance) holds
	retry   []stateChange     // changes the Occupancy could not take, to try again
	resync  bool              // apply every held state again (after the Occupancy forgot this instance)
	report  bool              // report what the resync changes
	tracked hookKinds         // the kinds tracked at the last process
	failing bool              // the Occupancy failed last time (logged once)
}

// Defaults of WebhookOptions.
const (
	// DefaultWebhookBatch is how long events gather before a POST.
	DefaultWebhookBatch = 250 * time.Millisecond
	// DefaultWebhookMaxEvents bounds the events of one POST.
	DefaultWebhookMaxEvents = 100
	// DefaultWebhookQueue bounds the events waiting for one target (all
	// tenants); past it the oldest are dropped.
	DefaultWebhookQueue = 10_000
	// DefaultWebhookRetryFor is how long a POST is retried (Pusher retries
	// for 5 minutes).
	DefaultWebhookRetryFor = 5 * time.Minute
	// DefaultWebhookTimeout bounds one POST.
	DefaultWebhookTimeout = 10 * time.Second
	// webhookConcurrency bounds the POSTs in flight to one target (one per
	// tenant at most).
	webhookConcurrency = 8
	// webhookCloseWait bounds how long Close waits for queued webhooks.
	webhookCloseWait = 3 * time.Second
	// webhookMinBackoff and webhookMaxBackoff bound the wait between two
	// attempts of one POST (doubling, jittered).
	webhookMinBackoff = time.Second
	webhookMaxBackoff = time.Minute
	// maxOps bounds the ops queued for one channel or member between two
	// takes: a channel that comes and goes faster than the worker keeps its
	// last occupied-vacated-occupied.
	maxOps = 3
)

// WebhookOptions configure Webhooks.
type WebhookOptions struct {
	// AppKey and AppSecret sign every webhook (X-Pusher-Key,
	// X-Pusher-Signature). Required.
	AppKey, AppSecret string
	// Targets are where webhooks go. At least one.
	Targets []WebhookTarget
	// Batch is how long events gather before they are sent. Default:
	// DefaultWebhookBatch.
	Batch time.Duration
	// Client sends the POSTs. Default: a client that follows no redirect.
	Client *http.Client
	// Logger receives failures. Default: none.
	Logger *zap.Logger
	// Observer counts events and requests. May be nil.
	Observer WebhookObserver
}

// WebhookTarget is one URL and the events it wants.
type WebhookTarget struct {
	// URL is an absolute http or https URL. It may hold {tenant}, replaced
	// by the events' tenant: in the host, only a tenant that is a host name
	// (letters, digits, '-' and '.') is put there (the others' events are
	// dropped, counted); elsewhere every byte but letters, digits and
	// -._~ is percent-encoded.
	URL string
	// Host, when set, is the request's Host header; it may hold {tenant}
	// (a host name tenant only).
	Host string
	// Events are the names of the events sent there (pusher.Webhook*):
	// channel_occupied, channel_vacated, member_added, member_removed,
	// client_event. At least one.
	Events []string
	// MaxEvents bounds the events of one POST. Default:
	// DefaultWebhookMaxEvents.
	MaxEvents int
	// Queue bounds the events waiting for this target; past it the oldest
	// are dropped (of the same tenant when it has some, else of the
	// tenant with most). Default: DefaultWebhookQueue.
	Queue int
	// RetryFor is how long a POST that failed (no answer, or not 2xx) is
	// retried, with a backoff from 1 s doubling up to 1 min. Default:
	// DefaultWebhookRetryFor.
	RetryFor time.Duration
	// Timeout bounds one POST. Default: DefaultWebhookTimeout.
	Timeout time.Duration
}

// WebhookObserver counts webhooks. Its methods are called from the
// webhooks' goroutines, never on the hub's paths.
type WebhookObserver interface {
	// Events counts events by result: WebhookSent (in a POST answered
	// 2xx), WebhookFailed (its POST was given up after RetryFor, or at
	// Close), WebhookDropped (never sent: the queue overflowed, or no URL
	// for its tenant).
	Events(result string, n int)
	// Request counts POST attempts: "2xx", "status" (another status) or
	// "error" (no answer).
	Request(result string)
	// OccupancyError counts failed exchanges with the Occupancy (Redis):
	// the changes are tried again.
	OccupancyError()
}

// WebhookTenantHeader carries a webhook's tenant (a site with tenancy
// only). The body's "tenant" says the same under the signature: trust
// that one.
const WebhookTenantHeader = "X-Recordsync-Tenant"

// Results passed to WebhookObserver.Events.
const (
	WebhookSent    = "sent"
	WebhookFailed  = "failed"
	WebhookDropped = "dropped"
)

type nopWebhookObserver struct{}

func (nopWebhookObserver) Events(string, int) {}
func (nopWebhookObserver) Request(string)     {}
func (nopWebhookObserver) OccupancyError()    {}

// Occupancy decides, for a cluster, which of an instance's changes change
// the cluster's state: a channel held by no instance before and by this one
// now (channel_occupied), and so on. Package cluster implements it over
// Redis. Its methods are called by one goroutine at a time and may block
// (on the network).
type Occupancy interface {
	// Apply records changes, in order, as this instance's; changed lists
	// the indexes of those that changed the cluster's state. fresh says
	// the instance was unknown (its first call, or the others forgot it
	// after it went silent): what it held before must be applied again.
	Apply(ctx context.Context, changes []StateChange) (changed []int, fresh bool, err error)
	// Sweep says this instance is alive and forgets the instances silent
	// for longer than the cluster's timeout: gone are the states that no
	// instance holds any more (each reported by one instance only).
	Sweep(ctx context.Context) (gone []StateChange, fresh bool, err error)
	// Leave forgets this instance: gone as for Sweep.
	Leave(ctx context.Context) (gone []StateChange, err error)
	// Every is how often Sweep is to be called.
	Every() time.Duration
}

// StateChange is a channel (UserID "") or a presence member (UserID set)
// of a tenant being held (Held) or let go.
type StateChange struct {
	Tenant, Channel, UserID string
	Held                    bool
}

type stateKey struct{ tenant, channel, user string }

type stateChange struct {
	key  stateKey
	held bool
}

func (c stateChange) public() StateChange {
	return StateChange{Tenant: c.key.tenant, Channel: c.key.channel, UserID: c.key.user, Held: c.held}
}

// hookKinds is a set of webhook event names.
type hookKinds uint8

const (
	hkOccupied hookKinds = 1 << iota
	hkVacated
	hkAdded
	hkRemoved
	hkClient

	hkChannels = hkOccupied | hkVacated
	hkMembers  = hkAdded | hkRemoved
)

var hookKindNames = map[string]hookKinds{
	pusher.WebhookChannelOccupied: hkOccupied,
	pusher.WebhookChannelVacated:  hkVacated,
	pusher.WebhookMemberAdded:     hkAdded,
	pusher.WebhookMemberRemoved:   hkRemoved,
	pusher.WebhookClientEvent:     hkClient,
}

func kindOf(name string) hookKinds { return hookKindNames[name] }

// webhookConfig is the normalised options.
type webhookConfig struct {
	WebhookOptions
	kinds hookKinds // wanted by some target
	// clientQueue bounds the client events waiting for the worker: the
	// largest target Queue.
	clientQueue int
}

// targetID is what makes a target the same across an Update (its queue is
// kept).
type targetID struct {
	url, host, events string
}

// NewWebhooks makes the webhooks of hub and starts their worker; set them
// as hub's Activity (Options.Activity), then call Seed.
func NewWebhooks(hub *Hub, opts WebhookOptions) (*Webhooks, error) {
	w := &Webhooks{
		hub:     hub,
		pending: make(map[stateKey][]bool),
		targets: make(map[targetID]*hookTarget),
		kick:    make(chan struct{}, 1),
		occReq:  make(chan occRequest),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		held:    make(map[stateKey]bool),
	}
	if err := w.Update(opts); err != nil {
		return nil, err
	}
	go w.run()
	return w, nil
}

// ValidateWebhookTarget checks a target as NewWebhooks does.
func ValidateWebhookTarget(t WebhookTarget) error {
	if len(t.Events) == 0 {
		return fmt.Errorf("webhook %s: no events (want some of channel_occupied channel_vacated member_added member_removed client_event)", t.URL)
	}
	for _, e := range t.Events {
		if kindOf(e) == 0 {
			return fmt.Errorf("webhook %s: unknown event %q (want channel_occupied, channel_vacated, member_added, member_removed or client_event)", t.URL, e)
		}
	}
	if _, err := parseURLTemplate(t.URL); err != nil {
		return err
	}
	if strings.ContainsAny(strings.ReplaceAll(t.Host, "{tenant}", "x"), "/?#@ \t{}") {
		return fmt.Errorf("webhook %s: host %q is not a host name", t.URL, t.Host)
	}
	return nil
}

// Update applies new options: targets that stay (same URL, host and
// events) keep their queue; the others end after a short flush (Close's).
// A kind no target wanted before is seeded from the hub's state.
func (w *Webhooks) Update(opts WebhookOptions) error {
	if opts.AppKey == "" || opts.AppSecret == "" {
		return errors.New("webhooks: app_key and app_secret are required")
	}
	if len(opts.Targets) == 0 {
		return errors.New("webhooks: no URL")
	}
	cfg := &webhookConfig{WebhookOptions: opts}
	cfg.Targets = slices.Clone(opts.Targets)
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		if err := ValidateWebhookTarget(*t); err != nil {
			return err
		}
		for _, e := range t.Events {
			cfg.kinds |= kindOf(e)
		}
		if t.MaxEvents <= 0 {
			t.MaxEvents = DefaultWebhookMaxEvents
		}
		if t.Queue <= 0 {
			t.Queue = DefaultWebhookQueue
		}
		if t.RetryFor <= 0 {
			t.RetryFor = DefaultWebhookRetryFor
		}
		if t.Timeout <= 0 {
			t.Timeout = DefaultWebhookTimeout
		}
		cfg.clientQueue = max(cfg.clientQueue, t.Queue)
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultWebhookBatch
	}
	if cfg.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = webhookConcurrency
		cfg.Client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer that is not 2xx
		}}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Observer == nil {
		cfg.Observer = nopWebhookObserver{}
	}

	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errors.New("webhooks: closed")
	}
	old := w.cfg.Swap(cfg)
	keep := make(map[targetID]*hookTarget, len(cfg.Targets))
	for _, t := range cfg.Targets {
		id := targetID{t.URL, t.Host, strings.Join(t.Events, " ")}
		if ht := w.targets[id]; ht != nil {
			ht.settings.Store(&t)
			keep[id] = ht
			continue
		}
		if keep[id] == nil {
			keep[id] = newHookTarget(w, t)
		}
	}
	var gone []*hookTarget
	for id, ht := range w.targets {
		if keep[id] == nil {
			gone = append(gone, ht)
		}
	}
	w.targets = keep
	w.mu.Unlock()
	for _, ht := range gone {
		go ht.close()
	}
	// Kinds tracked from now on are seeded from the hub (states: a note
	// that also arrives is the same state). A first Update (NewWebhooks)
	// leaves it to Seed.
	if old != nil && w.hub != nil {
		newKinds := cfg.kinds &^ old.kinds
		w.hub.NoteState(w, newKinds&hkChannels != 0 && old.kinds&hkChannels == 0, newKinds&hkMembers != 0 && old.kinds&hkMembers == 0)
	}
	w.poke()
	return nil
}

// Seed notes the hub's current channels and members: call it once the
// webhooks are the hub's Activity.
func (w *Webhooks) Seed() {
	if w.hub == nil {
		return
	}
	k := w.cfg.Load().kinds
	w.hub.NoteState(w, k&hkChannels != 0, k&hkMembers != 0)
}

// Note queues what the webhooks need of a; it never blocks (Activity).
func (w *Webhooks) Note(a ActivityEvent) {
	cfg := w.cfg.Load()
	switch a.Kind {
	case ActOccupied, ActVacated:
		if cfg.kinds&hkChannels != 0 {
			w.noteState(stateKey{a.Tenant, a.Channel, ""}, a.Kind == ActOccupied)
		}
	case ActMemberAdded, ActMemberRemoved:
		if cfg.kinds&hkMembers != 0 && a.UserID != "" {
			w.noteState(stateKey{a.Tenant, a.Channel, a.UserID}, a.Kind == ActMemberAdded)
		}
	case ActClientEvent:
		if cfg.kinds&hkClient != 0 {
			w.mu.Lock()
			dropped := w.clients.push(a, cfg.clientQueue)
			w.mu.Unlock()
			if dropped {
				cfg.Observer.Events(WebhookDropped, 1)
			}
			w.poke()
		}
	}
}

func (w *Webhooks) noteState(k stateKey, held bool) {
	w.mu.Lock()
	ops, ok := w.pending[k]
	if !ok {
		w.order = append(w.order, k)
	}
	if n := len(ops); n > 0 && ops[n-1] == held {
		w.mu.Unlock() // the same state again (a seed meeting a note)
		return
	}
	ops = append(ops, held)
	if len(ops) > maxOps {
		ops = append(ops[:0], ops[len(ops)-maxOps:]...)
	}
	w.pending[k] = ops
	w.mu.Unlock()
	w.poke()
}

func (w *Webhooks) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// occRequest asks the worker to change its Occupancy.
type occRequest struct {
	occ  Occupancy
	done chan struct{}
}

// SetOccupancy makes the webhooks decide cluster-wide with o (nil: this
// instance alone). The old one is left (Leave) and the new one is told
// what this instance holds; neither reports a change (the app was told of
// them already). It waits for the worker, at most webhookCloseWait.
func (w *Webhooks) SetOccupancy(o Occupancy) {
	req := occRequest{occ: o, done: make(chan struct{})}
	t := time.NewTimer(webhookCloseWait)
	defer t.Stop()
	select {
	case w.occReq <- req:
	case <-w.done:
		return
	case <-t.C:
		return
	}
	select {
	case <-req.done:
	case <-w.done:
	case <-t.C:
	}
}

// Close stops the webhooks: what is pending is processed (the hub is to
// be closed first, so that its channels' ends are in it), this instance
// leaves its Occupancy, and the targets get webhookCloseWait to send
// what is queued; what is left is counted as failed (in flight) or
// dropped. Idempotent.
func (w *Webhooks) Close() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	// Notes from now on are ignored.
	quiet := *w.cfg.Load()
	quiet.kinds = 0
	w.cfg.Store(&quiet)
	targets := make([]*hookTarget, 0, len(w.targets))
	for _, t := range w.targets {
		targets = append(targets, t)
	}
	w.targets = nil
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		go func() { defer wg.Done(); t.close() }()
	}
	wg.Wait()
}

// run is the worker: it gathers notes for a batch window, decides what
// changed and hands the events to the targets.
func (w *Webhooks) run() {
	defer close(w.done)
	var sweep <-chan time.Time
	var sweepTicker *time.Ticker
	resetSweep := func() {
		if sweepTicker != nil {
			sweepTicker.Stop()
			sweepTicker, sweep = nil, nil
		}
		if w.occ != nil {
			every := w.occ.Every()
			if every <= 0 {
				every = 2 * time.Second
			}
			sweepTicker = time.NewTicker(every)
			sweep = sweepTicker.C
		}
	}
	defer func() {
		if sweepTicker != nil {
			sweepTicker.Stop()
		}
	}()
	var batch *time.Timer
	for {
		select {
		case <-w.stop:
			w.process(context.Background())
			w.leave()
			return
		case req := <-w.occReq:
			w.switchOccupancy(req.occ)
			resetSweep()
			close(req.done)
		case <-w.kick:
			// Gather for the batch window, then process.
			if batch == nil {
				batch = time.NewTimer(w.cfg.Load().Batch)
			} else {
				batch.Reset(w.cfg.Load().Batch)
			}
			select {
			case <-batch.C:
			case <-w.stop:
				if !batch.Stop() {
					<-batch.C
				}
			}
			w.process(context.Background())
		case <-sweep:
			w.sweep()
			w.process(context.Background())
		}
	}
}

// occTimeout bounds one exchange with the Occupancy.
const occTimeout = 5 * time.Second

// switchOccupancy leaves the current Occupancy and joins o, quietly.
func (w *Webhooks) switchOccupancy(o Occupancy) {
	if o == w.occ {
		return
	}
	w.leaveQuietly()
	w.occ, w.retry = o, nil
	w.resync, w.report = o != nil, false
	w.process(context.Background())
}

// leaveQuietly forgets this instance in its Occupancy without reporting.
func (w *Webhooks) leaveQuietly() {
	if w.occ == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), occTimeout)
	defer cancel()
	if _, err := w.occ.Leave(ctx); err != nil {
		w.cfg.Load().Logger.Warn("webhooks: could not leave the cluster's occupancy; the others forget this instance after the cluster timeout", zap.Error(err))
	}
}

// leave forgets this instance in its Occupancy (at Close) and reports what
// only it held.
func (w *Webhooks) leave() {
	if w.occ == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), occTimeout)
	defer cancel()
	gone, err := w.occ.Leave(ctx)
	if err != nil {
		w.cfg.Load().Logger.Warn("webhooks: could not leave the cluster's occupancy; the others forget this instance after the cluster timeout", zap.Error(err))
		return
	}
	w.dispatch(w.eventsOf(gone), nil)
}

// sweep keeps this instance alive in its Occupancy and reports what the
// instances that went silent held alone.
func (w *Webhooks) sweep() {
	if w.occ == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), occTimeout)
	defer cancel()
	gone, fresh, err := w.occ.Sweep(ctx)
	if err != nil {
		w.occFailed(err)
		return
	}
	w.occOK()
	if fresh && len(w.held) > 0 {
		w.resync, w.report = true, true
	}
	w.dispatch(w.eventsOf(gone), nil)
}

func (w *Webhooks) occFailed(err error) {
	cfg := w.cfg.Load()
	cfg.Observer.OccupancyError()
	if !w.failing {
		w.failing = true
		cfg.Logger.Warn("webhooks: the cluster's occupancy is unreachable; channel and member changes wait (the last state of each) and are sent once it answers", zap.Error(err))
	}
}

func (w *Webhooks) occOK() {
	if w.failing {
		w.failing = false
		w.cfg.Load().Logger.Info("webhooks: the cluster's occupancy answers again")
	}
}

// take returns the ops noted since the last take, in order, and the client
// events.
func (w *Webhooks) take() ([]stateChange, []ActivityEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var changes []stateChange
	if len(w.order) > 0 {
		changes = make([]stateChange, 0, len(w.order))
		for _, k := range w.order {
			for _, held := range w.pending[k] {
				changes = append(changes, stateChange{k, held})
			}
		}
		clear(w.pending)
		w.order = w.order[:0]
	}
	return changes, w.clients.drain()
}

// process decides what the ops noted since the last time changed and hands
// the webhooks to the targets.
func (w *Webhooks) process(ctx context.Context) {
	cfg := w.cfg.Load()
	changes, clients := w.take()
	kinds := cfg.kinds
	// A kind no longer tracked: its held states are let go, quietly.
	var release []stateChange
	lost := w.tracked&hkChannels != 0 && kinds&hkChannels == 0 || w.tracked&hkMembers != 0 && kinds&hkMembers == 0
	if lost {
		for k := range w.held {
			if !w.tracks(kinds, k) {
				release = append(release, stateChange{k, false})
			}
		}
	}
	w.tracked = kinds
	changes = slices.DeleteFunc(changes, func(c stateChange) bool { return !w.tracks(kinds, c.key) })

	var report []stateChange
	if w.occ == nil {
		for _, c := range release {
			delete(w.held, c.key)
		}
		report = w.applyLocal(changes)
	} else {
		report = w.applyCluster(ctx, release, changes)
	}
	w.dispatch(w.eventsOf(publicChanges(report)), clients)
}

func (w *Webhooks) tracks(kinds hookKinds, k stateKey) bool {
	if k.user == "" {
		return kinds&hkChannels != 0
	}
	return kinds&hkMembers != 0
}

// applyLocal applies changes to held: each one that changes it is a change
// of the cluster (this instance alone).
func (w *Webhooks) applyLocal(changes []stateChange) []stateChange {
	var out []stateChange
	for _, c := range changes {
		if w.held[c.key] == c.held {
			continue
		}
		if c.held {
			w.held[c.key] = true
		} else {
			delete(w.held, c.key)
		}
		out = append(out, c)
	}
	return out
}

// applyCluster applies release (quietly), a resync if one is due, the
// changes that failed before and changes to the Occupancy, and returns the
// changes of the cluster's state to report. On failure everything is kept
// to try again, reduced to the last state of each key that differs from
// what is held.
func (w *Webhooks) applyCluster(ctx context.Context, release, changes []stateChange) []stateChange {
	ctx, cancel := context.WithTimeout(ctx, occTimeout)
	defer cancel()
	var report []stateChange
	if len(release) > 0 {
		if _, _, err := w.occ.Apply(ctx, publicChanges(release)); err != nil {
			w.occFailed(err) // the cluster forgets them when this instance leaves
		}
		for _, c := range release {
			delete(w.held, c.key)
		}
	}
	if w.resync {
		all := make([]stateChange, 0, len(w.held))
		for k := range w.held {
			all = append(all, stateChange{k, true})
		}
		// Channels first: their occupied before their members' added.
		slices.SortStableFunc(all, func(a, b stateChange) int { return strings.Compare(a.key.user, b.key.user) })
		changed, _, err := w.occ.Apply(ctx, publicChanges(all))
		if err != nil {
			w.occFailed(err)
			w.retry = w.reduce(append(w.retry, changes...))
			return nil
		}
		if w.report {
			for _, i := range changed {
				report = append(report, all[i])
			}
		}
		w.resync, w.report = false, false
	}
	// Only what changes this instance's state goes to the Occupancy.
	var effective []stateChange
	overlay := make(map[stateKey]bool)
	for _, c := range append(w.retry, changes...) {
		cur, ok := overlay[c.key]
		if !ok {
			cur = w.held[c.key]
		}
		if cur == c.held {
			continue
		}
		overlay[c.key] = c.held
		effective = append(effective, c)
	}
	w.retry = nil
	if len(effective) == 0 {
		return report
	}
	changed, fresh, err := w.occ.Apply(ctx, publicChanges(effective))
	if err != nil {
		w.occFailed(err)
		w.retry = w.reduce(effective)
		return report
	}
	w.occOK()
	// Held before this Apply, but the Occupancy had forgotten it.
	wasHeld := len(w.held) > 0
	for _, c := range effective {
		if c.held {
			w.held[c.key] = true
		} else {
			delete(w.held, c.key)
		}
	}
	for _, i := range changed {
		report = append(report, effective[i])
	}
	if fresh && wasHeld {
		w.resync, w.report = true, true
		w.poke()
	}
	return report
}

// reduce keeps, of changes, the last state of each key when it differs
// from what is held, in the order of the keys' first change.
func (w *Webhooks) reduce(changes []stateChange) []stateChange {
	last := make(map[stateKey]int, len(changes))
	var keys []stateKey
	for i, c := range changes {
		if _, ok := last[c.key]; !ok {
			keys = append(keys, c.key)
		}
		last[c.key] = i
	}
	var out []stateChange
	for _, k := range keys {
		c := changes[last[k]]
		if w.held[k] != c.held {
			out = append(out, c)
		}
	}
	return out
}

func publicChanges(cs []stateChange) []StateChange {
	out := make([]StateChange, len(cs))
	for i, c := range cs {
		out[i] = c.public()
	}
	return out
}

// tenantEvent is a webhook event of a tenant.
type tenantEvent struct {
	tenant string
	kind   hookKinds
	ev     pusher.WebhookEvent
}

// eventsOf turns changes of the cluster's state into webhook events.
func (w *Webhooks) eventsOf(changes []StateChange) []tenantEvent {
	out := make([]tenantEvent, 0, len(changes))
	for _, c := range changes {
		te := tenantEvent{tenant: c.Tenant, ev: pusher.WebhookEvent{Channel: c.Channel, UserID: c.UserID}}
		switch {
		case c.UserID == "" && c.Held:
			te.kind, te.ev.Name = hkOccupied, pusher.WebhookChannelOccupied
		case c.UserID == "":
			te.kind, te.ev.Name = hkVacated, pusher.WebhookChannelVacated
		case c.Held:
			te.kind, te.ev.Name = hkAdded, pusher.WebhookMemberAdded
		default:
			te.kind, te.ev.Name = hkRemoved, pusher.WebhookMemberRemoved
		}
		out = append(out, te)
	}
	return out
}

// dispatch queues events and client events for the targets that want them.
func (w *Webhooks) dispatch(events []tenantEvent, clients []ActivityEvent) {
	for _, a := range clients {
		events = append(events, tenantEvent{tenant: a.Tenant, kind: hkClient, ev: pusher.WebhookEvent{
			Name: pusher.WebhookClientEvent, Channel: a.Channel, Event: a.Event, Data: a.Data,
			SocketID: a.SocketID, UserID: a.UserID,
		}})
	}
	if len(events) == 0 {
		return
	}
	w.mu.Lock()
	targets := make([]*hookTarget, 0, len(w.targets))
	for _, t := range w.targets {
		targets = append(targets, t)
	}
	w.mu.Unlock()
	for _, t := range targets {
		t.enqueue(events)
	}
}

// hookTarget sends the webhooks of one target: per tenant, one POST at a
// time (so that a tenant's webhooks arrive in order and a dead endpoint of
// one tenant does not hold the others'), at most webhookConcurrency in
// all.
type hookTarget struct {
	w        *Webhooks
	spec     WebhookTarget // as made: its URL, Host and Events stay
	settings atomic.Pointer[WebhookTarget]
	kinds    hookKinds
	url      urlTemplate

	mu       sync.Mutex
	tenants  map[string]*tenantQueue
	queued   int
	inflight int
	closing  bool

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the sender and the deliveries
}

type tenantQueue struct {
	events ring[pusher.WebhookEvent]
	busy   bool
}

func newHookTarget(w *Webhooks, spec WebhookTarget) *hookTarget {
	tmpl, _ := parseURLTemplate(spec.URL) // validated by Update
	t := &hookTarget{w: w, spec: spec, url: tmpl, tenants: make(map[string]*tenantQueue), kick: make(chan struct{}, 1)}
	t.settings.Store(&spec)
	for _, e := range spec.Events {
		t.kinds |= kindOf(e)
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.wg.Add(1)
	go t.send()
	return t
}

// enqueue queues the events this target wants, dropping the oldest past
// the bound.
func (t *hookTarget) enqueue(events []tenantEvent) {
	cfg, set := t.w.cfg.Load(), t.settings.Load()
	dropped := 0
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		return
	}
	for _, e := range events {
		if t.kinds&e.kind == 0 {
			continue
		}
		q := t.tenants[e.tenant]
		if q == nil {
			q = &tenantQueue{}
			t.tenants[e.tenant] = q
		}
		if t.queued >= set.Queue {
			victim := q
			if victim.events.len() == 0 {
				for _, other := range t.tenants {
					if other.events.len() > victim.events.len() {
						victim = other
					}
				}
			}
			if victim.events.len() > 0 {
				victim.events.dropOldest()
				t.queued--
				dropped++
			}
		}
		q.events.push(e.ev, 0)
		t.queued++
	}
	t.mu.Unlock()
	if dropped > 0 {
		cfg.Observer.Events(WebhookDropped, dropped)
	}
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// send starts a delivery for each tenant with events and none in flight.
func (t *hookTarget) send() {
	defer t.wg.Done()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.kick:
		}
		set := t.settings.Load()
		t.mu.Lock()
		for tenant, q := range t.tenants {
			if t.inflight >= webhookConcurrency {
				break
			}
			if q.busy {
				continue
			}
			if q.events.len() == 0 {
				delete(t.tenants, tenant)
				continue
			}
			batch := q.events.take(set.MaxEvents)
			t.queued -= len(batch)
			q.busy = true
			t.inflight++
			t.wg.Add(1)
			go t.deliver(tenant, batch)
		}
		t.mu.Unlock()
	}
}

// deliver POSTs one batch of a tenant until a 2xx or RetryFor.
func (t *hookTarget) deliver(tenant string, batch []pusher.WebhookEvent) {
	defer t.wg.Done()
	cfg := t.w.cfg.Load()
	result := t.post(cfg, tenant, batch)
	cfg.Observer.Events(result, len(batch))
	t.mu.Lock()
	t.inflight--
	if q := t.tenants[tenant]; q != nil {
		q.busy = false
	}
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// post sends one batch, retrying; it returns the events' result.
func (t *hookTarget) post(cfg *webhookConfig, tenant string, batch []pusher.WebhookEvent) string {
	target, ok := t.url.expand(tenant)
	host := ""
	if ok && t.spec.Host != "" {
		host, ok = expandHost(t.spec.Host, tenant)
	}
	if !ok {
		cfg.Logger.Warn("webhooks: no URL for this tenant (a tenant in a host name must be a host name); its webhooks are dropped",
			zap.String("url", t.spec.URL), zap.String("tenant", tenant))
		return WebhookDropped
	}
	body := pusher.WebhookBody(time.Now().UnixMilli(), tenant, batch)
	sig := pusher.WebhookSignature(cfg.AppSecret, body)
	give := time.Now().Add(t.settings.Load().RetryFor)
	backoff := webhookMinBackoff
	for {
		err := t.attempt(cfg, target, host, tenant, body, sig)
		if err == nil {
			return WebhookSent
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		if time.Now().Add(wait).After(give) {
			cfg.Logger.Warn("webhooks: giving up a webhook", zap.String("url", target), zap.String("tenant", tenant),
				zap.Int("events", len(batch)), zap.Error(err))
			return WebhookFailed
		}
		if ce := cfg.Logger.Check(zap.DebugLevel, "webhooks: retrying a webhook"); ce != nil {
			ce.Write(zap.String("url", target), zap.Duration("in", wait), zap.Error(err))
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-t.ctx.Done():
			timer.Stop()
			return WebhookFailed
		}
		backoff = min(backoff*2, webhookMaxBackoff)
	}
}

// attempt makes one POST; nil means a 2xx.
func (t *hookTarget) attempt(cfg *webhookConfig, target, host, tenant string, body []byte, sig string) error {
	ctx, cancel := context.WithTimeout(t.ctx, t.settings.Load().Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(string(body)))
	if err != nil {
		cfg.Observer.Request("error")
		return err
	}
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Content-Type", pusher.WebhookContentType)
	req.Header.Set(pusher.WebhookKeyHeader, cfg.AppKey)
	req.Header.Set(pusher.WebhookSignatureHeader, sig)
	if tenant != "" {
		// For routing; the body's "tenant" is the same, signed.
		req.Header.Set(WebhookTenantHeader, tenant)
	}
	req.Header.Set("User-Agent", "recordsync-webhooks")
	resp, err := cfg.Client.Do(req)
	if err != nil {
		cfg.Observer.Request("error")
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		cfg.Observer.Request("status")
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	cfg.Observer.Request("2xx")
	return nil
}

// close lets the target send what is queued for up to webhookCloseWait,
// then stops it; what is left is counted as dropped.
func (t *hookTarget) close() {
	deadline := time.Now().Add(webhookCloseWait)
	for time.Now().Before(deadline) {
		t.mu.Lock()
		idle := t.queued == 0 && t.inflight == 0
		t.mu.Unlock()
		if idle {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.mu.Lock()
	t.closing = true
	left := t.queued
	t.queued = 0
	t.tenants = map[string]*tenantQueue{}
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
	if left > 0 {
		t.w.cfg.Load().Observer.Events(WebhookDropped, left)
	}
}

// urlTemplate is a webhook URL that may hold {tenant}.
type urlTemplate struct {
	raw string
	// authority and rest split raw after "scheme://": the host part and
	// the path, query and fragment.
	prefix, authority, rest string
}

func parseURLTemplate(raw string) (urlTemplate, error) {
	probe := strings.ReplaceAll(raw, "{tenant}", "tenant")
	u, err := url.Parse(probe)
	if err != nil {
		return urlTemplate{}, fmt.Errorf("webhook URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return urlTemplate{}, fmt.Errorf("webhook URL %q: want an absolute http:// or https:// URL", raw)
	}
	scheme, after, _ := strings.Cut(raw, "://")
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	return urlTemplate{raw: raw, prefix: scheme + "://", authority: after[:end], rest: after[end:]}, nil
}

// expand puts tenant in the URL; ok is false when the tenant cannot be
// put there (none, or not a host name where a host is).
func (t urlTemplate) expand(tenant string) (string, bool) {
	if !strings.Contains(t.raw, "{tenant}") {
		return t.raw, true
	}
	if tenant == "" {
		return "", false
	}
	auth := t.authority
	if strings.Contains(auth, "{tenant}") {
		if !isHostName(tenant) {
			return "", false
		}
		auth = strings.ReplaceAll(auth, "{tenant}", tenant)
	}
	return t.prefix + auth + strings.ReplaceAll(t.rest, "{tenant}", escapeTenant(tenant)), true
}

func expandHost(tmpl, tenant string) (string, bool) {
	if !strings.Contains(tmpl, "{tenant}") {
		return tmpl, true
	}
	if !isHostName(tenant) {
		return "", false
	}
	return strings.ReplaceAll(tmpl, "{tenant}", tenant), true
}

// isHostName: dot-separated labels of letters, digits and '-', not
// starting or ending with '-'.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// escapeTenant percent-encodes every byte but the unreserved ones (RFC
// 3986, section 2.3), which is safe in a path, a query and a fragment.
func escapeTenant(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// ring is a FIFO queue that grows up to a bound, then drops its oldest.
type ring[T any] struct {
	buf        []T
	head, size int
}

func (r *ring[T]) len() int { return r.size }

// push appends v; with limit > 0 and the ring at limit, the oldest is dropped
// first (dropped reports it).
func (r *ring[T]) push(v T, limit int) (dropped bool) {
	if limit > 0 && r.size >= limit {
		r.dropOldest()
		dropped = true
	}
	if r.size == len(r.buf) {
		n := max(2*len(r.buf), 16)
		buf := make([]T, n)
		for i := 0; i < r.size; i++ {
			buf[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.size)%len(r.buf)] = v
	r.size++
	return dropped
}

func (r *ring[T]) dropOldest() {
	if r.size == 0 {
		return
	}
	var zero T
	r.buf[r.head] = zero
	r.head = (r.head + 1) % len(r.buf)
	r.size--
}

// take removes and returns up to n of the oldest (n <= 0: all).
func (r *ring[T]) take(n int) []T {
	if n <= 0 || n > r.size {
		n = r.size
	}
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	var zero T
	for i := range out {
		j := (r.head + i) % len(r.buf)
		out[i] = r.buf[j]
		r.buf[j] = zero
	}
	r.head = (r.head + n) % len(r.buf)
	r.size -= n
	if r.size == 0 && len(r.buf) > 1024 {
		r.buf, r.head = nil, 0 // give a burst's memory back
	}
	return out
}

// drain removes and returns everything.
func (r *ring[T]) drain() []T { return r.take(0) }
