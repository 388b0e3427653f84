package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/tidwall/gjson"

	"github.com/recordsync/recordsync/versioncache"
)

// cacheMemResult is the memory one cached record costs, with and without
// the fingerprints of its fields, measured in this process in the same
// run: heap in use after a GC, before and after filling a store.
type cacheMemResult struct {
	Records, Fields, Versions int
	// PlainBytes and FieldsBytes are heap bytes per record without field
	// fingerprints (field_versions off) and with the default.
	PlainBytes, FieldsBytes float64
}

// measureCacheMemory fills a store with n records of a 12-field flow, each
// learned at three versions (one field changed each time), once with
// fingerprints off and once with the default field_versions.
func measureCacheMemory(n int) (cacheMemResult, error) {
	res := cacheMemResult{Records: n, Fields: 12, Versions: versioncache.DefaultFieldVersions}
	printer := versioncache.NewPrinter([]byte("bench"))
	fill := func(fieldVersions int) (float64, error) {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := versioncache.New(versioncache.Options{MaxEntries: int64(n) * 2, FieldVersions: fieldVersions})
		if err != nil {
			return 0, err
		}
		base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		for i := 0; i < n; i++ {
			k := versioncache.Key{Tenant: "a.example.com", Type: "flow", ID: fmt.Sprint(i + 1)}
			for v := 0; v < res.Versions; v++ {
				doc := fmt.Sprintf(`{"id":%d,"name":"Flow %d","description":"Some text of the flow, version %d","status":"open",`+
					`"priority":3,"owner_id":7,"project_id":11,"tags":["a","b"],"due_date":null,"archived":false,`+
					`"created_at":"2026-01-01T12:00:00.000000Z","settings":{"color":"blue","notify":true}}`, i, i, v)
				e := versioncache.Entry{Version: base.Add(time.Duration(v) * time.Microsecond).Format(versionLayout),
					UpdatedByID: "7", UpdatedByName: "Bob"}
				if fieldVersions >= 0 {
					e.Fields, _ = printer.Record(gjson.Parse(doc), nil)
				}
				s.Advance(k, e)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
		runtime.KeepAlive(s)
		s.Close()
		return per, nil
	}
	var err error
	if res.PlainBytes, err = fill(-1); err != nil {
		return res, err
	}
	if res.FieldsBytes, err = fill(0); err != nil {
		return res, err
	}
	return res, nil
}
