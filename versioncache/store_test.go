package versioncache

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func newStore(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestAdvanceOnlyMovesForward(t *testing.T) {
	s := newStore(t, Options{})
	k := Key{Tenant: "a", Type: "flow", ID: "1"}
	if _, ok := s.Get(k); ok {
		t.Fatal("empty store knows the key")
	}
	steps := []struct {
		version      string
		wantAdvanced bool
		wantHeld     string
	}{
		{"2026-01-01T12:00:00.000001Z", true, "2026-01-01T12:00:00.000001Z"},
		{"2026-01-01T12:00:00.000003Z", true, "2026-01-01T12:00:00.000003Z"},
		{"2026-01-01T12:00:00.000002Z", false, "2026-01-01T12:00:00.000003Z"}, // late, older
		{"2026-01-01T12:00:00.000003Z", false, "2026-01-01T12:00:00.000003Z"}, // same
		{"2026-01-01T13:00:00.000003+01:00", false, "2026-01-01T12:00:00.000003Z"},
		{"", false, "2026-01-01T12:00:00.000003Z"},
	}
	for i, st := range steps {
		held, advanced := s.Advance(k, Entry{Version: st.version, UpdatedByName: fmt.Sprint("step", i)})
		if advanced != st.wantAdvanced || held.Version != st.wantHeld {
			t.Fatalf("step %d (%s): advanced=%v held=%q; want %v %q", i, st.version, advanced, held.Version, st.wantAdvanced, st.wantHeld)
		}
		got, ok := s.Get(k)
		if !ok || got.Version != st.wantHeld {
			t.Fatalf("step %d: Get = %q %v, want %q", i, got.Version, ok, st.wantHeld)
		}
	}
	// The who-fields stay those of the save that set the version.
	if got, _ := s.Get(k); got.UpdatedByName != "step1" {
		t.Errorf("UpdatedByName = %q, want step1", got.UpdatedByName)
	}
}

func TestTenantsAreSeparate(t *testing.T) {
	s := newStore(t, Options{})
	a := Key{Tenant: "a", Type: "flow", ID: "1"}
	b := Key{Tenant: "b", Type: "flow", ID: "1"}
	s.Advance(a, Entry{Version: "5"})
	if _, ok := s.Get(b); ok {
		t.Fatal("tenant b sees tenant a's version")
	}
	s.Advance(b, Entry{Version: "1"})
	if got, _ := s.Get(a); got.Version != "5" {
		t.Fatalf("tenant a = %q", got.Version)
	}
}

func TestOpaqueVersionsLatestWins(t *testing.T) {
	s := newStore(t, Options{})
	k := Key{Type: "doc", ID: "x"}
	s.Advance(k, Entry{Version: "etag-1"})
	if _, advanced := s.Advance(k, Entry{Version: "etag-2"}); !advanced {
		t.Fatal("a different opaque version did not replace the held one")
	}
}

func TestForgottenMeansUnknown(t *testing.T) {
	s := newStore(t, Options{TTL: 50 * time.Millisecond})
	k := Key{Type: "flow", ID: "1"}
	s.Advance(k, Entry{Version: "3"})
	if _, ok := s.Get(k); !ok {
		t.Fatal("not held")
	}
	time.Sleep(120 * time.Millisecond)
	if _, ok := s.Get(k); ok {
		t.Fatal("held past its TTL")
	}
	s.Forget(k)
	if _, ok := s.Get(k); ok {
		t.Fatal("held after Forget")
	}
}

func TestBoundedSize(t *testing.T) {
	s := newStore(t, Options{MaxEntries: 100})
	for i := 0; i < 5000; i++ {
		s.Advance(Key{Type: "flow", ID: fmt.Sprint(i)}, Entry{Version: "1"})
	}
	held := 0
	for i := 0; i < 5000; i++ {
		if _, ok := s.Get(Key{Type: "flow", ID: fmt.Sprint(i)}); ok {
			held++
		}
	}
	if held > 100 {
		t.Fatalf("holds %d entries, bound is 100", held)
	}
}

// TestConcurrentAdvanceKeepsNewest races writers of increasing versions of
// one key (new-key admission included): the held version must end at the
// newest, never behind it.
func TestConcurrentAdvanceKeepsNewest(t *testing.T) {
	for round := 0; round < 20; round++ {
		s := newStore(t, Options{})
		k := Key{Type: "flow", ID: fmt.Sprint(round)}
		var wg sync.WaitGroup
		for i := 1; i <= 50; i++ {
			wg.Add(1)
			go func(v int) {
				defer wg.Done()
				s.Advance(k, Entry{Version: fmt.Sprint(v)})
			}(i)
		}
		wg.Wait()
		if got, ok := s.Get(k); !ok || got.Version != "50" {
			t.Fatalf("round %d: held %q %v, want 50", round, got.Version, ok)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	s := newStore(b, Options{})
	k := Key{Tenant: "a", Type: "flow", ID: "1"}
	s.Advance(k, Entry{Version: "2026-01-01T12:00:00.000000Z"})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Get(k)
		}
	})
}

func BenchmarkAdvance(b *testing.B) {
	s := newStore(b, Options{})
	k := Key{Tenant: "a", Type: "flow", ID: "1"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Advance(k, Entry{Version: fmt.Sprint(i)})
	}
}
