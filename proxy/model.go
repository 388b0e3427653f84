package proxy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/recordsync/recordsync/pusher"
	"github.com/recordsync/recordsync/versioncache"
	"github.com/tidwall/gjson"
)

// compileModel checks a ModelSpec and fills its default fields: "id" and
// the version field's key in the record object.
func compileModel(m *ModelSpec, versionField string) (*ModelSpec, error) {
	if m == nil {
		return nil, nil
	}
	c := *m
	if c.Class == "" || strings.HasPrefix(c.Class, ".") || strings.HasSuffix(c.Class, ".") || !pusher.ValidChannelName("private-"+c.Class+".1") {
		return nil, fmt.Errorf("model %q: want the model's class with dots for backslashes, e.g. App.Models.Flow", c.Class)
	}
	if len(c.Fields) == 0 {
		_, leaf := SplitPath(versionField)
		c.Fields = []string{"id", leaf}
	}
	c.Fields = slices.Clone(c.Fields)
	for _, f := range c.Fields {
		if f == "" || len(f) > versioncache.MaxFieldNameBytes {
			return nil, fmt.Errorf("model %s: invalid field %q", c.Class, f)
		}
	}
	return &c, nil
}

// modelEventName is Laravel's broadcastAs of a model event:
// class_basename($model).ucfirst($event), e.g. "FlowUpdated".
func modelEventName(class string) string {
	return class[strings.LastIndexByte(class, '.')+1:] + "Updated"
}

// modelEvent builds the model-broadcast form of a save from the app's
// answer (body, valid JSON): {"model":{...}} with the spec's fields that
// the record object shows, in the spec's order, within
// versioncache.MaxModelBytes (the fields past it are left out); nil when
// not even the first fits or the record object shows none of them.
func (h *Handler) modelEvent(m *ModelSpec, id string, rd *reader, body []byte) *versioncache.ModelEvent {
	obj := gjson.ParseBytes(body)
	if rd.record.path != "" {
		obj = gjson.GetBytes(body, rd.record.path)
	}
	if !obj.IsObject() {
		return nil
	}
	values := make(map[string]gjson.Result, len(m.Fields))
	obj.ForEach(func(k, v gjson.Result) bool {
		if name := k.String(); slices.Contains(m.Fields, name) {
			if _, dup := values[name]; dup {
				values[name] = gjson.Result{} // given twice: PHP's last, gjson's first; left out
			} else {
				values[name] = v
			}
		}
		return true
	})
	b := make([]byte, 0, 128)
	b = append(b, `{"model":{`...)
	n := 0
	for _, f := range m.Fields {
		v, ok := values[f]
		if !ok || v.Raw == "" {
			continue
		}
		mark := len(b)
		if n > 0 {
			b = append(b, ',')
		}
		b = pusher.AppendJSONString(b, f)
		b = append(b, ':')
		b = append(b, v.Raw...)
		if len(b)+2 > versioncache.MaxModelBytes {
			b = b[:mark]
			break
		}
		n++
	}
	if n == 0 {
		return nil
	}
	b = append(b, '}', '}')
	return &versioncache.ModelEvent{Channel: m.Class + "." + id, Event: modelEventName(m.Class), Data: b}
}
