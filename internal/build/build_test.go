package build

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/migrate"
	"github.com/percolate/percolate/internal/pgtest"
)

// shop is a small project: an incremental model over a staging table, a
// table aggregating it, and a view over the table.
func shop() fstest.MapFS {
	return fstest.MapFS{
		"models/core/sales.sql": {Data: []byte(`-- materialized: incremental
-- time_column: sales_date
-- check: not_null(shop)
SELECT sales_date, shop, total
FROM staging.sales
WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
`)},
		"models/marts/by_shop.sql": {Data: []byte(`-- materialized: table
-- check: unique(shop)
-- check: sql SELECT shop FROM marts.by_shop WHERE total > 100
SELECT shop, sum(total) AS total, count(*) AS sales
FROM core.sales
GROUP BY shop
`)},
		"models/marts/top.sql": {Data: []byte(`SELECT shop FROM marts.by_shop ORDER BY total DESC LIMIT 1
`)},
	}
}

var sources = map[string]string{"staging.sales": "sales"}

func graph(t *testing.T, fsys fstest.MapFS) *dag.Graph {
	t.Helper()
	g, err := dag.Load(fsys, "models", []string{"staging.sales"}, []string{"percolate"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func warehouse(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, _ := pgtest.Pool(t)
	if err := warehouseSchema(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE staging.sales (load_id bigint, sales_date date, shop text, total numeric(10,2))`); err != nil {
		t.Fatal(err)
	}
	return pool
}

type sale struct {
	day   string
	shop  string
	total float64
}

// deliver records a file of sales in the manifest and stages its rows, as
// the loader would, replacing an earlier file at the same path.
func deliver(t *testing.T, pool *pgxpool.Pool, path string, sales ...sale) {
	t.Helper()
	ctx := context.Background()
	var book ledger.Store
	var b strings.Builder
	for _, s := range sales {
		b.WriteString(s.day + s.shop)
	}
	id, claimed, err := book.ClaimFile(ctx, pool, ledger.File{Source: "sales", Path: path, Hash: b.String()})
	if err != nil || !claimed {
		t.Fatalf("claim %s: %v %v", path, claimed, err)
	}
	days := map[string]bool{}
	var list []time.Time
	for _, s := range sales {
		if _, err := pool.Exec(ctx, `INSERT INTO staging.sales VALUES ($1, $2, $3, $4)`, id, s.day, s.shop, s.total); err != nil {
			t.Fatal(err)
		}
		if !days[s.day] {
			days[s.day] = true
			d, _ := time.Parse(time.DateOnly, s.day)
			list = append(list, d)
		}
	}
	retired, err := book.FinishFile(ctx, pool, ledger.Loaded{LoadID: id, Source: "sales", Path: path, Days: list, Rows: int64(len(sales))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM staging.sales WHERE load_id = ANY($1)`, retired.LoadIDs); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, pool *pgxpool.Pool, g *dag.Graph, opt Options) (*Result, error) {
	t.Helper()
	runID, err := ledger.Store{}.StartRun(context.Background(), pool, "shop", "run")
	if err != nil {
		t.Fatal(err)
	}
	opt.Sources = sources
	return Run(context.Background(), pool, g, runID, opt)
}

func reasons(t *testing.T, pool *pgxpool.Pool, g *dag.Graph) map[string]string {
	t.Helper()
	plan, err := NewPlan(context.Background(), pool, g, Options{Sources: sources})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range plan.Steps {
		what := "skip: "
		if s.Build {
			what = "build: "
		}
		out[s.Name] = what + s.Reason
	}
	return out
}

func query[T any](t *testing.T, pool *pgxpool.Pool, sql string) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), sql).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// TestPlanReasons follows one project through the reasons a plan gives:
// new models, nothing to do, a new day, a formatting-only edit, an edit.
func TestPlanReasons(t *testing.T) {
	pool := warehouse(t)
	fsys := shop()
	deliver(t, pool, "a.csv", sale{"2022-03-01", "leeds", 10}, sale{"2022-03-02", "york", 20})
	steps := []struct {
		name string
		do   func()
		want map[string]string
	}{
		{"first", func() {}, map[string]string{
			"core.sales": "build: new model", "marts.by_shop": "build: new model", "marts.top": "build: new model"}},
		{"nothing new", func() {}, map[string]string{
			"core.sales": "skip: unchanged", "marts.by_shop": "skip: unchanged", "marts.top": "skip: unchanged"}},
		{"a new day", func() { deliver(t, pool, "b.csv", sale{"2022-03-03", "leeds", 5}) }, map[string]string{
			"core.sales": "build: 1 day(s) 2022-03-03: new data in staging.sales", "marts.by_shop": "build: new data in staging.sales",
			// Models below a view must read the new table through it.
			"marts.top": "build: parent rebuilt: marts.by_shop"}},
		{"formatting only", func() {
			fsys["models/marts/by_shop.sql"].Data = []byte(strings.ReplaceAll(string(fsys["models/marts/by_shop.sql"].Data), "\nFROM", "\n  -- a comment\n  from"))
		}, map[string]string{"core.sales": "skip: unchanged", "marts.by_shop": "skip: unchanged", "marts.top": "skip: unchanged"}},
		{"an edit", func() {
			fsys["models/marts/by_shop.sql"].Data = []byte(strings.Replace(string(fsys["models/marts/by_shop.sql"].Data), "count(*) AS sales", "count(*) AS sales, max(total) AS biggest", 1))
		}, map[string]string{"core.sales": "skip: unchanged", "marts.by_shop": "build: changed (version", "marts.top": "build: upstream changed: marts.by_shop"}},
	}
	for _, step := range steps {
		step.do()
		g := graph(t, fsys)
		got := reasons(t, pool, g)
		for model, want := range step.want {
			if !strings.HasPrefix(got[model], want) {
				t.Errorf("%s: %s: got %q, want %q", step.name, model, got[model], want)
			}
		}
		if _, err := run(t, pool, g, Options{}); err != nil {
			t.Fatalf("%s: run: %v", step.name, err)
		}
	}
	if n := query[int](t, pool, `SELECT count(*) FROM pg_class WHERE relname LIKE '%\_\_next'`); n != 0 {
		t.Errorf("%d __next relations left after the swaps, want none", n)
	}
	if got := query[float64](t, pool, `SELECT biggest FROM marts.by_shop WHERE shop = 'leeds'`); got != 10 {
		t.Errorf("published biggest leeds sale %v, want 10", got)
	}
}

// TestFailingCheckPublishesNothing: an error check that fails on the new
// data rolls the build back, keeps the published tables and intervals as
// they were, and records the failure in the ledger.
func TestFailingCheckPublishesNothing(t *testing.T) {
	pool := warehouse(t)
	g := graph(t, shop())
	deliver(t, pool, "a.csv", sale{"2022-03-01", "leeds", 10})
	if _, err := run(t, pool, g, Options{}); err != nil {
		t.Fatal(err)
	}
	deliver(t, pool, "b.csv", sale{"2022-03-02", "leeds", 500})
	res, err := run(t, pool, g, Options{})
	if !errors.Is(err, ErrChecks) {
		t.Fatalf("got %v, want ErrChecks", err)
	}
	if failed := Failed(res.Checks); len(failed) != 1 || failed[0].Model != "marts.by_shop" || failed[0].Failures != 1 || len(failed[0].Sample) != 1 {
		t.Errorf("failed checks: %+v, want the by_shop sql check with one sampled row", failed)
	}
	if got := query[float64](t, pool, `SELECT total FROM marts.by_shop`); got != 10 {
		t.Errorf("published total %v, want the old 10", got)
	}
	if got := query[int](t, pool, `SELECT count(*) FROM core.sales`); got != 1 {
		t.Errorf("core.sales has %d rows, want the published 1: the new day was rolled back", got)
	}
	if got := query[int](t, pool, `SELECT count(*) FROM percolate.check_results WHERE failures > 0 AND model = 'marts.by_shop'`); got != 1 {
		t.Errorf("ledger: %d failed check results, want 1", got)
	}
	if got := query[int](t, pool, `SELECT count(*) FROM percolate.model_intervals WHERE day = '2022-03-02'`); got != 0 {
		t.Errorf("ledger: %d intervals for the unpublished day, want 0", got)
	}
}

// TestReplacedDay: a file delivered again with other content replaces its
// day in the incremental model and nothing else.
func TestReplacedDay(t *testing.T) {
	pool := warehouse(t)
	g := graph(t, shop())
	deliver(t, pool, "a.csv", sale{"2022-03-01", "leeds", 10})
	deliver(t, pool, "b.csv", sale{"2022-03-02", "york", 20})
	if _, err := run(t, pool, g, Options{}); err != nil {
		t.Fatal(err)
	}
	deliver(t, pool, "b.csv", sale{"2022-03-02", "york", 25}, sale{"2022-03-02", "york", 1})
	res, err := run(t, pool, g, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Plan.Steps {
		if s.Name == "core.sales" && (s.Full || strings.Join(s.Days, ",") != "2022-03-02") {
			t.Errorf("core.sales: full %v, days %v; want only 2022-03-02 replaced", s.Full, s.Days)
		}
	}
	if got := query[string](t, pool, `SELECT string_agg(shop || '=' || total, ',' ORDER BY shop) FROM marts.by_shop`); got != "leeds=10.00,york=26.00" {
		t.Errorf("by_shop: %s, want leeds=10.00,york=26.00", got)
	}
}

// TestModelErrorKeepsChain: a column only the database knows is missing
// is reported at the model's line, and the database's own error is still
// there for errors.As.
func TestModelErrorKeepsChain(t *testing.T) {
	pool := warehouse(t)
	fsys := shop()
	fsys["models/marts/by_shop.sql"].Data = []byte(strings.Replace(string(fsys["models/marts/by_shop.sql"].Data), "sum(total)", "sum(totl)", 1))
	deliver(t, pool, "a.csv", sale{"2022-03-01", "leeds", 10})
	_, err := run(t, pool, graph(t, fsys), Options{})
	var me *ModelError
	var pgErr *pgconn.PgError
	if !errors.As(err, &me) || me.Path != "models/marts/by_shop.sql" || me.Line != 4 {
		t.Fatalf("got %v, want a ModelError at models/marts/by_shop.sql:4", err)
	}
	if !errors.As(err, &pgErr) || pgErr.Code != "42703" {
		t.Errorf("got %v, want the undefined-column PgError in the chain", err)
	}
	if strings.Contains(err.Error(), nextSuffix) {
		t.Errorf("got %v: the message names a relation the person never wrote", err)
	}
	if n := query[int](t, pool, `SELECT count(*) FROM pg_class WHERE relname IN ('sales', 'by_shop', 'top', 'sales__next', 'by_shop__next')`); n != 1 {
		t.Errorf("%d relations named like models, want only staging.sales: nothing was built", n)
	}
}

// TestChecksOnDemand runs the checks against the published relations, as
// 'percolate test' does.
func TestChecksOnDemand(t *testing.T) {
	pool := warehouse(t)
	g := graph(t, shop())
	deliver(t, pool, "a.csv", sale{"2022-03-01", "leeds", 10})
	if _, err := run(t, pool, g, Options{}); err != nil {
		t.Fatal(err)
	}
	results, err := Test(context.Background(), pool, g, Options{Select: []string{"marts.by_shop"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || len(Failed(results)) != 0 {
		t.Errorf("got %+v, want the two by_shop checks passing", results)
	}
}

// TestFailingCheckOnAWholeBuild: models built whole go first, each on its
// own connection and committed beside the live relations; a check that
// fails then still publishes nothing and leaves none of them behind.
func TestFailingCheckOnAWholeBuild(t *testing.T) {
	pool := warehouse(t)
	g := graph(t, shop())
	deliver(t, pool, "a.csv", sale{"2022-03-01", "leeds", 500})
	res, err := run(t, pool, g, Options{Workers: 2})
	if !errors.Is(err, ErrChecks) {
		t.Fatalf("got %v, want ErrChecks", err)
	}
	if failed := Failed(res.Checks); len(failed) != 1 || failed[0].Model != "marts.by_shop" {
		t.Errorf("failed checks: %+v, want the by_shop sql check", failed)
	}
	if n := query[int](t, pool, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('core', 'marts')`); n != 0 {
		t.Errorf("%d relations in core and marts after a failed first build, want none", n)
	}
	if n := query[int](t, pool, `SELECT count(*) FROM percolate.model_builds`); n != 0 {
		t.Errorf("ledger: %d builds recorded, want none", n)
	}
}

// warehouseSchema gives pool the ledger and the schemas a project's
// sources and models use, as a run does before its migrations.
func warehouseSchema(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := ledger.Migrate(ctx, pool); err != nil {
		return err
	}
	return migrate.EnsureSchemas(ctx, pool, []string{"staging"}, []string{"core", "marts"})
}

// sideBySide builds g and returns the most models its events had building
// at once, and how many it built.
func sideBySide(t *testing.T, pool *pgxpool.Pool, g *dag.Graph, opt Options) (most, built int) {
	t.Helper()
	var mu sync.Mutex
	running := 0
	opt.OnEvent = func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case ModelStarted:
			running++
			most = max(most, running)
		case ModelBuilt:
			running--
			built++
		}
	}
	if _, err := run(t, pool, g, opt); err != nil {
		t.Fatal(err)
	}
	return most, built
}

// apart is three models read from the staging table and from no other
// model: a build could make all three at once.
func apart() fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, name := range []string{"a", "b", "c"} {
		fsys["models/marts/"+name+".sql"] = &fstest.MapFile{Data: []byte("-- materialized: table\nSELECT shop, sum(total) AS total FROM staging.sales GROUP BY shop\n")}
	}
	return fsys
}

// TestBuildJobs: Options.Workers bounds how many models are built side
// by side.
func TestBuildJobs(t *testing.T) {
	pool := warehouse(t)
	deliver(t, pool, "a.csv", sale{"2022-03-01", "leeds", 10})
	most, built := sideBySide(t, pool, graph(t, apart()), Options{Workers: 1})
	if built != 3 || most != 1 {
		t.Errorf("built %d models, at most %d at once; want 3, one at a time", built, most)
	}
}

// TestParallelHelpers: a step alone uses the idle cores; otherwise each of
// the builds at once has its share of them, the whole machine when they
// go one at a time.
func TestParallelHelpers(t *testing.T) {
	for _, tc := range []struct {
		cores, workers int
		alone          bool
		want           int
	}{
		{2, 2, false, 0},
		{2, 2, true, 1},
		{4, 1, false, 3},
		{8, 2, false, 3},
		{2, 16, false, 0},
		{2, 16, true, 1},
		{1, 1, true, 0},
	} {
		if got := parallelHelpers(tc.cores, tc.workers, tc.alone); got != tc.want {
			t.Errorf("parallelHelpers(%d cores, %d at once, alone %v) = %d, want %d", tc.cores, tc.workers, tc.alone, got, tc.want)
		}
	}
}
