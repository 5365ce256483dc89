package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
)

// TestChecksFollowTheirDefinition: a check added to, edited in or
// re-graded in a model whose data is unchanged runs on the next run
// against the published relation, without rebuilding it; a failing error
// check fails the run with the usual report, and a check that passed is
// not run again.
func TestChecksFollowTheirDefinition(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, dir, url, "run")
	model := filepath.Join(dir, "models/marts/branch_daily_sales.sql")
	const header = "-- check: unique(branch, sales_date)\n"
	builds := func() int { return scalar[int](t, pool, `SELECT count(*)::int FROM percolate.model_builds`) }
	results := func(check string) int {
		return scalar[int](t, pool, `SELECT count(*)::int FROM percolate.check_results WHERE model = 'marts.branch_daily_sales' AND check_name = $1`, check)
	}
	built := builds()

	steps := []struct {
		name     string
		check    string // the check line's text, "" to leave the model as the step before
		code     int
		ran      string // the check that must have run, with failures (-1: it must not run)
		failures int    // a failing row_count returns one row
	}{
		{"new failing error check", "row_count(max: 1)", ExitFailure, "row_count(max: 1)", 1},
		{"still failing, so run again", "", ExitFailure, "row_count(max: 1)", 1},
		{"severity changed to warn", "row_count(max: 1) [warn]", 0, "row_count(max: 1)", 1},
		{"edited, passing", "not_null(branch, orders)", 0, "not_null(branch, orders)", 0},
		{"unchanged", "", 0, "not_null(branch, orders)", -1},
	}
	current := header
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.check != "" {
				next := header + "-- check: " + st.check + "\n"
				edit(t, model, current, next)
				current = next
			}
			name, _, _ := strings.Cut(st.check, " [")
			if name == "" {
				name = st.ran
			}
			before := results(name)
			r := percolate(t, dir, url, "run")
			if r.code != st.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, st.code, r.stdout, r.stderr)
			}
			ran := results(name) - before
			switch {
			case st.failures < 0 && ran != 0:
				t.Errorf("the check ran %d time(s), want none: it passed before and is unchanged", ran)
			case st.failures < 0:
				if !regexpMatch(`(?m)^    marts.branch_daily_sales\s+skip \(unchanged\)$`, r.stdout) {
					t.Errorf("want the model skipped as unchanged, got:\n%s", r.stdout)
				}
			case ran != 1:
				t.Errorf("the check ran %d time(s), want 1\nstdout:\n%s", ran, r.stdout)
			default:
				got := scalar[int](t, pool, `SELECT failures::int FROM percolate.check_results WHERE model = 'marts.branch_daily_sales' AND check_name = $1 ORDER BY checked_at DESC LIMIT 1`, name)
				if got != st.failures {
					t.Errorf("failures recorded: got %d, want %d", got, st.failures)
				}
				if !strings.Contains(r.stdout, "1 new or edited check(s) run on the published relation") {
					t.Errorf("want the step to say it runs a new check, got:\n%s", r.stdout)
				}
			}
			if st.code == ExitFailure {
				for _, want := range []string{"checks failed", "models/marts/branch_daily_sales.sql:13: marts.branch_daily_sales row_count(max: 1)", "nothing was published"} {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("stderr: want %q, got:\n%s", want, r.stderr)
					}
				}
				if !strings.Contains(r.stdout, "check:   marts.branch_daily_sales row_count(max: 1) [error]") {
					t.Errorf("want the check's report in the summary, got:\n%s", r.stdout)
				}
			}
			if got := builds(); got != built {
				t.Errorf("model builds: %d, want %d: a check is metadata, nothing is rebuilt for it", got, built)
			}
		})
	}
	// percolate test still runs them on demand.
	before := results("not_null(branch, orders)")
	mustRun(t, dir, url, "test", "--select", "marts.branch_daily_sales")
	if got := results("not_null(branch, orders)") - before; got != 1 {
		t.Errorf("percolate test ran the check %d time(s), want 1", got)
	}
}

// TestCheckFailsOnAReplacedDay: the nightly path. An incremental mart
// whose new day breaks an error check fails the run (exit 1), publishes
// nothing and keeps the old rows; the check reads the replaced day.
func TestCheckFailsOnAReplacedDay(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	edit(t, filepath.Join(dir, "models/marts/branch_daily_sales.sql"), "-- check: unique(branch, sales_date)\n",
		"-- check: unique(branch, sales_date)\n-- check: accepted_values(branch: Chesterfield, Isle of Wight, Leeds, Longridge)\n")
	mustRun(t, dir, url, "run")
	before := snapshot(t, url)

	day := time.Date(2022, 3, 4, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: filepath.Join(dir, "testdata/cafe/layout_a"), Layout: generate.LayoutA,
		Branches: []string{"York"}, From: day, To: day, Orders: 40, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	r := percolate(t, dir, url, "run")
	if r.code != ExitFailure {
		t.Fatalf("exit %d, want %d: the new day breaks an error check\nstdout:\n%s\nstderr:\n%s", r.code, ExitFailure, r.stdout, r.stderr)
	}
	if !regexpMatch(`(?m)^    marts.branch_daily_sales\s+.*1 day\(s\) 2022-03-04`, r.stdout) {
		t.Errorf("want the mart's day replaced, got:\n%s", r.stdout)
	}
	for _, want := range []string{"marts.branch_daily_sales accepted_values(branch: Chesterfield, Isle of Wight, Leeds, Longridge): 1 failing rows", "nothing was published"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr: want %q, got:\n%s", want, r.stderr)
		}
	}
	if got := scalar[int](t, pool, `SELECT failures::int FROM percolate.check_results WHERE check_name LIKE 'accepted_values%' ORDER BY checked_at DESC LIMIT 1`); got != 1 {
		t.Errorf("failures recorded: got %d, want 1 (the new day's row)", got)
	}
	after := snapshot(t, url)
	for rel, v := range before {
		if after[rel] != v && strings.HasPrefix(rel, "marts.") {
			t.Errorf("%s changed though nothing was published: %s, then %s", rel, v, after[rel])
		}
	}
	if n := scalar[int](t, pool, `SELECT count(*)::int FROM marts.branch_daily_sales WHERE branch = 'York'`); n != 0 {
		t.Errorf("the failing day was published: %d York rows, want 0", n)
	}
}
