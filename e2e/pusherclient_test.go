package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/recordsync/recordsync/pusher"
)

// wsClient is a minimal Pusher-protocol client for tests that need many
// sockets (the Node clients cover the real-client behaviour).
type wsClient struct {
	t        testing.TB
	conn     *websocket.Conn
	SocketID string
}

type frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// dataString decodes a server frame's data, which Pusher sends as a JSON
// string holding JSON.
func (f frame) dataString() string {
	var s string
	if json.Unmarshal(f.Data, &s) == nil {
		return s
	}
	return string(f.Data)
}

func dialPusher(t testing.TB, url string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	conn.SetReadLimit(1 << 20)
	c := &wsClient{t: t, conn: conn}
	f := c.read(10 * time.Second)
	if f.Event != "pusher:connection_established" {
		t.Fatalf("first frame %+v", f)
	}
	var est struct {
		SocketID string `json:"socket_id"`
	}
	if err := json.Unmarshal([]byte(f.dataString()), &est); err != nil {
		t.Fatalf("connection_established data %q: %v", f.dataString(), err)
	}
	c.SocketID = est.SocketID
	return c
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next frame, failing the test after timeout.
func (c *wsClient) read(timeout time.Duration) frame {
	c.t.Helper()
	f, err := c.tryRead(timeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

func (c *wsClient) tryRead(timeout time.Duration) (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return frame{}, fmt.Errorf("frame %q: %w", b, err)
	}
	return f, nil
}

// subscribePrivate subscribes with a signature made from secret and waits
// for the answer frame.
func (c *wsClient) subscribePrivate(channel, key, secret string) frame {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": channel, "auth": pusher.ChannelAuth(key, secret, c.SocketID, channel, ""),
	}})
	return c.read(5 * time.Second)
}

func (c *wsClient) close() { c.conn.Close(websocket.StatusNormalClosure, "") }
