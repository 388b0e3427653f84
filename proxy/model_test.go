package proxy

import (
	"strings"
	"testing"
)

// A record type with a model announces each save also as Laravel's model
// broadcasting does, with only the configured fields of the answer.
func TestModelEvent(t *testing.T) {
	pub := &recordingPublisher{}
	h, _ := newTestHandler(t, func(o *Options) {
		o.Routes[0].Model = &ModelSpec{Class: "App.Models.Flow"}
		o.Publisher = pub
	})
	app := newFieldsApp()
	rr := sendF(t, h, app, "PUT", tokenOK, `{"name":"secret name"}`)
	if rr.Code != 200 {
		t.Fatalf("PUT: %d", rr.Code)
	}
	saves := pub.all()
	if len(saves) != 1 || saves[0].Model == nil {
		t.Fatalf("saves %+v", saves)
	}
	m := saves[0].Model
	want := `{"model":{"id":1,"updated_at":"` + version(2) + `"}}`
	if m.Channel != "App.Models.Flow.1" || m.Event != "FlowUpdated" || string(m.Data) != want {
		t.Fatalf("model event %s %s %s, want App.Models.Flow.1 FlowUpdated %s", m.Channel, m.Event, m.Data, want)
	}

	// Named fields, in their order; a huge one is left out.
	app.fields["description"] = strings.Repeat("x", 2000)
	h2, _ := newTestHandler(t, func(o *Options) {
		o.Routes[0].Model = &ModelSpec{Class: "App.Models.Flow", Fields: []string{"id", "name", "description", "missing"}}
		o.Publisher = pub
	})
	sendF(t, h2, app, "PUT", tokenOK, `{"name":"n"}`)
	if got := pub.all()[1].Model.Data; string(got) != `{"model":{"id":1,"name":"n"}}` {
		t.Fatalf("model data %s", got)
	}
	for _, bad := range []string{"", "App Models", ".Flow", "App.Models."} {
		if _, err := New(Options{Store: newStore(t), Routes: []RouteSpec{{Type: "flow", Pattern: "/f/{id}", Model: &ModelSpec{Class: bad}}}}); err == nil {
			t.Errorf("model class %q accepted", bad)
		}
	}
}
