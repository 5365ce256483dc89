package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// A broken query set fails the read benchmark before a year is generated
// or loaded, naming its file, line and column.
func TestBenchReadsBadQuerySet(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "reads.sql")
	if err := os.WriteFile(bad, []byte("-- schema: core\n-- keyed: orders order_id\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	for _, tc := range []struct {
		name, queries, want string
		code                int
	}{
		{"bad line", bad, bad + `:2:11: keyed: want "relation (column, …)", got "orders order_id"`, 1},
		{"missing file", filepath.Join(dir, "none.sql"), "none.sql: no such file", 1},
		{"no runs", bad, "--runs 0: want at least 1", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"bench", "--shape", "reads", "--queries", tc.queries, "--data", data}
			if tc.name == "no runs" {
				args = append(args, "--runs", "0")
			}
			r := percolate(t, root, url, args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("got exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("the year's folder %s: got %v, want nothing generated", data, err)
			}
		})
	}
}
