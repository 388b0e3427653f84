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

// ErrBadCookie is returned by OpenCookie and DecodeCookie for a cookie that
// is not a valid Laravel encrypted cookie under the given keys and name:
// malformed, over MaxCookieBytes, wrong MAC or GCM tag, or wrong prefix.
var ErrBadCookie = errors.New("laravel: not a valid Laravel cookie")

// MaxCookieBytes bounds the work spent on one cookie: a browser keeps at
// most 4096 bytes per cookie (RFC 6265 §6.1), and a session cookie is
// about 300.
const MaxCookieBytes = 4096

// encryptedPrefix starts every value Laravel's Encrypter makes: the base64
// of `{"iv":`, the first member of the JSON it encodes
// (Illuminate/Encryption/Encrypter.php, encrypt: compact('iv', 'value',
// 'mac', 'tag') up to 12.x, the same keys in that order in 13.x).
const encryptedPrefix = "eyJpdiI6"

// LooksEncrypted reports whether a (percent-decoded) cookie value has the
// shape of a value Laravel's Encrypter made, before any cryptography: such
// a cookie is worth trying as the session, and one that then does not
// verify is worth a word in the log.
func LooksEncrypted(value string) bool { return strings.HasPrefix(value, encryptedPrefix) }

// OpenCookie decrypts the value of the cookie named name as Laravel's
// EncryptCookies middleware does, under keys (the current APP_KEY first,
// then the previous keys; all of one length), and returns the plaintext
// after its CookieValuePrefix. name is the name PHP files the cookie under
// (PHPCookies); value must already be percent-decoded.
//
// Sources: Illuminate/Encryption/Encrypter.php (decrypt, validPayload,
// ensureTagIsValid) and Illuminate/Cookie/CookieValuePrefix.php of Laravel
// 11.x, 12.x and 13.x; Laravel 8.83 (Debian's) makes the same values.
//
//	value = base64(json{"iv","value","mac","tag"}), iv and value base64
//	AES-128-CBC, AES-256-CBC (tag empty; the key's length picks 128 or 256):
//	  mac   = hex(hmac_sha256(key, iv_b64 . value_b64)), compared exactly
//	  plain = aes_cbc_decrypt(key, iv (16 bytes), value) with PKCS#7 padding
//	AES-128-GCM, AES-256-GCM (mac empty):
//	  plain = aes_gcm_open(key, nonce = iv (12 bytes), value, tag (16 bytes), no AAD)
//	plain = hex(hmac_sha1(name . "v2", key)) . "|" . cookie value
//
// The keys are tried in order, as Encrypter::decrypt tries getAllKeys():
// CBC decrypts with the first key whose MAC is valid (13.x; 11.x and 12.x
// differ only for a value that fails to decrypt under its own MAC's key,
// which no encrypter makes), GCM with the first key whose tag verifies. The
// prefix may be any key's (CookieValuePrefix::validate with getAllKeys,
// 11.x and later; 8.x has one key).
//
// Which of CBC and GCM is read from the payload (a tag or none), since the
// app's config('app.cipher') is not known here: a Laravel app reads only
// its own cipher's payloads, and both kinds need the key to be made.
func OpenCookie(keys [][]byte, name, value string) (string, error) {
	if len(value) == 0 || len(value) > MaxCookieBytes || len(keys) == 0 {
		return "", ErrBadCookie
	}
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return "", ErrBadCookie
	}
	// validPayload: iv, value and mac set and strings, tag a string when set.
	var p struct {
		IV    *string `json:"iv"`
		Value *string `json:"value"`
		MAC   *string `json:"mac"`
		Tag   *string `json:"tag"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || p.IV == nil || p.Value == nil || p.MAC == nil {
		return "", ErrBadCookie
	}
	iv, err := base64.StdEncoding.DecodeString(*p.IV)
	if err != nil {
		return "", ErrBadCookie
	}
	ct, err := base64.StdEncoding.DecodeString(*p.Value)
	if err != nil || len(ct) == 0 {
		return "", ErrBadCookie
	}
	var plain []byte
	// decrypt: $tag = empty($payload['tag']) ? null : base64_decode(...);
	// PHP's empty() is true for "" and "0".
	if p.Tag == nil || *p.Tag == "" || *p.Tag == "0" {
		plain = openCBC(keys, iv, ct, *p.IV, *p.Value, *p.MAC)
	} else {
		plain = openGCM(keys, iv, ct, *p.Tag)
	}
	if plain == nil {
		return "", ErrBadCookie
	}
	return stripPrefix(keys, name, plain)
}

// openCBC checks the MAC under each key in turn and decrypts with the
// first that matches; nil when none does or the padding is wrong.
func openCBC(keys [][]byte, iv, ct []byte, ivB64, valueB64, mac string) []byte {
	if len(iv) != aes.BlockSize || len(ct)%aes.BlockSize != 0 {
		return nil
	}
	var key []byte
	var sum [sha256.Size]byte
	var want [2 * sha256.Size]byte
	for _, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(ivB64))
		m.Write([]byte(valueB64))
		hex.Encode(want[:], m.Sum(sum[:0]))
		// hash_equals: the same string, lower-case hex as hash_hmac makes it.
		if subtle.ConstantTimeCompare(want[:], []byte(mac)) == 1 {
			key = k
			break
		}
	}
	if key == nil {
		return nil
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil
		}
	}
	return plain[:len(plain)-pad]
}

// gcmNonceSize and gcmTagSize are what Laravel's AES-*-GCM uses:
// openssl_cipher_iv_length('aes-256-gcm') is 12, and ensureTagIsValid
// wants a 16-byte tag (openssl_encrypt's default length).
const (
	gcmNonceSize = 12
	gcmTagSize   = 16
)

// openGCM opens value and tag under each key in turn; nil when none opens.
func openGCM(keys [][]byte, iv, ct []byte, tagB64 string) []byte {
	tag, err := base64.StdEncoding.DecodeString(tagB64)
	if err != nil || len(tag) != gcmTagSize || len(iv) != gcmNonceSize {
		return nil
	}
	sealed := make([]byte, 0, len(ct)+len(tag))
	sealed = append(append(sealed, ct...), tag...)
	for _, k := range keys {
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil
		}
		if plain, err := aead.Open(nil, iv, sealed, nil); err == nil {
			return plain
		}
	}
	return nil
}

// prefixLen is CookieValuePrefix's length: 40 hex digits and '|'
// (CookieValuePrefix::remove is substr($value, 41)).
const prefixLen = 2*sha1.Size + 1

// stripPrefix checks that plain starts with the CookieValuePrefix of name
// under one of keys and returns what follows it.
func stripPrefix(keys [][]byte, name string, plain []byte) (string, error) {
	if len(plain) < prefixLen {
		return "", ErrBadCookie
	}
	var sum [sha1.Size]byte
	var want [prefixLen]byte
	want[prefixLen-1] = '|'
	for _, k := range keys {
		m := hmac.New(sha1.New, k)
		m.Write([]byte(name))
		m.Write([]byte("v2"))
		hex.Encode(want[:prefixLen-1], m.Sum(sum[:0]))
		if subtle.ConstantTimeCompare(want[:], plain[:prefixLen]) == 1 {
			return string(plain[prefixLen:]), nil
		}
	}
	return "", ErrBadCookie
}

// DecodeCookie is OpenCookie for a session cookie: it returns the session
// id the cookie holds, or ErrBadCookie when the cookie does not verify or
// what it holds is not a session id (IsSessionID).
func DecodeCookie(keys [][]byte, name, value string) (string, error) {
	id, err := OpenCookie(keys, name, value)
	if err != nil {
		return "", err
	}
	if !IsSessionID(id) {
		return "", ErrBadCookie
	}
	return id, nil
}

// SessionIDLength is the length of a Laravel session id
// (Illuminate/Session/Store.php: generateSessionId is Str::random(40)).
const SessionIDLength = 40

// IsSessionID is Laravel's Session\Store::isValidId: 40 ASCII letters and
// digits (ctype_alnum). Laravel starts a fresh session for any other id,
// so a cookie holding anything else is no session. The CSRF token
// (Store::regenerateToken, Str::random(40)) has the same shape: the
// XSRF-TOKEN cookie is told apart by its name only.
func IsSessionID(s string) bool {
	if len(s) != SessionIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// ParseAppKey decodes Laravel's APP_KEY as EncryptionServiceProvider::parseKey
// does: "base64:" and the base64 of the key, or the raw key. A key of 16
// bytes (AES-128-CBC, AES-128-GCM) or 32 (AES-256-CBC, AES-256-GCM) is
// accepted, as Encrypter::supported requires.
func ParseAppKey(s string) ([]byte, error) {
	key := []byte(s)
	if rest, ok := strings.CutPrefix(s, "base64:"); ok {
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, errors.New("the base64: key does not decode")
		}
		key = b
	}
	if len(key) != 16 && len(key) != 32 {
		return nil, fmt.Errorf("a key must be 16 or 32 bytes, got %d", len(key))
	}
	return key, nil
}

// ParsePreviousKeys decodes Laravel's APP_PREVIOUS_KEYS (Laravel 11 and
// later), in order: config/app.php's previous_keys is
// array_filter(explode(',', env('APP_PREVIOUS_KEYS'))) — split at each
// comma, nothing trimmed, empty entries (and PHP's falsy "0") dropped —,
// each parsed as APP_KEY is (ParseAppKey), and Encrypter::previousKeys
// wants each the current key's length, size. A space after a comma is part
// of the next key, which then has the wrong length: Laravel itself would
// not start.
func ParsePreviousKeys(s string, size int) ([][]byte, error) {
	var keys [][]byte
	for i, part := range strings.Split(s, ",") {
		if part == "" || part == "0" {
			continue
		}
		k, err := ParseAppKey(part)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		if len(k) != size {
			return nil, fmt.Errorf("key %d is %d bytes, the APP_KEY %d: Laravel's encrypter takes keys of one cipher", i+1, len(k), size)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
