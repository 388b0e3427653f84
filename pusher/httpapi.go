package pusher

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// APIAuthVersion is the auth_version of a signed HTTP API request.
const APIAuthVersion = "1.0"

// ErrAPIQuery is a query string whose keys or values do not unescape.
var ErrAPIQuery = errors.New("malformed query string")

// DuplicateParamError is a query string with a key twice (keys compared
// lowercased): which value was signed would be a guess.
type DuplicateParamError struct {
	// Key is the repeated key, lowercased.
	Key string
}

func (e *DuplicateParamError) Error() string {
	return fmt.Sprintf("query parameter %q given twice", e.Key)
}

// ParseAPIQuery splits the query string of an HTTP API request into its
// parameters as they are signed (the Pusher docs, rest-api.md
// "Authentication"): keys and values unescaped, keys lowercased, each key
// once; '&' is the only separator. The error is ErrAPIQuery
// or a *DuplicateParamError.
func ParseAPIQuery(rawQuery string) (map[string]string, error) {
	params := make(map[string]string)
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, ErrAPIQuery
		}
		key = strings.ToLower(key)
		if _, dup := params[key]; dup {
			return nil, &DuplicateParamError{Key: key}
		}
		params[key] = val
	}
	return params, nil
}

// BodyMD5 is the body_md5 parameter of a request with body: the lowercase
// hex MD5 of the raw body.
func BodyMD5(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

// APIStringToSign is what an HTTP API request's auth_signature signs:
// METHOD + "\n" + PATH + "\n" + QUERY, where QUERY is every parameter of
// params but auth_signature as key=value, sorted by key, joined with '&',
// nothing escaped (the Pusher docs, rest-api.md "Authentication").
// params' keys must be lowercased already (ParseAPIQuery's are).
func APIStringToSign(method, path string, params map[string]string) string {
	return method + "\n" + path + "\n" + apiQuery(params, nil)
}

// APISignature is the HMAC-SHA256 under secret of stringToSign
// (APIStringToSign); auth_signature is its lowercase hex. Compare it in
// constant time (hmac.Equal).
func APISignature(secret, stringToSign string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stringToSign))
	return mac.Sum(nil)
}

// SignAPIRequest signs an HTTP API request as pusher-http-php and the npm
// SDK do: it returns the whole query string to send with method to path,
// without the leading '?': params (keys lowercased), auth_key=key,
// auth_timestamp=now's Unix seconds, auth_version=APIAuthVersion,
// body_md5=BodyMD5(body) when body is not empty, all sorted by key and
// escaped, then auth_signature = hex(APISignature(secret,
// APIStringToSign(method, path, those parameters))). The auth_* parameters
// and body_md5 it sets win over the same keys in params. path is the path
// signed: the request's path or, for pusher-http-php's path option, that
// path without its prefix.
func SignAPIRequest(method, path string, params map[string]string, body []byte, key, secret string, now time.Time) string {
	p := make(map[string]string, len(params)+4)
	for k, v := range params {
		p[strings.ToLower(k)] = v
	}
	p["auth_key"] = key
	p["auth_timestamp"] = strconv.FormatInt(now.Unix(), 10)
	p["auth_version"] = APIAuthVersion
	if len(body) > 0 {
		p["body_md5"] = BodyMD5(body)
	}
	sig := APISignature(secret, APIStringToSign(method, path, p))
	return apiQuery(p, url.QueryEscape) + "&auth_signature=" + hex.EncodeToString(sig)
}

// apiQuery is every parameter of params but auth_signature as key=value,
// sorted by key, joined with '&', keys and values passed through escape
// (nil: nothing escaped, the QUERY of the string to sign).
func apiQuery(params map[string]string, escape func(string) string) string {
	if escape == nil {
		escape = func(s string) string { return s }
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "auth_signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var q strings.Builder
	for i, k := range keys {
		if i > 0 {
			q.WriteByte('&')
		}
		q.WriteString(escape(k))
		q.WriteByte('=')
		q.WriteString(escape(params[k]))
	}
	return q.String()
}
