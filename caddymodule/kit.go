package caddymodule

import (
	"net/http"

	"github.com/recordsync/recordsync/kit"
	"github.com/recordsync/recordsync/realtime"
)

// browserKit serves the browser kit (kit/README.md) at
// {ws_path}/recordsync.js and {ws_path}/recordsync.mjs, with the app key and
// ws_path filled in. It is served with or without the websocket hub: without
// app_key the kit polls.
type browserKit struct {
	js, mjs string
	handler *kit.Handler
}

func newBrowserKit(appKey, wsPath string, records []Record) *browserKit {
	if wsPath == "" {
		wsPath = realtime.DefaultWSPath
	}
	js, mjs := kit.Paths(wsPath)
	cfg := kit.Config{Key: appKey, WSPath: wsPath}
	if len(records) > 0 {
		cfg.Records = make(map[string]string, len(records))
		for _, r := range records {
			cfg.Records[r.Type] = r.Pattern
		}
	}
	return &browserKit{js: js, mjs: mjs, handler: kit.New(cfg)}
}

// serves reports whether r asks for one of the kit's files.
func (k *browserKit) serves(r *http.Request) bool {
	return k != nil && (r.URL.Path == k.js || r.URL.Path == k.mjs) &&
		(r.Method == http.MethodGet || r.Method == http.MethodHead)
}
