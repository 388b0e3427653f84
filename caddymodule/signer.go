package caddymodule

import (
	"github.com/recordsync/recordsync/proxy"
	"github.com/recordsync/recordsync/realtime"
)

// signerFor is the hub as the proxy's Signer of /broadcasting/auth answers;
// nil (answers pass untouched) when there is no hub. A nil *Hub must not
// become a non-nil interface.
func signerFor(hub *realtime.Hub) proxy.Signer {
	if hub == nil {
		return nil
	}
	return hub
}

// Interface guard
var _ proxy.Signer = (*realtime.Hub)(nil)
