package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
)

// snapshot fingerprints the contents of every core and mart table.
func snapshot(t *testing.T, url string) map[string]string {
	t.Helper()
	pool := connect(t, url)
	out := map[string]string{}
	for _, rel := range []string{"core.orders", "core.order_items", "core.product_days", "core.products", "core.branches",
		"marts.branch_daily_sales", "marts.product_daily_sales", "marts.hourly_sales"} {
		out[rel] = scalar[string](t, pool, `SELECT count(*) || ':' || coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '') FROM `+rel+` AS r`)
	}
	return out
}

// TestIncrementalBuildsOnlyNewDays appends a new day and replaces an old
// day's file: only those two days are rebuilt, and the warehouse equals a
// full refresh.
func TestIncrementalBuildsOnlyNewDays(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, dir, url, "run")

	day := time.Date(2022, 3, 4, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: filepath.Join(dir, "testdata/cafe/layout_a"), Layout: generate.LayoutA,
		Branches: []string{"York"}, From: day, To: day, Orders: 40, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	late := filepath.Join(dir, "testdata/cafe/layout_a/leeds_02-03-2022_09-00-00.csv")
	b, _ := os.ReadFile(late)
	lines := strings.SplitAfter(string(b), "\n")
	os.WriteFile(late, []byte(strings.Join(lines[10:], "")), 0o644) // the branch sent a corrected file

	r := mustRun(t, dir, url, "run")
	for _, m := range []string{"core.orders", "core.order_items", "marts.branch_daily_sales", "marts.hourly_sales", "marts.product_daily_sales", "core.product_days"} {
		if !regexpMatch(`(?m)^    `+m+`\s+incremental .* 2 day\(s\) 2022-03-02 … 2022-03-04`, r.stdout) {
			t.Errorf("%s: want 2 days rebuilt, got:\n%s", m, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "1 loaded, 1 replaced") {
		t.Errorf("want a new file and a replaced one:\n%s", r.stdout)
	}
	runID := scalar[int](t, pool, `SELECT max(run_id)::int FROM percolate.runs`)
	if got := scalar[string](t, pool, `SELECT string_agg(DISTINCT day::text, ',' ORDER BY day::text) FROM percolate.model_intervals WHERE run_id = $1`, runID); got != "2022-03-02,2022-03-04" {
		t.Errorf("intervals built by the last run: %s, want 2022-03-02,2022-03-04", got)
	}
	incremental := snapshot(t, url)
	mustRun(t, dir, url, "run", "--full-refresh")
	full := snapshot(t, url)
	for rel, v := range full {
		if incremental[rel] != v {
			t.Errorf("%s: incremental %s, full refresh %s", rel, incremental[rel], v)
		}
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM marts.branch_daily_sales WHERE branch = 'York'`); n != 1 {
		t.Errorf("the new day's branch: %d rows, want 1", n)
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

// TestVersionChangeFrom: after an edit, --from rebuilds only the days from
// that date; the ledger keeps the older days at the old version.
func TestVersionChangeFrom(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, dir, url, "run")
	edit(t, filepath.Join(dir, "models/marts/hourly_sales.sql"), "sum(revenue) AS revenue", "sum(revenue) + 0 AS revenue")
	r := mustRun(t, dir, url, "run", "--from", "2022-03-02")
	if !regexpMatch(`(?m)^    marts.hourly_sales\s+incremental .* 2 day\(s\) 2022-03-02 … 2022-03-03: changed`, r.stdout) {
		t.Errorf("want hourly_sales rebuilt for 2022-03-02 and 03 only:\n%s", r.stdout)
	}
	if got := scalar[int](t, pool, `SELECT count(DISTINCT version)::int FROM percolate.model_intervals WHERE model = 'marts.hourly_sales'`); got != 2 {
		t.Errorf("hourly_sales intervals at %d versions, want 2 (old days keep theirs)", got)
	}
	r = mustRun(t, dir, url, "plan")
	if !strings.Contains(r.stdout, "skip  marts.hourly_sales           unchanged") {
		t.Errorf("the days before --from keep their version on purpose; plan should skip:\n%s", r.stdout)
	}

	// A gap (a day with data and no interval) is found and filled.
	pool.Exec(context.Background(), `DELETE FROM percolate.model_intervals WHERE model = 'marts.hourly_sales' AND day = '2021-02-22'`)
	pool.Exec(context.Background(), `DELETE FROM marts.hourly_sales WHERE sales_date = '2021-02-22'`)
	r = mustRun(t, dir, url, "run")
	if !regexpMatch(`(?m)^    marts.hourly_sales\s+incremental .* 1 day\(s\) 2021-02-22: gap`, r.stdout) {
		t.Errorf("want the gap filled:\n%s", r.stdout)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM marts.hourly_sales WHERE sales_date = '2021-02-22'`); n == 0 {
		t.Error("the gap day is still empty")
	}
}
