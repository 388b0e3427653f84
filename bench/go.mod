module github.com/recordsync/recordsync/bench

go 1.26.8

require (
	github.com/coder/websocket v1.8.15
	github.com/recordsync/recordsync v0.0.0
	github.com/tidwall/gjson v1.20.2
	golang.org/x/image v0.46.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgraph-io/ristretto/v2 v2.4.2 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.3.0 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

replace github.com/recordsync/recordsync => ../
