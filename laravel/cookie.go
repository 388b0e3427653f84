package laravel

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrBadCookie is returned by DecodeCookie for a cookie that is not a
// valid Laravel encrypted cookie under the given key and name: malformed,
// wrong MAC, wrong prefix, or an AEAD cipher this package does not read.
var ErrBadCookie = errors.New("laravel: not a valid Laravel cookie")

// maxCookieLen bounds the work spent on a cookie: a session cookie is ~300 bytes.
const maxCookieLen = 4096

// DecodeCookie decrypts the value of the cookie named name as
// Laravel's EncryptCookies middleware does (Illuminate/Encryption/Encrypter.php
// and Illuminate/Cookie/CookieValuePrefix.php, Laravel 8.83 and later):
//
//	value = base64(json{"iv","value","mac","tag"})
//	mac   = hex(hmac_sha256(key, iv_b64 . value_b64))   (checked in constant time)
//	plain = aes_cbc_decrypt(key, iv, value)             (PKCS#7)
//	plain = hex(hmac_sha1(name . "v2", key)) . "|" . session_id
//
// and returns what follows the prefix, which must be the one for name.
// value must already be percent-decoded. Only the CBC ciphers are read
// (an AEAD payload, with a tag, is refused).
func DecodeCookie(key []byte, name, value string) (string, error) {
	if len(value) == 0 || len(value) > maxCookieLen || (len(key) != 16 && len(key) != 32) {
		return "", ErrBadCookie
	}
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return "", ErrBadCookie
	}
	var p struct {
		IV    string `json:"iv"`
		Value string `json:"value"`
		MAC   string `json:"mac"`
		Tag   string `json:"tag"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || p.IV == "" || p.Value == "" || p.MAC == "" || p.Tag != "" {
		return "", ErrBadCookie
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(p.IV))
	mac.Write([]byte(p.Value))
	var sum [sha256.Size]byte
	want := hex.EncodeToString(mac.Sum(sum[:0]))
	if subtle.ConstantTimeCompare([]byte(want), []byte(p.MAC)) != 1 {
		return "", ErrBadCookie
	}
	iv, err := base64.StdEncoding.DecodeString(p.IV)
	if err != nil || len(iv) != aes.BlockSize {
		return "", ErrBadCookie
	}
	ct, err := base64.StdEncoding.DecodeString(p.Value)
	if err != nil || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return "", ErrBadCookie
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", ErrBadCookie
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(plain) {
		return "", ErrBadCookie
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return "", ErrBadCookie
		}
	}
	plain = plain[:len(plain)-pad]

	prefix := hmac.New(sha1.New, key)
	prefix.Write([]byte(name + "v2"))
	var psum [sha1.Size]byte
	wantPrefix := hex.EncodeToString(prefix.Sum(psum[:0])) + "|"
	if len(plain) <= len(wantPrefix) ||
		subtle.ConstantTimeCompare([]byte(wantPrefix), plain[:len(wantPrefix)]) != 1 {
		return "", ErrBadCookie
	}
	id := plain[len(wantPrefix):]
	if !validSessionID(id) {
		return "", ErrBadCookie
	}
	return string(id), nil
}

// validSessionID mirrors Laravel's Session\Store::isValidId loosely: an
// alphanumeric id of sensible length (Laravel makes 40 characters).
func validSessionID(id []byte) bool {
	if len(id) == 0 || len(id) > 255 {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// ParseAppKey decodes Laravel's APP_KEY: "base64:" and the base64 of the key,
// or the raw key. AES-128-CBC and AES-256-CBC keys (16 or 32 bytes) are
// accepted.
func ParseAppKey(s string) ([]byte, error) {
	key := []byte(s)
	if rest, ok := strings.CutPrefix(s, "base64:"); ok {
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, errors.New("the base64: APP_KEY does not decode")
		}
		key = b
	}
	if len(key) != 16 && len(key) != 32 {
		return nil, fmt.Errorf("APP_KEY must be 16 or 32 bytes, got %d", len(key))
	}
	return key, nil
}
