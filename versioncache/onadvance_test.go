package versioncache

import "testing"

func TestOnAdvance(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []string
	s.SetOnAdvance(func(k Key, e Entry) { got = append(got, k.ID+"@"+e.Version) })
	k := Key{Tenant: "t", Type: "flow", ID: "1"}
	s.Advance(k, Entry{Version: "2"})
	s.Advance(k, Entry{Version: "1"})      // older
	s.Advance(k, Entry{Version: "2"})      // same
	s.AdvanceQuiet(k, Entry{Version: "3"}) // shared by other means
	s.Advance(k, Entry{Version: "4"})
	s.SetOnAdvance(nil)
	s.Advance(k, Entry{Version: "5"})
	if len(got) != 2 || got[0] != "1@2" || got[1] != "1@4" {
		t.Fatalf("OnAdvance saw %v", got)
	}
	if e, _ := s.Get(k); e.Version != "5" {
		t.Fatalf("held %q", e.Version)
	}
}
