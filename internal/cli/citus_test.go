package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
)

// quarter writes a generated quarter of 10 branches' daily files (layout
// A), and returns the --source flags that load it, the sample data of
// ../shared/data with it when it is there.
func quarter(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	from := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: dir, Layout: generate.LayoutA, Branches: generate.Branches(10),
		From: from, To: from.AddDate(0, 3, -1), Orders: 12, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(root, "testdata/cafe/layout_b/*.csv")
	if samples(t, false) {
		for _, f := range []string{sampleA(t), sampleB(t)} {
			if err := copyFile(f, filepath.Join(dir, filepath.Base(f))); err != nil {
				t.Fatal(err)
			}
		}
		legacy = filepath.Join(dir, "*-isle-of-wight.csv")
	}
	return []string{"--source", "transactions=" + filepath.Join(dir, "*_*-*-*_*.csv"), "--source", "legacy_transactions=" + legacy}
}

// TestCitusMatchesPostgreSQL: the cafe pipeline on a coordinator and two
// workers gives the warehouse, row for row and to the penny, of the same
// run on plain PostgreSQL; its staging tables and models are distributed
// as declared, co-located; and a second run changes nothing.
func TestCitusMatchesPostgreSQL(t *testing.T) {
	citus := pgtest.CitusURL(t)
	plain := pgtest.URL(t)
	sources := quarter(t)
	r := mustRun(t, root, citus, append([]string{"run"}, sources...)...)
	if !strings.Contains(r.stdout, "engine:  Citus 13.") {
		t.Errorf("the summary does not say the warehouse runs on Citus:\n%s", r.stdout)
	}
	mustRun(t, root, plain, append([]string{"run"}, sources...)...)
	got, want := snapshot(t, citus), snapshot(t, plain)
	for rel, w := range want {
		if got[rel] != w {
			t.Errorf("%s: Citus %s, PostgreSQL %s", rel, got[rel], w)
		}
	}
	pool := connect(t, citus)
	dist := scalar[string](t, pool, `SELECT string_agg(logicalrelid::text || '=' || partmethod::text || coalesce(':' || column_to_column_name(logicalrelid, partkey), ''), ' ' ORDER BY logicalrelid::text)
		FROM pg_dist_partition`)
	for _, want := range []string{"staging.transactions=h:branch", "staging.transaction_item_sums=h:branch", "staging.legacy_transactions=h:branch",
		"marts.branch_daily_sales=h:branch", "marts.hourly_sales=h:branch", "marts.product_daily_sales=h:branch",
		"core.orders=h:branch", "core.order_items=h:branch", "core.product_days=n", "core.products=n", "core.branches=n"} {
		if !strings.Contains(dist, want) {
			t.Errorf("distribution %q lacks %s", dist, want)
		}
	}
	// Keys: unique indexes on the reference tables; on the sharded core
	// tables, whose keys leave the branch out, a plain index (the key's
	// unique check holds it).
	keys := scalar[string](t, pool, `SELECT string_agg(i, ', ' ORDER BY i) FROM (
		SELECT indrelid::regclass::text || (CASE WHEN indisunique THEN ' unique ' ELSE ' ' END) || pg_get_indexdef(indexrelid, 1, true) AS i
		FROM pg_index WHERE indrelid::regclass::text IN ('core.orders', 'core.order_items', 'core.products', 'core.branches')
		  AND pg_get_indexdef(indexrelid, 1, true) IN ('order_id', 'product_id', 'branch')) AS k`)
	if want := "core.branches unique branch, core.order_items order_id, core.order_items product_id, core.orders branch, core.orders order_id, core.products unique product_id"; keys != want {
		t.Errorf("indexes on the core's keys and references: %s, want %s", keys, want)
	}
	if n := scalar[int](t, pool, `SELECT count(DISTINCT colocationid)::int FROM pg_dist_partition WHERE partmethod = 'h'`); n != 1 {
		t.Errorf("the sharded tables are in %d co-location groups, want 1", n)
	}
	if r := mustRun(t, root, citus, append([]string{"run"}, sources...)...); !strings.Contains(r.stdout, "models:  0 built") {
		t.Errorf("a second run built models:\n%s", r.stdout)
	}
	if after := snapshot(t, citus); after["marts.branch_daily_sales"] != got["marts.branch_daily_sales"] {
		t.Error("a second run changed the marts")
	}
}

// TestCitusPushdown: the INSERT … SELECT of every mart and of the core
// order tables, as a run sends it
// for a day, runs on the workers: no pull of rows to the coordinator, no
// repartition.
func TestCitusPushdown(t *testing.T) {
	citus := pgtest.CitusURL(t)
	mustRun(t, root, citus, "run")
	pool := connect(t, citus)
	for _, mart := range []string{"marts.branch_daily_sales", "marts.hourly_sales", "marts.product_daily_sales", "core.orders", "core.order_items"} {
		r := mustRun(t, root, "postgres://unused", "models", "compile", mart)
		_, sql, ok := strings.Cut(r.stdout, " AS\n")
		if !ok {
			t.Fatalf("compile %s:\n%s", mart, r.stdout)
		}
		sql = strings.TrimSuffix(strings.TrimSpace(sql), ";")
		sql = strings.NewReplacer("__next", "", "'-infinity'::date", "'2022-03-01'::date", "'infinity'::date", "'2022-03-02'::date").Replace(sql)
		rows, err := pool.Query(context.Background(), "EXPLAIN INSERT INTO "+mart+"\n"+sql)
		if err != nil {
			t.Fatalf("%s: %v", mart, err)
		}
		var plan []string
		for rows.Next() {
			var l string
			rows.Scan(&l)
			plan = append(plan, l)
		}
		text := strings.Join(plan, "\n")
		if rows.Err() != nil || strings.Contains(text, "pull to coordinator") || strings.Contains(text, "repartition") || !strings.Contains(text, "Task Count") {
			t.Errorf("%s is not pushed down to the workers (%v):\n%s", mart, rows.Err(), text)
		}
	}
}

// TestCitusReadersNeverSeeATornDay: a day of a mart spans shards (its
// branches'). Runs deliver every branch's files for three days again and
// again, in two versions by turns, so that each run replaces the days on
// every shard; a reader summing each day meanwhile must see one version
// or the other, never some branches' rows of one and some of the other.
func TestCitusReadersNeverSeeATornDay(t *testing.T) {
	citus := pgtest.CitusURL(t)
	day := time.Date(2022, 5, 2, 0, 0, 0, 0, time.UTC)
	var versions [2]string
	for i := range versions {
		versions[i] = t.TempDir()
		if _, err := generate.Write(generate.Options{Dir: versions[i], Layout: generate.LayoutA, Branches: generate.Branches(8),
			From: day, To: day.AddDate(0, 0, 2), Orders: 30, Seed: uint64(5 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	none := "legacy_transactions=" + filepath.Join(t.TempDir(), "*.csv")
	stage := t.TempDir()
	// The reader reads the shards one after another, each a little slowly,
	// as a big table's would be: a publish that commits between two of its
	// shards would show, unless the publish keeps readers out of the table.
	cfg, err := pgxpool.ParseConfig(citus)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["citus.max_adaptive_executor_pool_size"] = "1"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	read := func() (map[string]string, error) {
		rows, err := pool.Query(context.Background(), `SELECT sales_date::text, count(*) || '/' || sum(revenue) FROM marts.branch_daily_sales
			WHERE pg_sleep(0.002) IS NOT NULL GROUP BY 1`)
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for rows.Next() {
			var d, s string
			rows.Scan(&d, &s)
			out[d] = s
		}
		return out, rows.Err()
	}
	var states [2]map[string]string // each version, published
	deliver := func(v int) {
		files, _ := filepath.Glob(filepath.Join(versions[v], "*.csv"))
		for _, f := range files {
			if err := copyFile(f, filepath.Join(stage, filepath.Base(f))); err != nil {
				t.Fatal(err)
			}
		}
		mustRun(t, root, citus, "run", "--source", "transactions="+filepath.Join(stage, "*.csv"), "--source", none, "--rehash")
		s, err := read()
		if err != nil {
			t.Fatal(err)
		}
		if states[v] == nil {
			states[v] = s
		}
	}
	deliver(0)
	deliver(1)
	stop := readWhile(read)
	for i := range 8 {
		deliver(i % 2)
	}
	seen, readErr := stop()
	if readErr != nil {
		t.Fatalf("a reader failed: %v", readErr)
	}
	if len(seen) < 8 {
		t.Fatalf("only %d reads during 8 runs: the test proves little", len(seen))
	}
	torn := 0
	for _, s := range seen {
		for d, v := range s {
			if v != states[0][d] && v != states[1][d] {
				torn++
			}
		}
	}
	if torn > 0 {
		t.Errorf("%d day(s) in %d reads were neither version whole: torn", torn, len(seen))
	}
}

// TestCitusGrafanaReadsMartsOnly: the read-only role reads the distributed
// marts through the coordinator, and nothing of staging or the ledger.
func TestCitusGrafanaReadsMartsOnly(t *testing.T) {
	citus := pgtest.CitusURL(t)
	t.Setenv(EnvReaderPassword, "grafana secret")
	mustRun(t, root, citus, "run")
	u := strings.Replace(citus, strings.SplitN(strings.TrimPrefix(citus, "postgres://"), "@", 2)[0], "percolate_grafana:grafana%20secret", 1)
	reader := connect(t, u)
	if n := scalar[int](t, reader, `SELECT count(*)::int FROM marts.branch_daily_sales`); n == 0 {
		t.Error("percolate_grafana reads no row of marts.branch_daily_sales")
	}
	for _, rel := range []string{"staging.transactions", "percolate.files", "core.orders"} {
		var n int
		if err := reader.QueryRow(context.Background(), "SELECT count(*) FROM "+rel).Scan(&n); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("percolate_grafana reads %s: %v", rel, err)
		}
	}
}

// TestCitusKilledMidBuild: a run whose build is held at a mart is killed
// (SIGKILL); the same run again leaves the warehouse a clean run makes,
// and no prepared transaction is left on any node once Citus has
// recovered them.
func TestCitusKilledMidBuild(t *testing.T) {
	citus := pgtest.CitusURL(t)
	data := t.TempDir()
	day := time.Date(2022, 6, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: data, Layout: generate.LayoutA, Branches: generate.Branches(4), From: day, To: day.AddDate(0, 0, 3), Orders: 25, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	none := "legacy_transactions=" + filepath.Join(t.TempDir(), "*.csv")
	mustRun(t, root, citus, "run", "--source", "transactions="+filepath.Join(data, "*_01-06-2022_*.csv"), "--source", none)
	all := "transactions=" + filepath.Join(data, "*.csv")
	pool := connect(t, citus)
	release, _ := holdTable(t, pool, "marts.hourly_sales")
	cmd, done := startPercolate(t, "--database-url", citus, "-C", root, "run", "--source", all, "--source", none)
	defer cmd.Process.Kill()
	// The build waits for the held mart, on the coordinator or on a
	// worker's shard: Citus sees both (citus_lock_waits).
	pgtest.Eventually(t, 2*time.Minute, "the run's build to wait for the held mart", func() bool {
		select {
		case <-done:
			t.Fatal("the run ended before its build reached the held mart")
		default:
		}
		return scalar[int](t, pool, `SELECT (SELECT count(*) FROM pg_locks WHERE NOT granted) + (SELECT count(*) FROM citus_lock_waits)`) > 0
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-done
	release()
	mustRun(t, root, citus, "run", "--source", all, "--source", none)
	clean := pgtest.URL(t)
	mustRun(t, root, clean, "run", "--source", all, "--source", none)
	got, want := snapshot(t, citus), snapshot(t, clean)
	for rel, w := range want {
		if got[rel] != w {
			t.Errorf("%s: after the kill and a rerun %s, a clean run %s", rel, got[rel], w)
		}
	}
	scalar[int](t, pool, `SELECT recover_prepared_transactions()`)
	nodes := scalar[string](t, pool, `SELECT string_agg(nodeport::text, ',') FROM pg_dist_node`)
	for _, port := range strings.Split(nodes, ",") {
		u := strings.Replace(citus, ":"+strings.Split(strings.Split(citus, ":")[3], "/")[0]+"/", ":"+port+"/", 1)
		if n := scalar[int](t, connect(t, u), `SELECT count(*)::int FROM pg_prepared_xacts`); n != 0 {
			t.Errorf("node %s: %d prepared transactions left", port, n)
		}
	}
}

// TestCitusDiffAndUnitTests: a diff on Citus builds the edited model as a
// distributed table beside the live one, compares, and rolls back; the
// unit tests run there as on plain PostgreSQL.
func TestCitusDiffAndUnitTests(t *testing.T) {
	citus := pgtest.CitusURL(t)
	dir := tempProject(t)
	pool := connect(t, citus)
	mustRun(t, dir, citus, "run")
	mustRun(t, dir, citus, "test", "--unit")
	edit(t, filepath.Join(dir, "models/marts/branch_daily_sales.sql"), "FILTER (WHERE payment_method = 'CARD')", "FILTER (WHERE payment_method IN ('CARD', 'CASH'))")
	before := checksums(t, pool)
	r := mustRun(t, dir, citus, "diff", "--select", "marts.branch_daily_sales")
	cashDays := scalar[int64](t, pool, "SELECT count(*) FROM marts.branch_daily_sales WHERE cash_revenue > 0")
	if want := fmt.Sprintf("values changed: card_revenue %d\n", cashDays); cashDays == 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("want %q in:\n%s", want, r.stdout)
	}
	sameRelations(t, before, checksums(t, pool))
}
