package proxy

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// A vector made by Debian's Laravel 8.83 (php 8.2):
//
//	<?php
//	require 'Illuminate/autoload.php';
//	use Illuminate\Encryption\Encrypter;
//	use Illuminate\Cookie\CookieValuePrefix;
//	$appKey = 'base64:' . base64_encode(str_repeat("k", 16) . "0123456789abcdef");
//	$e = new Encrypter(base64_decode(substr($appKey, 7)), 'AES-256-CBC');
//	$sid = 'Xb3kV9qLr2MZpT7wYc1NfA8sGh4JdE6uKo0RiQ5n';
//	echo $e->encrypt(CookieValuePrefix::create('laravel_session', $e->getKey()) . $sid, false);
//	// run twice for laravelCookie2 (a fresh IV); with 'XSRF-TOKEN' for laravelCookieOtherName.
//
// (php -d include_path=/usr/share/php vec.php)
const (
	laravelAppKey          = "base64:a2tra2tra2tra2tra2trazAxMjM0NTY3ODlhYmNkZWY="
	laravelSessionID       = "Xb3kV9qLr2MZpT7wYc1NfA8sGh4JdE6uKo0RiQ5n"
	laravelCookie          = "eyJpdiI6InRuVExxM0JVemo5cjlOZm1oMWdhZFE9PSIsInZhbHVlIjoiS3oxYVFrZzNjaEdjK0hDTDIwTmVUeDNtTjBocmVrcldFTms0c0ppaG5kWTg0WFB4TklSM3ZXQVNJV0xyc2t1cEdhNjQwOFJsQjFFdDFrVFk5N1NxTmIyNldOcTFzNUFnWXpCdDZ4RUszOTNyQXBkTzNOYXZna2FBbzJWWEJpaTAiLCJtYWMiOiI5MjcxOThjNWViM2VmNjNkYmE5ZTU3ZmFlMjA4MTJlY2Q3NzA1MWYzMmM0Yzc2NzM0ZjA2ZTQ0MDljMzVjZjJiIiwidGFnIjoiIn0="
	laravelCookie2         = "eyJpdiI6IlZhakNiT25QY3JXNlBaR0s2T1FRVHc9PSIsInZhbHVlIjoiTm9jbFE3bDZmRmtQOUllNElUYUFhZGxWWGUzanRyLzIxeXh4b05hRi9TcEdUMlBsQnJLK0F1WGtOWE9vYTlNSEUyVC9xMG82QVJRcXNESTN2WW5XQzlBRGVXNG9HTUJmeDFXOExMajZ5eGJIOU9OdXRSSzh2Mm83eUhEbll0bHIiLCJtYWMiOiJkMjVkMWYzNzViMjA0Y2M0ZWZiOGNhNTlhN2UxZjY4MDEwNWUyM2U3YjZiYzg3MjVmN2IzZWI3NWVhZWEzODRlIiwidGFnIjoiIn0="
	laravelCookieOtherName = "eyJpdiI6IjV6d2lXQTNvU3hHSE5pMUVGSjY0d3c9PSIsInZhbHVlIjoiMmg2QXgwbVRIcjNvck9lRzlGZ1RxS1ZUbFhiZ3NaS2E5Zm1qVXVNUzRBRVF2NzB1T1RZbzFSYThWK3hzbCtSVWJzWkFWWGQvQVhIZndTdEhaQjBXcmVTTnZ1eG5tSnNVODVtQU5KZGJzNlI0WU1xUWg0U3lMQ2xaSmI1dTc4NloiLCJtYWMiOiI3ZjNiYjM5MWRhZTgwN2Y4ZTg0MDRlOWY5MzVlODU4NDQ2NTQ3ZDZlMjk2MzE4ZDYzZTQ4OTZlYjBiODIxNzcwIiwidGFnIjoiIn0="
)

func TestDecodeLaravelCookie(t *testing.T) {
	key, err := ParseLaravelAppKey(laravelAppKey)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := ParseLaravelAppKey("base64:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 32))))
	raw, _ := base64.StdEncoding.DecodeString(laravelCookie)
	tamperedMAC := base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"mac":"9`, `"mac":"8`, 1)))
	withTag := base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"tag":""`, `"tag":"AAAA"`, 1)))
	tests := []struct {
		name   string
		key    []byte
		cookie string
		value  string
		wantID string // "" = refused
	}{
		{"vector", key, "laravel_session", laravelCookie, laravelSessionID},
		{"fresh iv same id", key, "laravel_session", laravelCookie2, laravelSessionID},
		{"other cookie's prefix", key, "laravel_session", laravelCookieOtherName, ""},
		{"wrong name", key, "XSRF-TOKEN", laravelCookie, ""},
		{"wrong key", otherKey, "laravel_session", laravelCookie, ""},
		{"tampered mac", key, "laravel_session", tamperedMAC, ""},
		{"aead tag", key, "laravel_session", withTag, ""},
		{"truncated", key, "laravel_session", laravelCookie[:100], ""},
		{"not base64", key, "laravel_session", "%%%", ""},
		{"not json", key, "laravel_session", base64.StdEncoding.EncodeToString([]byte("nope")), ""},
		{"empty", key, "laravel_session", "", ""},
		{"bad key size", []byte("short"), "laravel_session", laravelCookie, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := DecodeLaravelCookie(tt.key, tt.cookie, tt.value)
			if tt.wantID == "" {
				if err == nil {
					t.Fatalf("accepted: %q", id)
				}
				return
			}
			if err != nil || id != tt.wantID {
				t.Fatalf("got %q, %v; want %q", id, err, tt.wantID)
			}
		})
	}
}

// With the app key, the credential is the session id: two different
// cookie values of one session are one credential; a forged cookie is none.
func TestCredentialID(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.LaravelAppKey = laravelAppKey })
	raw, _ := newTestHandler(t, nil)
	req := func(hdr ...string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		return r
	}
	cookie := func(v string) *http.Request { return req("Cookie", "laravel_session="+v) }
	c1 := h.credentialID(cookie(url.QueryEscape(laravelCookie)), RequestInfo{})
	c2 := h.credentialID(cookie(laravelCookie2), RequestInfo{})
	if c1 == "" || c1 != c2 {
		t.Fatalf("one session, two credentials: %q %q", c1, c2)
	}
	if len(c1) != 64 || strings.Contains(c1, laravelSessionID) {
		t.Fatalf("credential is not a hash: %q", c1)
	}
	if got := h.credentialID(cookie(laravelCookieOtherName), RequestInfo{}); got != "" {
		t.Fatal("forged cookie is a credential")
	}
	if got := h.credentialID(req(), RequestInfo{}); got != "" {
		t.Fatal("no credential gave one")
	}
	// The configured placeholder, when it is the session cookie, is decrypted too.
	if got := h.credentialID(cookie(laravelCookie2), RequestInfo{Credential: laravelCookie2}); got != c1 {
		t.Fatal("placeholder session cookie not decrypted")
	}
	// Precedence: placeholder, then Authorization, then cookie.
	a := h.credentialID(req("Authorization", "Bearer x", "Cookie", "laravel_session="+laravelCookie), RequestInfo{})
	if a == "" || a == c1 || a != h.credentialID(req("Authorization", "Bearer x"), RequestInfo{}) {
		t.Fatal("Authorization does not win over the cookie")
	}
	p := h.credentialID(req("Authorization", "Bearer x"), RequestInfo{Credential: "Bearer x"})
	if p == "" || p == a {
		t.Fatal("placeholder and header values share a credential space")
	}
	// Without a key the raw cookie is the credential: it changes per response.
	r1 := raw.credentialID(cookie(laravelCookie), RequestInfo{})
	r2 := raw.credentialID(cookie(laravelCookie2), RequestInfo{})
	if r1 == "" || r1 == r2 {
		t.Fatal("raw cookies should be distinct credentials")
	}
}

// End to end through the handler: a session authorised by one cookie value
// is recognised with the next value Laravel sends.
func TestSessionCookieAuthorisesPolls(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.LaravelAppKey = laravelAppKey })
	app := newFakeApp()
	app.seed("flow", "1", 10)
	do(t, h, app, RequestInfo{}, "GET", "/api/v1/flows/1", "", "", "Cookie", "laravel_session="+url.QueryEscape(laravelCookie))
	rr := do(t, h, app, RequestInfo{}, "GET", pollPath, "", "", "Cookie", "laravel_session="+url.QueryEscape(laravelCookie2))
	if rr.Header().Get(HeaderCache) != "hit" {
		t.Fatal("re-encrypted session cookie not recognised")
	}
	rr = do(t, h, app, RequestInfo{}, "GET", pollPath, "", "", "Cookie", "laravel_session=forged")
	if rr.Header().Get(HeaderCache) != "miss" {
		t.Fatal("forged cookie answered from cache")
	}
}

func FuzzLaravelCookie(f *testing.F) {
	key, _ := ParseLaravelAppKey(laravelAppKey)
	f.Add(laravelCookie)
	f.Add(laravelCookie2)
	f.Add(laravelCookieOtherName)
	f.Add("eyJpdiI6IiIsInZhbHVlIjoiIiwibWFjIjoiIiwidGFnIjoiIn0=")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		id, err := DecodeLaravelCookie(key, "laravel_session", v)
		if err == nil && (id == "" || !validSessionID([]byte(id))) {
			t.Fatalf("accepted bad id %q", id)
		}
		if err == nil && v != laravelCookie && v != laravelCookie2 {
			// Forging a valid MAC by chance would be news.
			t.Logf("accepted %q → %q", v, id)
		}
	})
}
