package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
	"github.com/percolate/percolate/internal/project"
)

// builtLine is a built model's line in the run summary: name and time.
var builtLine = regexp.MustCompile(`(?m)^    (\S+)\s+(?:incremental|table)\s+\d+ rows\s+(\S+)\s`)

// TestMonthResent: a month of files delivered again under new names, each
// an order short (so not a copy of its first delivery: see
// TestResentAsIs), changes no core or mart row, and writes none (the keyed
// core tables merge the days re-sent), and removing the repeats stays
// linear: every set of
// days a model or check reads through an ARRAY(…) sub-select or a CTE
// holds at most a branch-day each, not a repeat each (which made a month re-sent cost
// seconds per model and a year minutes). The models' times with and
// without the repeats are logged (go test -v), not asserted: the machine
// is shared.
func TestMonthResent(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	month, branches := filepath.Join(t.TempDir(), "files"), 3
	from, to := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2022, 1, 31, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: month, Layout: generate.LayoutA, Branches: generate.Branches(branches),
		From: from, To: to, Orders: 300, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	source := "transactions=" + filepath.Join(month, "*.csv")
	first := mustRun(t, dir, url, "run", "--as-of", "2022-02-01", "--source", source)
	count := func() (orders, rows int) {
		return scalar[int](t, pool, `SELECT count(*)::int FROM core.orders`), scalar[int](t, pool, `SELECT count(*)::int FROM staging.transactions`)
	}
	orders, loaded := count()
	before := snapshot(t, url)
	// Every row a later transaction writes has a later xmin.
	mark := scalar[int64](t, pool, `SELECT txid_current()`)

	// The branches send the month again: each file under a new name, with
	// CRLF line endings and its last order left out, so that neither its
	// content nor its rows match a file loaded: every row a repeat.
	files, _ := filepath.Glob(filepath.Join(month, "*.csv"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
		again := strings.Replace(f, "_09-00-00.csv", "_21-00-00.csv", 1)
		if err := os.WriteFile(again, []byte(strings.ReplaceAll(strings.Join(lines[:len(lines)-1], ""), "\n", "\r\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	second := mustRun(t, dir, url, "run", "--as-of", "2022-02-01", "--source", source)
	after, rows := count()
	repeats := rows - loaded
	if after != orders || repeats != loaded-len(files) {
		t.Fatalf("core.orders: %d rows, then %d with %d rows more in staging; want %d, then the same with %d more (every order of the month but one a file once more)", orders, after, repeats, orders, loaded-len(files))
	}
	for rel, v := range snapshot(t, url) {
		if before[rel] != v {
			t.Errorf("%s changed with the month re-sent: %s, then %s", rel, before[rel], v)
		}
	}
	// The days re-sent are merged by key: nothing new, nothing written.
	for _, rel := range []string{"core.orders", "core.order_items"} {
		if n := scalar[int](t, pool, `SELECT count(*)::int FROM `+rel+` WHERE xmin::text::bigint >= $1`, mark%(1<<32)); n != 0 {
			t.Errorf("%s: %d rows written again by the run that re-sent the month, want 0", rel, n)
		}
	}
	logTimes(t, first.stdout, second.stdout, repeats)

	// Every model and check as a build of the month's days executes it.
	p, err := project.Open(dir, project.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := p.Config.Pipeline("cafe")
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Graph(pl)
	if err != nil {
		t.Fatal(err)
	}
	days := int(to.Sub(from).Hours()/24) + 1
	start, end := from.Format(time.DateOnly), to.AddDate(0, 0, 1).Format(time.DateOnly)
	quoted := func(rel string) string {
		schema, n, _ := strings.Cut(rel, ".")
		return pg.Ident(schema, n)
	}
	for _, m := range g.Models {
		stmts := map[string]string{m.Name: build.Bind(m.Body(), start, end)}
		for _, c := range m.Config.Checks {
			stmts[fmt.Sprintf("%s check line %d", m.Name, c.Line)] = build.Bind(c.SQL(quoted(m.Name), quoted), start, end)
		}
		for what, sql := range stmts {
			t.Run(what, func(t *testing.T) {
				for _, n := range initPlanRows(t, pool, sql) {
					if n > days*branches {
						t.Errorf("a sub-select read into an array returns %d rows, want at most %d (a branch-day each), with %d repeats", n, days*branches, repeats)
					}
				}
			})
		}
	}
}

// TestResentAsIs: files delivered again with the same orders, re-encoded
// (CRLF) and under new names, are told copies of the files first loaded:
// skipped, no row written to staging, no day built again, and trusted by
// their size and time on the next run. A file whose first delivery is
// then replaced by other content is loaded itself at the run after, as a
// copy of content no longer loaded (the same as a byte-for-byte copy).
func TestResentAsIs(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	month := filepath.Join(t.TempDir(), "files")
	if _, err := generate.Write(generate.Options{Dir: month, Layout: generate.LayoutA, Branches: generate.Branches(2),
		From: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2022, 1, 5, 0, 0, 0, 0, time.UTC), Orders: 20, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	source := "transactions=" + filepath.Join(month, "*.csv")
	mustRun(t, dir, url, "run", "--as-of", "2022-01-06", "--source", source)
	staged := func() int { return scalar[int](t, pool, `SELECT count(*)::int FROM staging.transactions`) }
	rows := staged()
	files, _ := filepath.Glob(filepath.Join(month, "*.csv"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		again := strings.Replace(f, "_09-00-00.csv", "_21-00-00.csv", 1)
		if err := os.WriteFile(again, []byte(strings.ReplaceAll(string(b), "\n", "\r\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	second := mustRun(t, dir, url, "run", "--as-of", "2022-01-06", "--source", source)
	if want := "files:   0 loaded, 0 replaced,"; !strings.Contains(second.stdout, want) {
		t.Errorf("the run of the files re-sent says:\n%s\nwant %q", second.stdout, want)
	}
	if got := staged(); got != rows {
		t.Errorf("staging.transactions: %d rows, then %d; want none added", rows, got)
	}
	for _, m := range []string{"core.orders", "core.order_items", "marts.branch_daily_sales"} {
		if !regexp.MustCompile(`(?m)^    ` + regexp.QuoteMeta(m) + `\s+skip \(unchanged\)`).MatchString(second.stdout) {
			t.Errorf("%s was built again for files that bring nothing:\n%s", m, second.stdout)
		}
	}
	copies := scalar[int](t, pool, `SELECT count(*)::int FROM percolate.file_copies`)
	if copies != len(files) {
		t.Errorf("percolate.file_copies: %d rows, want %d (each file re-sent)", copies, len(files))
	}

	// The first delivery of one day replaced by a corrected file (one
	// order's customer differs: a new id): its copy is then loaded.
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	fields := strings.SplitN(lines[1], ",", 3)
	lines[1] = fields[0] + "," + fields[1] + ",Someone Else," + fields[2]
	if err := os.WriteFile(files[0], []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, url, "run", "--as-of", "2022-01-06", "--source", source)
	fourth := mustRun(t, dir, url, "run", "--as-of", "2022-01-06", "--source", source)
	if !strings.Contains(fourth.stdout, "files:   1 loaded") {
		t.Errorf("the run after a first delivery was replaced says:\n%s\nwant its copy loaded", fourth.stdout)
	}
}

// initPlanRows runs sql under EXPLAIN ANALYZE, with a build's settings,
// and returns the rows each of its InitPlans returned. A materialized
// CTE's plan is an InitPlan too, but its rows are read as a relation, not
// into an array: it is left out (core.product_days' arrays of days, a
// row a branch and product, however often the days were delivered).
func initPlanRows(t *testing.T, pool *pgxpool.Pool, sql string) []int {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL enable_nestloop = off; SET LOCAL jit = off; SET LOCAL work_mem = '128MB'; SET LOCAL max_parallel_workers_per_gather = 0"); err != nil {
		t.Fatal(err)
	}
	var out []byte
	if err := tx.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+sql).Scan(&out); err != nil {
		t.Fatalf("explain %s: %v", sql, err)
	}
	type node struct {
		Relationship string  `json:"Parent Relationship"`
		Name         string  `json:"Subplan Name"`
		Rows         float64 `json:"Actual Rows"`
		Plans        []node  `json:"Plans"`
	}
	var plans []struct{ Plan node }
	if err := json.Unmarshal(out, &plans); err != nil {
		t.Fatal(err)
	}
	var rows []int
	var walk func(n node)
	walk = func(n node) {
		if n.Relationship == "InitPlan" && !strings.HasPrefix(n.Name, "CTE ") {
			rows = append(rows, int(n.Rows))
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	for _, p := range plans {
		walk(p.Plan)
	}
	return rows
}

// logTimes logs each model's build time without repeats (the first run)
// and with them (the month re-sent).
func logTimes(t *testing.T, without, with string, repeats int) {
	t.Helper()
	took := func(out string) map[string]string {
		m := map[string]string{}
		for _, l := range builtLine.FindAllStringSubmatch(out, -1) {
			m[l[1]] = l[2]
		}
		return m
	}
	a, b := took(without), took(with)
	var lines []string
	for name, d := range a {
		lines = append(lines, fmt.Sprintf("  %-28s %10s %10s", name, d, b[name]))
	}
	slices.Sort(lines)
	t.Logf("build time per model, without repeats and with the month re-sent (%d repeats):\n%s", repeats, strings.Join(lines, "\n"))
}
