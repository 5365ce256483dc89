package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// TestRejectCountsAgree: the run summary's rejects are the rows percolate
// rejects lists (and percolate.runs records); the rows of a file refused
// whole for its rejects are counted apart, never as rejects nor as loaded.
func TestRejectCountsAgree(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	layoutA := filepath.Join(dir, "testdata/cafe/layout_a")
	leeds := filepath.Join(layoutA, "leeds_01-03-2022_09-00-00.csv")
	b, err := os.ReadFile(leeds)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	bad := func(l string) string { return strings.TrimSuffix(l, ",") + ",extra,field" }
	// Leeds keeps one bad row: a reject. York has a bad row in four, more
	// than max_rejects (5%) allows: refused whole.
	one := append([]string{}, lines...)
	one[9] = bad(one[9])
	writeFile(t, leeds, strings.Join(one, "\n")+"\n")
	york := append([]string{}, lines...)
	for i := 1; i < len(york); i += 4 {
		york[i] = bad(york[i])
	}
	writeFile(t, filepath.Join(layoutA, "york_01-03-2022_09-00-00.csv"), strings.Join(york, "\n")+"\n")

	r := percolate(t, dir, url, "run", "--output", "json")
	if r.code != ExitFailure {
		t.Fatalf("got exit %d, want 1 (a refused file)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var rep runReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("run --output json: %v\n%s", err, r.stdout)
	}
	listed := 0
	for _, l := range strings.Split(mustRun(t, dir, url, "rejects").stdout, "\n") {
		if strings.Contains(l, ".csv:") {
			listed++
		}
	}
	loaded := scalar[int64](t, pool, `SELECT (SELECT count(*) FROM staging.transactions) + (SELECT count(*) FROM staging.legacy_transactions)`)
	for _, c := range []struct {
		what      string
		got, want int64
	}{
		{"rejects listed by percolate rejects", int64(listed), 1},
		{"rows.rejected in the run's report", rep.Rows.Rejected, 1},
		{"rows_rejected in percolate.runs", scalar[int64](t, pool, `SELECT rows_rejected FROM percolate.runs WHERE run_id = $1`, rep.RunID), 1},
		{"rows.in_refused_files in the run's report", rep.Rows.Refused, int64(len(york))}, // no header
		{"rows.loaded in the run's report, against staging", rep.Rows.Loaded, loaded},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.what, c.got, c.want)
		}
	}

	// The text summary says the same, on a database of its own.
	r = percolate(t, dir, pgtest.URL(t), "run")
	want := fmt.Sprintf("rows:    %d loaded (%d items), 1 rejected; %d more in refused files\n", rep.Rows.Loaded, rep.Rows.Items, len(york))
	if !strings.Contains(r.stdout, want) {
		t.Errorf("summary: got\n%s\nwant %q", r.stdout, want)
	}
}
