package cli

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestLimitMemory: percolate sets its soft memory limit, unless
// GOMEMLIMIT has set one, which it keeps.
func TestLimitMemory(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	for _, c := range []struct {
		name string
		env  map[string]string
		want int64
	}{
		{"unset", map[string]string{}, memoryLimit},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, math.MaxInt64},
	} {
		t.Run(c.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64) // as the runtime starts without GOMEMLIMIT
			limitMemory(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
			if got := debug.SetMemoryLimit(-1); got != c.want {
				t.Errorf("memory limit %d, want %d", got, c.want)
			}
		})
	}
}
