package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// One holder per key at a time; other keys run in parallel; idle keys freed.
func TestTurnsSerialise(t *testing.T) {
	ts := newTurns()
	var inside atomic.Int32
	var maxInside atomic.Int32
	var wg sync.WaitGroup
	nop := nopObserver{}
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ht, err := ts.acquire(context.Background(), keyOf("flow", "1"), time.Second, 0, nop)
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			if n > maxInside.Load() {
				maxInside.Store(n)
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			ht.release()
			ht.release() // idempotent
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Fatalf("%d holders at once", maxInside.Load())
	}
	if ts.size() != 0 {
		t.Fatalf("%d keys left", ts.size())
	}

	a, _ := ts.acquire(context.Background(), keyOf("flow", "1"), time.Second, 0, nop)
	done := make(chan struct{})
	go func() {
		b, err := ts.acquire(context.Background(), keyOf("flow", "2"), 10*time.Millisecond, 0, nop)
		if err != nil {
			t.Error("other key waited:", err)
		}
		b.release()
		close(done)
	}()
	<-done
	if _, err := ts.acquire(context.Background(), keyOf("flow", "1"), 10*time.Millisecond, 0, nop); err != errWaitTimeout {
		t.Fatalf("err = %v", err)
	}
	a.release()
	if ts.size() != 0 {
		t.Fatalf("%d keys left after timeout", ts.size())
	}
	var nilTurn *heldTurn
	nilTurn.release()
}

// The expired holder's release gives back no second token.
func TestExpiredTurnReleasesOnce(t *testing.T) {
	ts := newTurns()
	obs := &countingObserver{}
	expired := make(chan struct{})
	f := func(string) { close(expired) }
	obs.onRefused.Store(&f)
	k := keyOf("flow", "1")
	a, err := ts.acquire(t.Context(), k, time.Second, 10*time.Millisecond, obs)
	if err != nil {
		t.Fatal(err)
	}
	<-expired
	b, err := ts.acquire(t.Context(), k, time.Second, 0, obs)
	if err != nil {
		t.Fatal("the expired turn was not given on:", err)
	}
	a.release() // late: must not free b's turn
	if _, err := ts.acquire(t.Context(), k, 20*time.Millisecond, 0, obs); err != errWaitTimeout {
		t.Fatalf("two holders after a late release: %v", err)
	}
	b.release()
	if ts.size() != 0 {
		t.Fatalf("%d keys left", ts.size())
	}
	if obs.get("refused."+RefusedTurnExpired) != 1 {
		t.Fatalf("expiries counted: %v", obs.counts)
	}
}
