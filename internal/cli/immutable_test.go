package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
)

// TestImmutableSource: a source declared immutable (its files never
// rewritten) in day folders. A run lists only the folders whose time moved
// since a run took every file in them: with nothing new it looks at no
// file; a new file in an old folder and a new folder are loaded; a refused
// file keeps its folder listed, so every run still warns of it; a file
// rewritten in place is not read again (the declaration says it is not
// done), until run --rehash reads every file.
func TestImmutableSource(t *testing.T) {
	dir := tempProject(t)
	edit(t, filepath.Join(dir, "pipelines.yaml"), "        distributed_by: branch           #", "        immutable: true\n        distributed_by: branch           #")
	// Delivery checks are not what this tests: their errors would fail
	// every run of these few days.
	edit(t, filepath.Join(dir, "pipelines.yaml"), "        freshness: {warn_after: 26h, error_after: 50h}\n", "")
	url := pgtest.URL(t)
	pool := connect(t, url)
	landing := filepath.Join(t.TempDir(), "landing")
	day := func(d int) string {
		return filepath.Join(landing, time.Date(2022, 1, d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly))
	}
	deliver := func(d int, branches ...string) {
		t.Helper()
		on := time.Date(2022, 1, d, 0, 0, 0, 0, time.UTC)
		if _, err := generate.Write(generate.Options{Dir: day(d), Layout: generate.LayoutA, Branches: branches, From: on, To: on, Orders: 20, Seed: uint64(d)}); err != nil {
			t.Fatal(err)
		}
	}
	// settle ages a folder's time, as a night passing does: a folder
	// modified just before a listing is listed again the next time.
	settle := func(days ...int) {
		t.Helper()
		for _, d := range days {
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(day(d), old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := func(args ...string) result {
		t.Helper()
		return percolate(t, dir, url, append([]string{"run", "--as-of", "2022-01-05", "--source", "transactions=" + filepath.Join(landing, "*", "*.csv"),
			"--source", "legacy_transactions=" + filepath.Join(landing, "none", "*.csv")}, args...)...)
	}
	deliver(1, "Leeds", "York")
	deliver(2, "Leeds", "York")
	settle(1, 2)

	steps := []struct {
		name                   string
		before                 func()
		args                   []string
		loaded, replaced, skip string
		want                   string // in the run's output
		folders                int    // recorded after the run
	}{
		{"first run", nil, nil, "4", "0", "0", "", 2},
		{"nothing new: no file looked at", nil, nil, "0", "0", "0", "", 2},
		{"a new file in an old folder", func() { deliver(1, "Bath"); settle(1) }, nil, "1", "0", "2", "", 2},
		{"a new folder", func() { deliver(3, "Leeds"); settle(3) }, nil, "1", "0", "0", "", 3},
		{"a refused file", func() {
			os.MkdirAll(day(4), 0o755)
			os.WriteFile(filepath.Join(day(4), "york_04-01-2022_09-00-00.csv"), nil, 0o644)
			settle(4)
		}, nil, "0", "0", "0", "1 refused", 3},
		{"a refused file is warned of again", nil, nil, "0", "0", "0", "refused earlier: ", 3},
		// Even with its folder listed again (its time moved: a file was
		// added and removed, say), a path read once is not read again.
		{"a file rewritten in place is not read again", func() {
			f := filepath.Join(day(2), "leeds_02-01-2022_09-00-00.csv")
			b, _ := os.ReadFile(f)
			os.WriteFile(f, b[:len(b)-1], 0o644) // its last newline
			settle(2)
		}, nil, "0", "0", "2", "", 3},
		{"--rehash reads it", nil, []string{"--rehash"}, "0", "1", "5", "", 3},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before()
			}
			r := run(st.args...)
			m := filesLine.FindStringSubmatch(r.stdout)
			if m == nil || m[1] != st.loaded || m[2] != st.replaced || m[3] != st.skip {
				t.Fatalf("want %s loaded, %s replaced, %s skipped; got (exit %d):\n%s\n%s", st.loaded, st.replaced, st.skip, r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, st.want) {
				t.Errorf("the run does not say %q:\n%s", st.want, r.stdout)
			}
			if n := scalar[int](t, pool, `SELECT count(*)::int FROM percolate.folders`); n != st.folders {
				t.Errorf("folders recorded: %d, want %d", n, st.folders)
			}
		})
	}
}
