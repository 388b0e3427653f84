package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

func BenchmarkPassThrough(b *testing.B) {
	h, _ := newTestHandler(b, nil)
	r := httptest.NewRequest("GET", "/assets/app.js", nil)
	w := &discardWriter{h: http.Header{}}
	next := func(http.ResponseWriter, *http.Request) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = h.ServeHTTP(w, r, RequestInfo{}, next)
	}
}

func BenchmarkPollFromCache(b *testing.B) {
	h, _ := newTestHandler(b, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	do(b, h, app, RequestInfo{}, "GET", pollPath, tokenOK, "")
	r := httptest.NewRequest("GET", pollPath, nil)
	r.Header.Set("Authorization", tokenOK)
	b.ReportAllocs()
	for b.Loop() {
		w := &discardWriter{h: http.Header{}}
		_ = h.ServeHTTP(w, r, RequestInfo{}, app.next)
	}
}

func BenchmarkConflictFromCache(b *testing.B) {
	h, _ := newTestHandler(b, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	do(b, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", tokenOK, "")
	do(b, h, app, RequestInfo{}, "PUT", "/api/v1/flows/1", tokenOK, putBody("", "x"))
	body := putBody(version(10), "stale")
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("PUT", "/api/v1/flows/1", strings.NewReader(body))
		r.Header.Set("Authorization", tokenOK)
		r.Header.Set("Content-Type", "application/json")
		w := &discardWriter{h: http.Header{}}
		_ = h.ServeHTTP(w, r, RequestInfo{}, app.next)
	}
}

func BenchmarkInspectedGet(b *testing.B) {
	h, _ := newTestHandler(b, nil)
	app := newFakeApp()
	app.seed("flow", "1", 10)
	r := httptest.NewRequest("GET", "/api/v1/flows/1", nil)
	r.Header.Set("Authorization", tokenOK)
	b.ReportAllocs()
	for b.Loop() {
		w := &discardWriter{h: http.Header{}}
		_ = h.ServeHTTP(w, r, RequestInfo{}, app.next)
	}
}
