package laravel

import (
	"encoding/base64"
	"encoding/json"
	"os"
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
// They are kept in laravel/testdata/cookies.json (laravel_session, and
// XSRF-TOKEN for the other name), shared with package proxy's tests.
var (
	laravelAppKey, laravelSessionID                       string
	laravelCookie, laravelCookie2, laravelCookieOtherName string
)

func init() {
	b, err := os.ReadFile("testdata/cookies.json")
	if err != nil {
		panic(err)
	}
	var v struct {
		AppKey          string `json:"app_key"`
		SessionID       string `json:"session_id"`
		Cookie          string `json:"cookie"`
		Cookie2         string `json:"cookie2"`
		CookieOtherName string `json:"cookie_other_name"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		panic(err)
	}
	laravelAppKey, laravelSessionID = v.AppKey, v.SessionID
	laravelCookie, laravelCookie2, laravelCookieOtherName = v.Cookie, v.Cookie2, v.CookieOtherName
}

func TestDecodeCookie(t *testing.T) {
	k, err := ParseAppKey(laravelAppKey)
	if err != nil {
		t.Fatal(err)
	}
	key := [][]byte{k}
	otherKey := [][]byte{[]byte(strings.Repeat("x", 32))}
	raw, _ := base64.StdEncoding.DecodeString(laravelCookie)
	tamperedMAC := base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"mac":"9`, `"mac":"8`, 1)))
	withTag := base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"tag":""`, `"tag":"AAAA"`, 1)))
	tests := []struct {
		name   string
		key    [][]byte
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
		{"a tag on a CBC value", key, "laravel_session", withTag, ""},
		{"previous key after a wrong one", [][]byte{otherKey[0], k}, "laravel_session", laravelCookie, laravelSessionID},
		{"truncated", key, "laravel_session", laravelCookie[:100], ""},
		{"not base64", key, "laravel_session", "%%%", ""},
		{"not json", key, "laravel_session", base64.StdEncoding.EncodeToString([]byte("nope")), ""},
		{"empty", key, "laravel_session", "", ""},
		{"no key", nil, "laravel_session", laravelCookie, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := DecodeCookie(tt.key, tt.cookie, tt.value)
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
func FuzzLaravelCookie(f *testing.F) {
	k, _ := ParseAppKey(laravelAppKey)
	key := [][]byte{k}
	f.Add(laravelCookie)
	f.Add(laravelCookie2)
	f.Add(laravelCookieOtherName)
	f.Add("eyJpdiI6IiIsInZhbHVlIjoiIiwibWFjIjoiIiwidGFnIjoiIn0=")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		id, err := DecodeCookie(key, "laravel_session", v)
		if err == nil && !IsSessionID(id) {
			t.Fatalf("accepted bad id %q", id)
		}
		if err == nil && v != laravelCookie && v != laravelCookie2 {
			// Forging a valid MAC by chance would be news.
			t.Logf("accepted %q → %q", v, id)
		}
	})
}
