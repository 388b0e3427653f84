package cluster

import (
	"net/url"

	"github.com/recordsync/recordsync/versioncache"
)

// RecordKey returns the Redis key of kind ("lock", "version", ...) for one
// record, in this cluster's namespace:
// RecordKey("lock", {a, flow, 1}) → "recordsync:default-db0:lock:a:flow:1".
//
// Tenant, type and id are each query-escaped (':' → "%3A", '%' → "%25"), so
// the three parts are always separated by the only two bare ':' and a tenant
// "a:flow" with type "1" cannot land on the key of tenant "a", type "flow".
func (c *Cluster) RecordKey(kind string, k versioncache.Key) string {
	return c.Key(kind, url.QueryEscape(k.Tenant), url.QueryEscape(k.Type), url.QueryEscape(k.ID))
}
