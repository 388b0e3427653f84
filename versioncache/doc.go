// Package versioncache is recordsync's memory of record versions.
//
// A record is named by a Key (tenant, type, id) and its version is the value
// the application wrote into the record's JSON (Laravel's updated_at, or an
// integer lock_version column). The Store only ever moves a record's version
// forward: a late or replayed older version never replaces a newer one. It is
// bounded (ristretto's admission and eviction) and may forget entries (TTL,
// eviction, dropped sets); a forgotten entry reads as "unknown", which callers
// treat as "ask the application", never as "older".
//
// The package knows nothing of HTTP, tenants' meaning or Caddy.
package versioncache
