package pusher

import (
	"strings"
	"testing"
)

func TestUserAuthRoundTrip(t *testing.T) {
	const key, secret, socket = "278d425bdf160c739803", "7ad3773142a6692b25b8", "1234.1234"
	data := `{"id":"12345","user_info":{"name":"Ann"}}`
	auth := UserAuth(key, secret, socket, data)
	if !strings.HasPrefix(auth, key+":") || len(auth) != len(key)+1+64 {
		t.Fatalf("auth %q", auth)
	}
	if err := VerifyUserAuth(key, secret, socket, data, auth); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ socket, data, auth string }{
		{"1234.1235", data, auth},
		{socket, data + " ", auth},
		{socket, data, "other:" + auth[len(key)+1:]},
		{socket, data, strings.TrimPrefix(auth, key+":")},
		{socket, data, ""},
		// A channel signature over the same strings is not a user signature.
		{socket, data, ChannelAuth(key, secret, socket, "user", data)},
	} {
		if VerifyUserAuth(key, secret, bad.socket, bad.data, bad.auth) == nil {
			t.Errorf("verified %+v", bad)
		}
	}
}

func TestParseUserData(t *testing.T) {
	for in, want := range map[string]string{
		`{"id":"7"}`:          "7",
		`{"id":7,"name":"x"}`: "7",
		`{"id":-1.5e3}`:       "-1.5e3",
		`{"id":""}`:           "",
		`{"id":null}`:         "",
		`{"name":"x"}`:        "",
		`{"id":"7","id":"8"}`: "",
		`[{"id":"7"}]`:        "",
		`{"id":true}`:         "",
		`{"id":"` + strings.Repeat("x", 129) + `"}`: "",
	} {
		got, err := ParseUserData(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
}

func TestParseUserAuthAnswer(t *testing.T) {
	a, ok := ParseUserAuthAnswer([]byte(" {\"id\": 7,\n \"name\": \"A\\u00e9\"} "))
	if !ok || a.Signed || a.UserData != `{"id":7,"name":"A\u00e9"}` {
		t.Fatalf("%+v %v", a, ok)
	}
	a, ok = ParseUserAuthAnswer([]byte(`{"auth":"k:s","user_data":"{\"id\":\"7\"}"}`))
	if !ok || !a.Signed || a.Auth != "k:s" || a.UserData != `{"id":"7"}` {
		t.Fatalf("%+v %v", a, ok)
	}
	a, ok = ParseUserAuthAnswer([]byte(`{"auth":"k:s","user_data":{"id":"7"}}`))
	if !ok || !a.Signed || a.Auth != "" {
		t.Fatalf("user_data not a string: %+v %v", a, ok)
	}
	for _, bad := range []string{``, `true`, `{"name":"x"}`, `{"id":"7"`, `{"id":"1","id":"2"}`} {
		if _, ok := ParseUserAuthAnswer([]byte(bad)); ok {
			t.Errorf("%s accepted", bad)
		}
	}
}

func FuzzParseUserAuthAnswer(f *testing.F) {
	f.Add(`{"id":"7","name":"x"}`)
	f.Add(`{"auth":"k:s","user_data":"{\"id\":\"7\"}"}`)
	f.Add(`{"id":1e400}`)
	f.Fuzz(func(t *testing.T, body string) {
		a, ok := ParseUserAuthAnswer([]byte(body))
		if !ok || a.Signed {
			return
		}
		// What is signed is a user_data the hub accepts, and reads back the same.
		if _, err := ParseUserData(a.UserData); err != nil {
			t.Fatalf("signed user_data %q refused: %v", a.UserData, err)
		}
		b, ok := ParseUserAuthAnswer([]byte(a.UserData))
		if !ok || b.UserData != a.UserData {
			t.Fatalf("compacting twice changed %q to %q", a.UserData, b.UserData)
		}
	})
}
