package pusher

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The HTTP API signature vector of the Pusher docs (REST API, "Authentication").
const (
	vecBody = `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`
	vecTS   = 1353088179
	vecMD5  = "ec365a775a4cd0599faeb73354201b6f"
	vecSig  = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
)

func TestHTTPAPISignatureVector(t *testing.T) {
	t.Parallel()
	if got := BodyMD5([]byte(vecBody)); got != vecMD5 {
		t.Fatalf("body_md5 %s, want %s", got, vecMD5)
	}
	q := fmt.Sprintf("auth_key=%s&auth_timestamp=%d&auth_version=1.0&body_md5=%s", vecKey, vecTS, vecMD5)
	params, err := ParseAPIQuery(q + "&auth_signature=" + vecSig)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := APIStringToSign("POST", "/apps/3/events", params), "POST\n/apps/3/events\n"+q; got != want {
		t.Fatalf("string to sign %q, want %q", got, want)
	}
	if got := hex.EncodeToString(APISignature(vecSecret, APIStringToSign("POST", "/apps/3/events", params))); got != vecSig {
		t.Fatalf("signature %s, want %s", got, vecSig)
	}
	// SignAPIRequest makes the same query and signature.
	if got, want := SignAPIRequest("POST", "/apps/3/events", nil, []byte(vecBody), vecKey, vecSecret, time.Unix(vecTS, 0)), q+"&auth_signature="+vecSig; got != want {
		t.Fatalf("SignAPIRequest %s, want %s", got, want)
	}
}

// SignAPIRequest's query parses back (ParseAPIQuery) into what it signed:
// escaped on the wire, signed unescaped, keys lowercased, its auth_*
// parameters winning.
func TestSignAPIRequestRoundTrip(t *testing.T) {
	t.Parallel()
	params := map[string]string{"Filter_By_Prefix": "presence-a b&c=d", "info": "user_count", "auth_key": "ignored"}
	q := SignAPIRequest("GET", "/apps/3/channels", params, nil, vecKey, vecSecret, time.Unix(vecTS, 0))
	if strings.Contains(q, " ") || strings.Contains(q, "body_md5") {
		t.Fatalf("query %q", q)
	}
	got, err := ParseAPIQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"filter_by_prefix": "presence-a b&c=d", "info": "user_count", "auth_key": vecKey,
		"auth_timestamp": fmt.Sprint(vecTS), "auth_version": "1.0", "auth_signature": got["auth_signature"]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parsed %v, want %v", got, want)
	}
	sig, _ := hex.DecodeString(got["auth_signature"])
	if !reflect.DeepEqual(sig, APISignature(vecSecret, APIStringToSign("GET", "/apps/3/channels", got))) {
		t.Fatal("the signature does not verify")
	}
}

func TestParseAPIQuery(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, in string
		want     map[string]string
		dup      string
		err      error
	}{
		{"empty", "", map[string]string{}, "", nil},
		{"pairs", "a=1&b=2", map[string]string{"a": "1", "b": "2"}, "", nil},
		{"keys lowercased", "Auth_Key=K", map[string]string{"auth_key": "K"}, "", nil},
		{"unescaped", "a=x%20y+z&b%5B%5D=%26", map[string]string{"a": "x y z", "b[]": "&"}, "", nil},
		{"empty pairs skipped", "&a=1&&", map[string]string{"a": "1"}, "", nil},
		{"no value", "a&b=", map[string]string{"a": "", "b": ""}, "", nil},
		{"semicolon is not a separator", "a=1;b=2", map[string]string{"a": "1;b=2"}, "", nil},
		{"bad escape", "a=%zz", nil, "", ErrAPIQuery},
		{"bad escape in a key", "%=1", nil, "", ErrAPIQuery},
		{"twice", "a=1&a=2", nil, "a", nil},
		{"twice, case apart", "info=1&INFO=2", nil, "info", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAPIQuery(tt.in)
			var dup *DuplicateParamError
			switch {
			case tt.dup != "":
				if !errors.As(err, &dup) || dup.Key != tt.dup {
					t.Fatalf("err %v, want the key %q twice", err, tt.dup)
				}
			case err != tt.err:
				t.Fatalf("err %v, want %v", err, tt.err)
			case err == nil && !reflect.DeepEqual(got, tt.want):
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzParseAPIQuery: no panics; every key is lowercase and once; a query
// re-encoded from the result parses back to it.
func FuzzParseAPIQuery(f *testing.F) {
	for _, s := range []string{"auth_key=k&auth_timestamp=1&auth_version=1.0&auth_signature=ab", "a=%zz", "A=1&a=2", "&&=", "x=%E2%80%A8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := ParseAPIQuery(raw)
		if err != nil {
			return
		}
		v := url.Values{}
		for k, val := range p {
			if k != strings.ToLower(k) {
				t.Fatalf("key %q not lowercased", k)
			}
			v.Set(k, val)
		}
		back, err := ParseAPIQuery(v.Encode())
		if err != nil || !reflect.DeepEqual(back, p) {
			t.Fatalf("%q → %v → %q → %v, %v", raw, p, v.Encode(), back, err)
		}
		_ = APIStringToSign("POST", "/apps/1/events", p)
	})
}
