package main

// Micro-benchmarks: (cd bench && go test -run '^$' -bench .)
// (no Test functions here: `go test ./...` stays fast; the full report only
// runs with `make bench`).

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/realtime"
	"github.com/recordsync/recordsync/versioncache"
)

// BenchmarkHubPublish1k: one Publish to a channel with 1,000 websocket
// subscribers (in-process, over loopback), waited for until every
// subscriber has read it. Every publish is a new version of the record
// (the hub drops a version it already delivered on the channel). ns/op is the full fan-out time of one event.
func BenchmarkHubPublish1k(b *testing.B) { benchPublish(b, 1000) }

func benchPublish(b *testing.B, n int) {
	hub, err := realtime.NewHub(realtime.Options{AppKey: benchAppKey, AppSecret: benchAppSecret, ActivityTimeout: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.ServeWebSocket(w, r, "")
	}))
	defer srv.Close()
	url := "ws" + srv.URL[len("http"):] + "/ws/app/" + benchAppKey

	var got atomic.Int64
	done := make(chan struct{}, 1)
	conns := make([]*websocket.Conn, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem }()
			ws, err := dialSubscribe(url, "private-record.flow.1", benchAppKey, benchAppSecret)
			if err != nil {
				errs <- fmt.Errorf("subscriber %d: %v", i, err)
				return
			}
			conns[i] = ws
			errs <- nil
			go func() {
				for {
					_, msg, err := ws.Read(context.Background())
					if err != nil {
						return
					}
					if !bytes.Contains(msg, []byte("record.updated")) {
						continue
					}
					if got.Add(1)%int64(n) == 0 {
						done <- struct{}{}
					}
				}
			}()
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.CloseNow()
			}
		}
	}()
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		data := []byte(`{"tenant_id":null,"record_type":"flow","record_id":1,"updated_at_iso":"` +
			base.Add(time.Duration(i+1)*time.Microsecond).Format(versionLayout) +
			`","updated_by_id":2,"updated_by_name":"Bob","tab_id":null}`)
		hub.Publish(realtime.Event{Channel: "private-record.flow.1", Name: "record.updated", Data: data})
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatalf("publish %d: only %d deliveries (hub: %d connections, %d subscriptions)", i, got.Load(), hub.Connections(), hub.Subscriptions())
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

func newStore(b *testing.B) *versioncache.Store {
	s, err := versioncache.New(versioncache.Options{MaxEntries: 100000, TTL: 10 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

var benchVersions = func() []string {
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	v := make([]string, 4096)
	for i := range v {
		v[i] = base.Add(time.Duration(i) * time.Microsecond).Format(versionLayout)
	}
	return v
}()

func keys(n int) []versioncache.Key {
	k := make([]versioncache.Key, n)
	for i := range k {
		k[i] = versioncache.Key{Type: "flow", ID: strconv.Itoa(i + 1)}
	}
	return k
}

// BenchmarkVersionCacheGet: hits on 1,000 known records, in parallel.
func BenchmarkVersionCacheGet(b *testing.B) {
	s := newStore(b)
	ks := keys(1000)
	for _, k := range ks {
		s.Advance(k, versioncache.Entry{Version: benchVersions[0], UpdatedByName: "Alice"})
	}
	var hits, total atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i, h, t := 0, int64(0), int64(0)
		for pb.Next() {
			if _, ok := s.Get(ks[i%len(ks)]); ok {
				h++
			}
			t++
			i++
		}
		hits.Add(h)
		total.Add(t)
	})
	b.ReportMetric(float64(hits.Load())/float64(max(total.Load(), 1)), "hit-ratio")
}

// BenchmarkVersionCacheAdvance: each op advances one of 1,000 records to a
// newer version (timestamp comparison, striped lock, ristretto update).
func BenchmarkVersionCacheAdvance(b *testing.B) {
	for _, par := range []bool{false, true} {
		b.Run(fmt.Sprintf("parallel=%v", par), func(b *testing.B) {
			s := newStore(b)
			ks := keys(1000)
			for _, k := range ks {
				s.Advance(k, versioncache.Entry{Version: benchVersions[0]})
			}
			var seq atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			body := func(next func() bool) {
				for next() {
					i := seq.Add(1)
					k := ks[i%int64(len(ks))]
					v := benchVersions[1+(i/int64(len(ks)))%int64(len(benchVersions)-1)]
					s.Advance(k, versioncache.Entry{Version: v})
				}
			}
			if par {
				b.RunParallel(func(pb *testing.PB) { body(pb.Next) })
			} else {
				n := 0
				body(func() bool { n++; return n <= b.N })
			}
		})
	}
}
