package versioncache

import (
	"testing"
	"time"
)

// A suspended store answers nothing but keeps learning and notes what moved;
// after Resume it vouches only for what it learns from then on, and an
// entry learned again (the same version) is vouched for again.
func TestSuspendResume(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b, c := Key{Type: "flow", ID: "a"}, Key{Type: "flow", ID: "b"}, Key{Type: "flow", ID: "c"}
	s.Advance(a, Entry{Version: "1"})
	s.Advance(b, Entry{Version: "1"})
	if _, ok := s.Get(a); !ok {
		t.Fatal("a not known before suspending")
	}

	s.Suspend()
	s.Suspend() // idempotent: keeps what was noted
	if _, ok := s.Get(a); ok {
		t.Fatal("a suspended store answered")
	}
	s.Advance(b, Entry{Version: "2"})
	s.Advance(c, Entry{Version: "1"})
	s.Advance(c, Entry{Version: "3"})
	s.Advance(a, Entry{Version: "0"}) // older: not noted
	if _, ok := s.Get(c); ok {
		t.Fatal("c learned while suspended answered before Resume")
	}
	time.Sleep(time.Millisecond)
	noted, overflow := s.Resume()
	got := map[string]string{}
	for _, n := range noted {
		got[n.Key.ID] = n.Entry.Version
	}
	if overflow != 0 || len(got) != 2 || got["b"] != "2" || got["c"] != "3" {
		t.Fatalf("noted %v (overflow %d), want b@2 and c@3", got, overflow)
	}
	for _, k := range []Key{a, b, c} {
		if e, ok := s.Get(k); ok {
			t.Fatalf("%s@%s learned before Resume is vouched for", k.ID, e.Version)
		}
	}
	// Learned again (same version) or newer: vouched for again; an older
	// version still never replaces what is held.
	s.Advance(b, Entry{Version: "2"})
	s.Advance(c, Entry{Version: "4"})
	if e, ok := s.Get(b); !ok || e.Version != "2" {
		t.Fatalf("b = %+v, %v after learning it again", e, ok)
	}
	if e, ok := s.Get(c); !ok || e.Version != "4" {
		t.Fatalf("c = %+v, %v", e, ok)
	}
	if held, advanced := s.Advance(a, Entry{Version: "0"}); advanced || held.Version != "1" {
		t.Fatalf("an older version moved a: %+v, %v", held, advanced)
	}
	if noted, _ := s.Resume(); len(noted) != 0 {
		t.Fatalf("a store that was not suspended noted %v", noted)
	}
}

// A suspended store notes at most MaxNoted records and counts the others.
func TestSuspendNotesAreBounded(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Suspend()
	for i := range MaxNoted + 10 {
		s.Advance(Key{Type: "flow", ID: string(rune('a'+i%26)) + string(rune(i))}, Entry{Version: "1"})
	}
	noted, overflow := s.Resume()
	if len(noted) != MaxNoted || overflow != 10 {
		t.Fatalf("noted %d, overflow %d; want %d and 10", len(noted), overflow, MaxNoted)
	}
}
