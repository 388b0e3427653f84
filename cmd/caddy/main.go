// Command caddy is Caddy with the standard modules and recordsync.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/recordsync/recordsync/caddymodule"
)

func main() {
	caddycmd.Main()
}
