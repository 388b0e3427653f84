package proxy

import "fmt"

// Memory is the request-independent state of the proxy that must outlive one
// configuration: the authorisation memory and the per-record write turns.
// Keeping it across a config reload means a caller authorised a moment ago is
// still known, and a write that started under the old configuration still
// serialises the writes that arrive under the new one. Safe for concurrent
// use; Close it when the last configuration using it is retired.
type Memory struct {
	auth  *authMemory
	turns *turns
}

// NewMemory makes a Memory whose authorisation memory holds at most entries
// answers (DefaultAuthEntries when entries is 0).
func NewMemory(entries int64) (*Memory, error) {
	if entries < 0 {
		return nil, fmt.Errorf("auth_entries: must not be negative, got %d", entries)
	}
	if entries == 0 {
		entries = DefaultAuthEntries
	}
	auth, err := newAuthMemory(entries)
	if err != nil {
		return nil, fmt.Errorf("auth_entries: %w", err)
	}
	return &Memory{auth: auth, turns: newTurns()}, nil
}

// Close releases the authorisation memory's goroutines.
func (m *Memory) Close() { m.auth.close() }
