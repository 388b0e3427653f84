package pusher

import (
	"errors"
	"strings"
	"testing"
)

// The test vectors of the Pusher docs ("Authorizing users": auth signatures).
const (
	vecKey    = "278d425bdf160c739803"
	vecSecret = "7ad3773142a6692b25b8"
	vecSocket = "1234.1234"
)

func TestSignatureVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, channel, channelData, want string
	}{
		{"private", "private-foobar", "", "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		{"presence", "presence-foobar", `{"user_id":10,"user_info":{"name":"Mr. Channels"}}`,
			"31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ChannelAuth(vecKey, vecSecret, vecSocket, tt.channel, tt.channelData); got != vecKey+":"+tt.want {
				t.Fatalf("ChannelAuth = %s, want %s:%s", got, vecKey, tt.want)
			}
			if err := VerifyChannelAuth(vecKey, vecSecret, vecSocket, tt.channel, tt.channelData, vecKey+":"+tt.want); err != nil {
				t.Fatalf("VerifyChannelAuth(vector) = %v", err)
			}
		})
	}
}

func TestVerifyChannelAuth(t *testing.T) {
	t.Parallel()
	good := vecKey + ":58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
	pres := ChannelAuth(vecKey, vecSecret, vecSocket, "presence-foobar", `{"user_id":1}`)
	tests := []struct {
		name, socket, channel, channelData, auth string
		want                                     error
	}{
		{"ok", vecSocket, "private-foobar", "", good, nil},
		{"uppercase hex", vecSocket, "private-foobar", "", vecKey + ":" + strings.ToUpper(good[len(vecKey)+1:]), nil},
		{"uppercase key", vecSocket, "private-foobar", "", strings.ToUpper(vecKey) + good[len(vecKey):], ErrAuthKey},
		{"missing", vecSocket, "private-foobar", "", "", ErrAuthMissing},
		{"no colon", vecSocket, "private-foobar", "", "abc", ErrAuthFormat},
		{"other key", vecSocket, "private-foobar", "", "otherkey" + good[len(vecKey):], ErrAuthKey},
		{"other socket", "1234.1235", "private-foobar", "", good, ErrAuthInvalid},
		{"other channel", vecSocket, "private-foobaz", "", good, ErrAuthInvalid},
		{"short sig", vecSocket, "private-foobar", "", good[:len(good)-2], ErrAuthInvalid},
		{"not hex", vecSocket, "private-foobar", "", good[:len(good)-1] + "z", ErrAuthInvalid},
		{"empty sig", vecSocket, "private-foobar", "", vecKey + ":", ErrAuthInvalid},
		{"presence ok", vecSocket, "presence-foobar", `{"user_id":1}`, pres, nil},
		{"presence, other channel_data", vecSocket, "presence-foobar", `{"user_id":2}`, pres, ErrAuthInvalid},
		{"presence, channel_data respaced", vecSocket, "presence-foobar", `{"user_id": 1}`, pres, ErrAuthInvalid},
		{"presence signature without channel_data", vecSocket, "presence-foobar", "", pres, ErrAuthInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := VerifyChannelAuth(vecKey, vecSecret, tt.socket, tt.channel, tt.channelData, tt.auth); !errors.Is(err, tt.want) {
				t.Fatalf("VerifyChannelAuth = %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzChannelAuth checks signature checking on arbitrary input: no panics,
// and only the exact signature (hex in either case) under the app key is
// accepted.
func FuzzChannelAuth(f *testing.F) {
	f.Add("private-foobar", vecSocket, "", vecKey+":58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4")
	f.Add("presence-x", "1.1", `{"user_id":1}`, "k:")
	f.Add("", "", "", ":")
	f.Add("a b", "1.1", "x", "::::")
	f.Fuzz(func(t *testing.T, channel, socketID, channelData, auth string) {
		err := VerifyChannelAuth(vecKey, vecSecret, socketID, channel, channelData, auth)
		want := ChannelAuth(vecKey, vecSecret, socketID, channel, channelData)
		if err == nil && (!strings.EqualFold(auth, want) || !strings.HasPrefix(auth, vecKey+":")) {
			t.Fatalf("accepted %q for %q/%q/%q, want %q", auth, socketID, channel, channelData, want)
		}
		if err := VerifyChannelAuth(vecKey, vecSecret, socketID, channel, channelData, want); err != nil {
			t.Fatalf("refused its own signature %q: %v", want, err)
		}
	})
}
