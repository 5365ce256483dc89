package warehouse

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pgtest"
)

// settings returns what SetBuild and then SetHelpers(helpers) leave set
// in a build transaction: name=value, "" for a setting not there.
func settings(t *testing.T, pool *pgxpool.Pool, e *Engine, helpers int) string {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := e.SetBuild(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := e.SetHelpers(ctx, tx, helpers); err != nil {
		t.Fatal(err)
	}
	return scalar[string](t, tx, `SELECT string_agg(s || '=' || coalesce(current_setting(s, true), ''), ' ')
		FROM unnest('{enable_nestloop,jit,max_parallel_workers_per_gather,citus.multi_shard_modify_mode}'::text[]) AS s`)
}

// TestSettings: a build runs without nested loops or JIT, with helpers
// only on plain PostgreSQL, and with Citus's sequential mode only on
// Citus.
func TestSettings(t *testing.T) {
	pool, _ := pgtest.Pool(t)
	e := detect(t, pool)
	for _, c := range []struct {
		helpers int
		want    string
	}{
		{0, "enable_nestloop=off jit=off max_parallel_workers_per_gather=0 citus.multi_shard_modify_mode="},
		{2, "enable_nestloop=off jit=off max_parallel_workers_per_gather=2 citus.multi_shard_modify_mode="},
	} {
		if got := settings(t, pool, e, c.helpers); got != c.want {
			t.Errorf("%d helpers: got %s, want %s", c.helpers, got, c.want)
		}
	}
}

// TestCitusSettings: on Citus a build's multi-shard statements run one
// connection per worker, and it takes no helpers.
func TestCitusSettings(t *testing.T) {
	pool, _ := citus(t)
	want := "enable_nestloop=off jit=off max_parallel_workers_per_gather=0 citus.multi_shard_modify_mode=sequential"
	if got := settings(t, pool, detect(t, pool), 2); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestCitusSettingsReachTheWorkers: the build's settings hold on the
// workers' connections of a build transaction, where the shards are read
// (a multi-shard query's target list runs there), and so do the lookups a
// check of a few days turns on and off (SetLookups). (That the role a build
// takes after them stays the coordinator's, the cli's Citus tests show:
// their reference tables are made as the models' role.)
func TestCitusSettingsReachTheWorkers(t *testing.T) {
	ctx := context.Background()
	pool, _ := citus(t)
	e := detect(t, pool)
	exec(t, pool, "CREATE TABLE d (k int, n int)")
	if err := e.Distribute(ctx, pool, "d", "k"); err != nil {
		t.Fatal(err)
	}
	exec(t, pool, "INSERT INTO d SELECT i, i FROM generate_series(1, 100) AS i")
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := e.SetBuild(ctx, tx); err != nil {
		t.Fatal(err)
	}
	const on = `SELECT string_agg(DISTINCT current_setting('enable_nestloop') || ' ' || current_setting('jit') || ' ' || current_setting('work_mem'), ',') FROM d`
	if got, want := scalar[string](t, tx, on), "off off 128MB"; got != want {
		t.Errorf("the shards' settings: got %s, want %s", got, want)
	}
	// A check of a few days looks its references up one by one, on the
	// workers too; and then no longer.
	for _, lookups := range []bool{true, false} {
		if err := e.SetLookups(ctx, tx, lookups); err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{true: "on off 128MB", false: "off off 128MB"}[lookups]
		if got := scalar[string](t, tx, on); got != want {
			t.Errorf("the shards' settings after SetLookups(%t): got %s, want %s", lookups, got, want)
		}
	}
}

// TestAnalyzeSample: a table is analyzed from a small sample (its
// histograms have at most 11 bounds, where the default target makes up to
// 101), on Citus on every shard: the workers analyze them.
func TestAnalyzeSample(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		pool   func(t *testing.T) *pgxpool.Pool
		bounds string
	}{
		{"PostgreSQL", func(t *testing.T) *pgxpool.Pool { p, _ := pgtest.Pool(t); return p },
			`SELECT max(array_length(histogram_bounds::text::int[], 1))::text FROM pg_stats WHERE tablename = 'd' AND attname = 'n'`},
		{"Citus", func(t *testing.T) *pgxpool.Pool { p, _ := citus(t); return p },
			`SELECT string_agg(DISTINCT result, ',') FROM run_command_on_shards('d', $$SELECT coalesce(max(array_length(histogram_bounds::text::int[], 1)), 0) FROM pg_stats WHERE (schemaname || '.' || tablename)::regclass = '%s'::regclass AND attname = 'n'$$)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			pool := c.pool(t)
			e := detect(t, pool)
			exec(t, pool, "CREATE TABLE d (k int, n int)")
			if err := e.Distribute(ctx, pool, "d", "k"); err != nil {
				t.Fatal(err)
			}
			exec(t, pool, "INSERT INTO d SELECT i, i FROM generate_series(1, 100000) AS i")
			if err := e.AnalyzeSample(ctx, pool, "d"); err != nil {
				t.Fatal(err)
			}
			if got := scalar[string](t, pool, c.bounds); got != "11" {
				t.Errorf("histogram bounds: got %s, want 11 on every table analyzed", got)
			}
		})
	}
}

// distribution is how Citus spreads each table named: table=method[:column].
func distribution(t *testing.T, q Querier) string {
	t.Helper()
	return scalar[string](t, q, `SELECT coalesce(string_agg(logicalrelid::text || '=' || partmethod::text || coalesce(':' || column_to_column_name(logicalrelid, partkey), ''), ' ' ORDER BY logicalrelid::text), '')
		FROM pg_dist_partition`)
}

// TestDistribute: plain PostgreSQL ignores distribution (it has no
// create_distributed_table to call).
func TestDistribute(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.Pool(t)
	e := detect(t, pool)
	exec(t, pool, "CREATE TABLE a (k text, n int); CREATE TABLE b (k text)")
	for name, err := range map[string]error{
		"distribute":        e.Distribute(ctx, pool, "a", "k"),
		"reference":         e.Reference(ctx, pool, "b"),
		"distribute loaded": e.DistributeLoaded(ctx, pool, "a", "k"),
	} {
		if err != nil {
			t.Errorf("%s: got %v, want nothing done", name, err)
		}
	}
}

// TestCitusDistribute: empty tables are sharded by their column or
// copied whole; a table with rows is sharded once, keeping them, and
// found sharded the next time.
func TestCitusDistribute(t *testing.T) {
	ctx := context.Background()
	pool, _ := citus(t)
	e := detect(t, pool)
	exec(t, pool, "CREATE TABLE a (k text, n int); CREATE TABLE b (k text); CREATE TABLE c (k text, n int); INSERT INTO c VALUES ('x', 1), ('y', 2)")
	if err := e.Distribute(ctx, pool, "a", "k"); err != nil {
		t.Fatal(err)
	}
	if err := e.Reference(ctx, pool, "b"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.DistributeLoaded(ctx, pool, "c", "k"); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := distribution(t, pool), "a=h:k b=n c=h:k"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := scalar[int64](t, pool, "SELECT sum(n) FROM c"); got != 3 {
		t.Errorf("c's rows sum to %d after distributing, want 3", got)
	}
	if err := e.Distribute(ctx, pool, "missing", "k"); err == nil || !strings.Contains(err.Error(), "distribute missing by k") {
		t.Errorf("got %v, want an error naming the table", err)
	}
}

// brin lists the BRIN indexes, and counts the ledger's records of
// deferred ones.
func brin(t *testing.T, q Querier) string {
	t.Helper()
	return scalar[string](t, q, `SELECT coalesce((SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam WHERE am.amname = 'brin'), '')
		|| ' recorded:' || (SELECT count(*) FROM percolate.deferred_indexes)`)
}

// TestDeferIndexes: the BRIN indexes go, recorded, and come back with
// their records gone; the other indexes stay; a table another
// transaction reads keeps its indexes.
func TestDeferIndexes(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.Pool(t)
	if _, err := ledger.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	e := detect(t, pool)
	exec(t, pool, `CREATE SCHEMA s; CREATE TABLE s.a (d date, k int PRIMARY KEY); CREATE INDEX a_d ON s.a USING brin (d);
		CREATE TABLE s.b (d date); CREATE INDEX b_d ON s.b USING brin (d); CREATE TABLE s.c (d date); CREATE INDEX c_d ON s.c USING brin (d)`)
	const all = "a_d,b_d,c_d recorded:0"
	for _, c := range []struct {
		name, during string
		dropped      bool
	}{
		{"two of three", "c_d recorded:2", true},
		{"again", "c_d recorded:2", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dropped, err := e.DeferIndexes(ctx, pool, []string{"s.a", "s.b"})
			if err != nil || dropped != c.dropped {
				t.Fatalf("got %v, %v; want %v", dropped, err, c.dropped)
			}
			if got := brin(t, pool); got != c.during {
				t.Errorf("deferred: got %s, want %s", got, c.during)
			}
			if got := scalar[int](t, pool, "SELECT count(*) FROM pg_indexes WHERE indexname = 'a_pkey'"); got != 1 {
				t.Errorf("a has %d primary key indexes, want 1", got)
			}
			if err := RestoreIndexes(ctx, pool); err != nil {
				t.Fatal(err)
			}
			if got := brin(t, pool); got != all {
				t.Errorf("restored: got %s, want %s", got, all)
			}
		})
	}
	t.Run("in use", func(t *testing.T) {
		tx, err := pool.BeginTx(ctx, pgx.TxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		exec(t, tx, "LOCK TABLE s.b IN ACCESS SHARE MODE")
		dropped, err := e.DeferIndexes(ctx, pool, []string{"s.a", "s.b"})
		if err != nil || dropped {
			t.Fatalf("got %v, %v; want nothing dropped, no error", dropped, err)
		}
		if got := brin(t, pool); got != all {
			t.Errorf("got %s, want %s", got, all)
		}
	})
}

// TestCitusDeferIndexes: on Citus the indexes stay (each shard has its
// own).
func TestCitusDeferIndexes(t *testing.T) {
	ctx := context.Background()
	pool, _ := citus(t)
	if _, err := ledger.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	e := detect(t, pool)
	exec(t, pool, "CREATE TABLE a (d date); CREATE INDEX a_d ON a USING brin (d)")
	dropped, err := e.DeferIndexes(ctx, pool, []string{"a"})
	if err != nil || dropped {
		t.Fatalf("got %v, %v; want nothing dropped", dropped, err)
	}
	if got, want := brin(t, pool), "a_d recorded:0"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestCitusSetPassword: Citus is given the role's password once, quoted,
// and plain PostgreSQL has no pg_dist_authinfo to give it to.
func TestCitusSetPassword(t *testing.T) {
	ctx := context.Background()
	plain, _ := pgtest.Pool(t)
	if err := detect(t, plain).SetPassword(ctx, plain, "r", "pw"); err != nil {
		t.Errorf("plain PostgreSQL: got %v, want nothing done", err)
	}
	pool, _ := citus(t)
	e := detect(t, pool)
	exec(t, pool, "CREATE ROLE r")
	t.Cleanup(func() { pool.Exec(context.Background(), "DROP ROLE IF EXISTS r") })
	for _, pw := range []string{`it's\`, `it's\`, "other"} {
		if err := e.SetPassword(ctx, pool, "r", pw); err != nil {
			t.Fatal(err)
		}
		want := "password='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "'"
		if got := scalar[string](t, pool, "SELECT string_agg(authinfo, ' ') FROM pg_dist_authinfo WHERE rolename = 'r'"); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

// TestCitusColocation: a model's table joins the shards of the tables
// already sharded by a column of its type, whatever citus.shard_count
// says now; a column of a type none is sharded by takes the setting.
func TestCitusColocation(t *testing.T) {
	ctx := context.Background()
	pool, _ := citus(t)
	e := detect(t, pool)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	exec(t, conn, `SET citus.shard_count = 4; CREATE TABLE staged (k text); CREATE TABLE model (k text, n int); CREATE TABLE other (n int);
		CREATE TABLE sorted (k text COLLATE "C")`)
	if err := e.DistributeLoaded(ctx, conn, "staged", "k"); err != nil {
		t.Fatal(err)
	}
	exec(t, conn, "SET citus.shard_count = 6")
	// A column of another collation cannot join staged's shards: Citus
	// refuses to co-locate it, so it takes the setting too.
	for _, tc := range [][2]string{{"model", "k"}, {"other", "n"}, {"sorted", "k"}} {
		if err := e.Distribute(ctx, conn, tc[0], tc[1]); err != nil {
			t.Fatal(err)
		}
	}
	got := scalar[string](t, conn, `SELECT string_agg(format('%s:%s', logicalrelid, (SELECT count(*) FROM pg_dist_shard s WHERE s.logicalrelid = p.logicalrelid)), ' ' ORDER BY logicalrelid::text)
		|| ' ' || (SELECT count(DISTINCT colocationid) FROM pg_dist_partition WHERE logicalrelid IN ('staged'::regclass, 'model'::regclass))
		FROM pg_dist_partition AS p WHERE logicalrelid IN ('staged'::regclass, 'model'::regclass, 'other'::regclass, 'sorted'::regclass)`)
	if want := "model:4 other:6 sorted:6 staged:4 1"; got != want {
		t.Errorf("got %s, want %s (tables:shards, then the groups of staged and model)", got, want)
	}
}
