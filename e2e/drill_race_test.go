//go:build race

package e2e

// Under the race detector (scripts/test.sh) the test process reads every
// frame of every subscriber about ten times slower; the drills that are
// bound by the client's CPU run shorter streams then.
func init() { drillRace = true }
