package versioncache

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

func printsOf(t testing.TB, p *Printer, doc string) Fields {
	t.Helper()
	f, ok := p.Record(gjson.Parse(doc), func(n string) bool { return n == "updated_at" })
	if !ok {
		t.Fatalf("no fingerprints for %s", doc)
	}
	return f
}

func TestCanonicalValues(t *testing.T) {
	p := NewPrinter([]byte("k"))
	same := [][2]string{
		{`1.50`, `1.5`},
		{`15e-1`, `1.5`},
		{`1E2`, `100`},
		{`100.0`, `1e+2`},
		{`-0`, `0`},
		{`0.0e5`, `0`},
		{`"a\u00e9"`, `"aé"`},
		{`"\/"`, `"/"`},
		{`{"b":1,"a":[1,2]}`, `{ "a" : [1, 2.0], "b" : 1 }`},
		{`[]`, `[ ]`},
		{`{}`, `{ }`},
		{`null`, ` null`},
	}
	for _, c := range same {
		a, ka, oka := p.Value(gjson.Parse(c[0]))
		b, kb, okb := p.Value(gjson.Parse(c[1]))
		if !oka || !okb || a != b || ka != kb {
			t.Errorf("%s and %s: prints %x/%x kinds %c/%c ok %v/%v, want the same", c[0], c[1], a, b, ka, kb, oka, okb)
		}
	}
	differ := [][2]string{
		{`1`, `"1"`},
		{`1`, `10`},
		{`0.1`, `0.01`},
		{`12345678901234567890`, `12345678901234567891`},
		{`true`, `false`},
		{`null`, `""`},
		{`[1,2]`, `[2,1]`},
		{`[[1],2]`, `[1,[2]]`},
		{`{"a":1}`, `{"a":1,"b":null}`},
		{`{"a":"b"}`, `{"ab":""}`},
		{`"a"`, `["a"]`},
		{`[]`, `{}`},
		{`"x"`, `"X"`},
	}
	for _, c := range differ {
		a, _, _ := p.Value(gjson.Parse(c[0]))
		b, _, _ := p.Value(gjson.Parse(c[1]))
		if a == b {
			t.Errorf("%s and %s: same print %x", c[0], c[1], a)
		}
	}
	// Keyed: another key, other prints.
	q := NewPrinter([]byte("other"))
	a, _, _ := p.Value(gjson.Parse(`true`))
	b, _, _ := q.Value(gjson.Parse(`true`))
	if a == b {
		t.Error("two keys gave the same print of true")
	}
}

func TestRecordBounds(t *testing.T) {
	p := NewPrinter(nil)
	refused := map[string]string{
		"not an object":    `[1,2]`,
		"duplicated field": `{"a":1,"a":2}`,
		"duplicated deep":  `{"a":{"x":1,"x":2}}`,
		"too deep":         `{"a":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + `}`,
		"long name":        `{"` + strings.Repeat("n", MaxFieldNameBytes+1) + `":1}`,
		"huge exponent":    `{"a":1e10000000000000000000}`,
		"only skipped":     `{"updated_at":"x"}`,
	}
	var many strings.Builder
	many.WriteString("{")
	for i := 0; i <= MaxFields; i++ {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `"f%03d":%d`, i, i)
	}
	many.WriteString("}")
	refused["too many fields"] = many.String()
	for name, doc := range refused {
		if f, ok := p.Record(gjson.Parse(doc), func(n string) bool { return n == "updated_at" }); ok || f.Known() {
			t.Errorf("%s: fingerprinted (%d fields), want none", name, f.Len())
		}
	}
	f := printsOf(t, p, `{"b":null,"a":{"x":[1,{"y":2}]},"updated_at":"v","c":"z"}`)
	var names []string
	for i := 0; i < f.Len(); i++ {
		n, _, _ := f.Field(i)
		names = append(names, n)
	}
	if !reflect.DeepEqual(names, []string{"a", "b", "c"}) {
		t.Errorf("names %v, want a b c (sorted, updated_at left out)", names)
	}
	if _, k, _ := f.Lookup("b"); k != KindNull {
		t.Errorf("kind of null %c", k)
	}
	if _, k, _ := f.Lookup("a"); k != KindObject {
		t.Errorf("kind of object %c", k)
	}
}

func TestChanged(t *testing.T) {
	p := NewPrinter([]byte("k"))
	v1 := printsOf(t, p, `{"name":"A","due":null,"tags":["x"],"meta":{"a":1},"gone":1}`)
	v2 := printsOf(t, p, `{"name":"A","due":"2026-01-01","tags":["x","y"],"meta":{"a":1.0},"new":true}`)
	if got, want := Changed(v1, v2), []string{"due", "gone", "new", "tags"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Changed = %v, want %v", got, want)
	}
	if got := Changed(v1, v1); got == nil || len(got) != 0 {
		t.Errorf("Changed of the same = %#v, want an empty list", got)
	}
	if got := Changed(Fields{}, v1); got != nil {
		t.Errorf("Changed from unknown = %v, want nil", got)
	}
	// The same value in another kind is a change.
	a := printsOf(t, p, `{"n":1}`)
	b := printsOf(t, p, `{"n":"1"}`)
	if got := Changed(a, b); !reflect.DeepEqual(got, []string{"n"}) {
		t.Errorf("1 → \"1\": %v", got)
	}
}

func TestOneVersionOneSetOfFields(t *testing.T) {
	p := NewPrinter([]byte("k"))
	alice := printsOf(t, p, `{"name":"A","can_edit":true,"secret_note":"x"}`)
	bob := printsOf(t, p, `{"name":"A","can_edit":false}`)
	both := sameVersion(alice, bob)
	for name, want := range map[string]bool{"name": false, "can_edit": true, "secret_note": true} {
		pr, _, ok := both.Lookup(name)
		if !ok || (pr == Varies) != want {
			t.Errorf("%s: print %x ok %v, want varies=%v", name, pr, ok, want)
		}
	}
	if !sameVersion(alice, alice).identical(alice) {
		t.Error("combining equal answers made new Fields")
	}
	// A caller-dependent field is never reported, and stays so.
	next := inherit(both, printsOf(t, p, `{"name":"B","can_edit":true,"secret_note":"y"}`))
	if got := Changed(both, next); !reflect.DeepEqual(got, []string{"name"}) {
		t.Errorf("Changed = %v, want only name", got)
	}
	if pr, _, _ := next.Lookup("can_edit"); pr != Varies {
		t.Error("can_edit did not stay caller-dependent")
	}
}

func TestStoreKeepsFieldsOfRecentVersions(t *testing.T) {
	s, err := New(Options{FieldVersions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := NewPrinter([]byte("k"))
	k := Key{Type: "flow", ID: "1"}
	docs := []string{`{"a":1,"b":1}`, `{"a":2,"b":1}`, `{"a":2,"b":2}`, `{"a":3,"b":2}`}
	for i, d := range docs {
		e, adv := s.Advance(k, Entry{Version: fmt.Sprint(i + 1), Fields: printsOf(t, p, d)})
		if !adv {
			t.Fatalf("version %d not advanced", i+1)
		}
		want := [][]string{nil, {"a"}, {"b"}, {"a"}}[i]
		if !reflect.DeepEqual(e.Changed, want) {
			t.Errorf("version %d: Changed %v, want %v", i+1, e.Changed, want)
		}
	}
	for v, want := range map[string]bool{"1": false, "2": true, "3": true, "4": true} {
		if _, ok := s.FieldsAt(k, v); ok != want {
			t.Errorf("FieldsAt(%s) ok=%v, want %v (latest and two before)", v, ok, want)
		}
	}
	loaded, _ := s.FieldsAt(k, "2")
	cur, _ := s.Get(k)
	if got := Changed(loaded, cur.Fields); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("since version 2: %v", got)
	}
	// Another caller's answer for the latest version: can-differ fields
	// become Varies, and Changed is recomputed without them.
	e, _ := s.Advance(k, Entry{Version: "4", Fields: printsOf(t, p, `{"a":99,"b":2}`)})
	if pr, _, _ := e.Fields.Lookup("a"); pr != Varies {
		t.Error("a did not become caller-dependent")
	}
	if len(e.Changed) != 0 || e.Changed == nil {
		t.Errorf("Changed after a varied: %#v, want empty", e.Changed)
	}
	// An event's own names are kept when the store knows no Fields.
	k2 := Key{Type: "flow", ID: "2"}
	s.Advance(k2, Entry{Version: "1"})
	e, _ = s.Advance(k2, Entry{Version: "2", Changed: []string{"title"}})
	if !reflect.DeepEqual(e.Changed, []string{"title"}) {
		t.Errorf("event's names: %v", e.Changed)
	}
	// Off: nothing kept.
	off, _ := New(Options{FieldVersions: -1})
	defer off.Close()
	off.Advance(k, Entry{Version: "1", Fields: printsOf(t, p, docs[0])})
	if e, _ := off.Get(k); e.Fields.Known() {
		t.Error("FieldVersions -1 kept Fields")
	}
}

func TestNewFieldsValidates(t *testing.T) {
	if _, ok := NewFields([]string{"a", "b"}, []uint64{1, 2}, []byte{KindString, KindNumber}); !ok {
		t.Error("valid Fields refused")
	}
	bad := []struct {
		names  []string
		prints []uint64
		kinds  []byte
	}{
		{[]string{"b", "a"}, []uint64{1, 2}, []byte{'s', 's'}},
		{[]string{"a", "a"}, []uint64{1, 2}, []byte{'s', 's'}},
		{[]string{"a"}, []uint64{1, 2}, []byte{'s'}},
		{[]string{"a"}, []uint64{1}, []byte{'x'}},
		{[]string{""}, []uint64{1}, []byte{'s'}},
		{nil, nil, nil},
	}
	for _, c := range bad {
		if _, ok := NewFields(c.names, c.prints, c.kinds); ok {
			t.Errorf("NewFields(%v, %v, %q) accepted", c.names, c.prints, c.kinds)
		}
	}
}

// FuzzFields: any JSON document fingerprints without panicking; a record
// prints the same as its re-encoding by encoding/json (keys sorted,
// escapes and numbers rewritten), and Changed of a record against itself
// is empty.
func FuzzFields(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":"x","c":[1,2,{"d":null}],"e":{"z":1,"y":2.50}}`,
		`{"a":1e400}`, `{"a":"\ud800"}`, `{"a":-0.0}`, `[1]`, `{"a":{"a":{"a":[]}}}`,
	} {
		f.Add(s)
	}
	p := NewPrinter([]byte("k"))
	f.Fuzz(func(t *testing.T, doc string) {
		// PHP's json_decode (and json_encode, which makes the app's
		// answers) refuse invalid UTF-8; encoding/json would replace it.
		if !gjson.Valid(doc) || !utf8.ValidString(doc) {
			return
		}
		a, ok := p.Record(gjson.Parse(doc), nil)
		if !ok {
			return
		}
		if got := Changed(a, a); len(got) != 0 {
			t.Fatalf("Changed of itself: %v", got)
		}
		var v map[string]any
		dec := json.NewDecoder(strings.NewReader(doc))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return
		}
		re, err := json.Marshal(v)
		if err != nil {
			return
		}
		b, ok := p.Record(gjson.ParseBytes(re), nil)
		if !ok {
			t.Fatalf("re-encoded %s not fingerprinted", re)
		}
		if got := Changed(a, b); len(got) != 0 && !strings.Contains(doc, `\u`) {
			t.Fatalf("%s and its re-encoding %s differ in %v", doc, re, got)
		}
	})
}

// BenchmarkRecord: fingerprinting one 12-field record answer.
func BenchmarkRecord(b *testing.B) {
	p := NewPrinter([]byte("k"))
	doc := gjson.Parse(`{"id":1,"name":"Flow 1","description":"Some text of the flow","status":"open","priority":3,"owner_id":7,` +
		`"project_id":11,"tags":["a","b"],"due_date":null,"archived":false,"created_at":"2026-01-01T12:00:00.000000Z","settings":{"color":"blue","notify":true}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := p.Record(doc, nil); !ok {
			b.Fatal("not fingerprinted")
		}
	}
}
