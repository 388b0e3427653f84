package cluster

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/recordsync/recordsync/internal/testredis"
	"github.com/recordsync/recordsync/realtime"
)

func newTestOccupancy(tb testing.TB, url string, timeout time.Duration) (*Occupancy, *socketsProbe) {
	tb.Helper()
	p := &socketsProbe{}
	c, err := New(Options{URL: url, Name: "t", Secret: testSecret, Observer: p})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return NewOccupancy(c, timeout), p
}

func held(tenant, channel, user string) realtime.StateChange {
	return realtime.StateChange{Tenant: tenant, Channel: channel, UserID: user, Held: true}
}

func released(tenant, channel, user string) realtime.StateChange {
	return realtime.StateChange{Tenant: tenant, Channel: channel, UserID: user}
}

func apply(tb testing.TB, o *Occupancy, changes ...realtime.StateChange) (changed []int, fresh bool) {
	tb.Helper()
	changed, fresh, err := o.Apply(context.Background(), changes)
	if err != nil {
		tb.Fatal(err)
	}
	return changed, fresh
}

// TestOccupancyTwoInstances: the instance that makes a channel or member
// held by someone, or by no one, is the one told; the tenant, channel and
// user are one state each, whatever ':' they hold.
func TestOccupancyTwoInstances(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	a, _ := newTestOccupancy(t, r.URL(), time.Minute)
	b, _ := newTestOccupancy(t, r.URL(), time.Minute)

	changed, fresh := apply(t, a, held("t", "x", ""), held("t", "presence-p", ""), held("t", "presence-p", "7"))
	if !fresh || !slices.Equal(changed, []int{0, 1, 2}) {
		t.Fatalf("first instance: changed %v fresh %v", changed, fresh)
	}
	changed, fresh = apply(t, b, held("t", "x", ""), held("t", "presence-p", "7"), held("t:x", "", ""), held("t", "x:", ""), held("u", "x", ""))
	if !fresh || !slices.Equal(changed, []int{2, 3, 4}) {
		t.Fatalf("second instance: changed %v (want the other tenants' and channel's only)", changed)
	}
	if changed, fresh = apply(t, b, held("t", "x", "")); fresh || len(changed) != 0 {
		t.Fatalf("held again: changed %v fresh %v", changed, fresh)
	}
	if changed, _ = apply(t, a, released("t", "x", ""), released("t", "presence-p", "7")); len(changed) != 0 {
		t.Fatalf("a let go of what b holds too: changed %v", changed)
	}
	if changed, _ = apply(t, b, released("t", "x", ""), released("t", "x", ""), released("t", "presence-p", "7")); !slices.Equal(changed, []int{0, 2}) {
		t.Fatalf("b let go last: changed %v", changed)
	}
	if changed, _ = apply(t, a, released("t", "presence-p", "")); !slices.Equal(changed, []int{0}) {
		t.Fatalf("a let go of its own: changed %v", changed)
	}
}

// TestOccupancySweep: what a silent instance held alone is let go by one
// sweeping instance only (members before channels); the silent instance,
// back, is fresh; entries not signed with the cluster's key are dropped.
func TestOccupancySweep(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	const timeout = 500 * time.Millisecond
	dead, _ := newTestOccupancy(t, r.URL(), timeout)
	a, pa := newTestOccupancy(t, r.URL(), timeout)
	b, pb := newTestOccupancy(t, r.URL(), timeout)
	apply(t, dead, held("t", "presence-p", ""), held("t", "presence-p", "1"), held("t", "shared", ""))
	apply(t, a, held("t", "shared", ""))
	// A forged entry in the dead instance's index.
	ctx := context.Background()
	forged := "c:t:forged"
	dead.c.client.SAdd(ctx, dead.setPrefix+forged, dead.c.instance)
	dead.c.client.HSet(ctx, dead.idxPrefix+dead.c.instance, forged, "not-a-signature")

	time.Sleep(timeout + 200*time.Millisecond)
	type result struct {
		gone  []realtime.StateChange
		fresh bool
	}
	sweep := func(o *Occupancy) result {
		g, f, err := o.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return result{g, f}
	}
	// a, alive, sweeps first and gets it all; b after it gets nothing.
	ra := sweep(a)
	rb := sweep(b)
	want := []realtime.StateChange{released("t", "presence-p", "1"), released("t", "presence-p", "")}
	if fmt.Sprint(ra.gone) != fmt.Sprint(want) || len(rb.gone) != 0 {
		t.Fatalf("a swept %v, b %v; want %v by one of them", ra.gone, rb.gone, want)
	}
	if ra.fresh || !rb.fresh {
		t.Fatalf("fresh: a %v (had applied), b %v (never had)", ra.fresh, rb.fresh)
	}
	if pa.count("dropped occupancy unauthenticated")+pb.count("dropped occupancy unauthenticated") != 1 {
		t.Fatal("the forged entry was not dropped as unauthenticated")
	}
	// The silent one comes back: fresh, and holds nothing any more.
	changed, fresh := apply(t, dead)
	if !fresh || len(changed) != 0 {
		t.Fatalf("back: changed %v fresh %v", changed, fresh)
	}
	if changed, _ = apply(t, dead, held("t", "presence-p", "")); !slices.Equal(changed, []int{0}) {
		t.Fatalf("held again after the sweep: changed %v", changed)
	}
	// Leave lets go at once.
	gone, err := dead.Leave(ctx)
	if err != nil || fmt.Sprint(gone) != fmt.Sprint([]realtime.StateChange{released("t", "presence-p", "")}) {
		t.Fatalf("leave: %v %v", gone, err)
	}
	if n, _ := dead.c.client.Exists(ctx, dead.idxPrefix+dead.c.instance, dead.setPrefix+"c:t:presence-p").Result(); n != 0 {
		t.Fatalf("%d keys left after leave", n)
	}
}

// TestOccupancyDown: with Redis unreachable Apply and Sweep fail (the
// webhooks keep the changes).
func TestOccupancyDown(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	o, _ := newTestOccupancy(t, r.URL(), time.Minute)
	r.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, _, err := o.Apply(ctx, []realtime.StateChange{held("t", "x", "")}); err == nil {
		t.Fatal("apply without Redis succeeded")
	}
	if _, _, err := o.Sweep(ctx); err == nil {
		t.Fatal("sweep without Redis succeeded")
	}
}
