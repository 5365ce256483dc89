package pgtest

import (
	"testing"
	"time"
)

// Poll is the pause between two looks of Eventually: short against the
// seconds a test waits, long enough that a wait leaves the server (and the
// two cores the tests share) to the work it waits for.
const Poll = 20 * time.Millisecond

// Eventually calls cond until it reports true, pausing Poll between calls,
// and fails the test when timeout passes first, saying what it waited for.
// cond may fail the test itself (when the work it waits on ended early,
// say). The pause is not the synchronisation: cond asks the server or the
// process what state it is in.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("gave up after %v waiting for %s", timeout, what)
	}
}

// poll calls cond every Poll until it reports true (true) or timeout
// passes (false).
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(Poll)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
	return true
}
