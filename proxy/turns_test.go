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
	nop := func(int) {}
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ht, err := ts.acquire(context.Background(), keyOf("flow", "1"), time.Second, nop)
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

	a, _ := ts.acquire(context.Background(), keyOf("flow", "1"), time.Second, nop)
	done := make(chan struct{})
	go func() {
		b, err := ts.acquire(context.Background(), keyOf("flow", "2"), 10*time.Millisecond, nop)
		if err != nil {
			t.Error("other key waited:", err)
		}
		b.release()
		close(done)
	}()
	<-done
	if _, err := ts.acquire(context.Background(), keyOf("flow", "1"), 10*time.Millisecond, nop); err != errWaitTimeout {
		t.Fatalf("err = %v", err)
	}
	a.release()
	if ts.size() != 0 {
		t.Fatalf("%d keys left after timeout", ts.size())
	}
	var nilTurn *heldTurn
	nilTurn.release()
}
