package build

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
)

// TestCitusIndexesAfterTheRows: on Citus a model's table is filled, then
// indexed: each shard's key index is built in one pass over its rows, its
// leaves packed as CREATE INDEX packs them (90%), where an index there
// before the rows, split page by page as random keys came in, is left
// about two thirds full. Each shard is then analyzed from its share of
// one server's sample.
func TestCitusIndexesAfterTheRows(t *testing.T) {
	ctx := context.Background()
	pool, u := citusWarehouse(t)
	g := graph(t, fstest.MapFS{"models/core/items.sql": {Data: []byte(`-- materialized: table
-- key: id
-- distributed_by: shop
SELECT md5(i::text)::uuid AS id, 'shop' || (i % 4) AS shop FROM generate_series(1, 40000) AS i
`)}})
	if _, err := run(t, pool, g, Options{}); err != nil {
		t.Fatal(err)
	}
	// Made on the coordinator, which creates it on the workers.
	if _, err := pool.Exec(ctx, "CREATE EXTENSION pgstattuple"); err != nil {
		t.Fatal(err)
	}
	workers, err := pg.CitusWorkers(ctx, u)
	if err != nil || len(workers) == 0 {
		t.Fatalf("got workers %v, %v", workers, err)
	}
	shards := 0
	for i, w := range workers {
		conn, err := pgx.Connect(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		// A worker hides the shards from a client unless told not to.
		if _, err := conn.Exec(ctx, "SET citus.override_table_visibility = off"); err != nil {
			t.Fatal(err)
		}
		// Each shard sampled for its share of one server's statistics:
		// a histogram of 11 bounds (a target of 10), not the default's 101.
		var bounds int
		if err := conn.QueryRow(ctx, `SELECT coalesce(max(cardinality(histogram_bounds::text::text[])), 0) FROM pg_stats
			WHERE schemaname = 'core' AND tablename LIKE 'items\_%' AND attname = 'id'`).Scan(&bounds); err != nil {
			t.Fatal(err)
		}
		if bounds == 0 || bounds > 11 {
			t.Errorf("worker %d: shards' histograms of id have up to %d bounds, want 1 to 11 (sampled for a share of one server's statistics)", i+1, bounds)
		}
		rows, err := conn.Query(ctx, `SELECT c.relname, (pgstatindex(c.oid)).avg_leaf_density
			FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class r ON r.oid = i.indrelid
			JOIN pg_namespace n ON n.oid = r.relnamespace
			WHERE n.nspname = 'core' AND r.relname LIKE 'items\_%' AND pg_relation_size(r.oid) > 8192 * 20
			  AND pg_get_indexdef(i.indexrelid) LIKE '%(id)'`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			var density float64
			if err := rows.Scan(&name, &density); err != nil {
				t.Fatal(err)
			}
			shards++
			if density < 85 {
				t.Errorf("%s: leaves %.0f%% full, want about 90%% (built after the rows)", name, density)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if shards == 0 {
		t.Fatalf("no shard of core.items with rows found on %d workers", len(workers))
	}
}

// TestCitusUniqueAcrossShards: on Citus a key without the distribution
// column is held by its unique check, narrowed to the rows whose key
// hashes to a repeated value; a key repeated on two shards (two shops),
// or twice NULL, is still found, whole, and a key held builds.
func TestCitusUniqueAcrossShards(t *testing.T) {
	pool, _ := citusWarehouse(t)
	if _, err := pool.Exec(context.Background(), "CREATE DOMAIN public.amount AS numeric; CREATE DOMAIN public.amount2 AS public.amount"); err != nil {
		t.Fatal(err)
	}
	model := func(ids string) fstest.MapFS {
		return fstest.MapFS{"models/core/items.sql": {Data: []byte(`-- materialized: table
-- key: id
-- distributed_by: shop
-- check: unique(id)
SELECT ` + ids + ` AS id, 'shop' || (i % 4) AS shop FROM generate_series(1, 4000) AS i
`)}}
	}
	for _, tc := range []struct {
		name, ids string
		want      string // in the error; "" for a build
	}{
		{"held", "i", ""},
		{"repeated on two shards", "CASE WHEN i IN (1, 2) THEN 0 ELSE i END", `"id": 0`},
		{"repeated NULL", "CASE WHEN i IN (5, 10) THEN NULL ELSE i END", `"id": null`},
		// Hashed as they are: a uuid, an array; equal values written two
		// ways (text would hash them apart).
		{"repeated uuid", "md5((CASE WHEN i IN (3, 6) THEN 0 ELSE i END)::text)::uuid", `"id": "cfcd2084-95d5-65ef-66e7-dff9f98764da"`},
		{"repeated array", "ARRAY[CASE WHEN i IN (7, 9) THEN 0 ELSE i END]", `"id": [0]`},
		{"repeated numeric written two ways", "CASE i WHEN 3 THEN 1.0 WHEN 6 THEN 1.00 ELSE i + 10 END", `"copies": 2`},
		{"repeated array written two ways", "ARRAY[CASE i WHEN 3 THEN 1.0 WHEN 6 THEN 1.00 ELSE i + 10 END]", `"copies": 2`},
		// No hash of its own (a domain over a domain): checked whole.
		{"repeated domain over a domain", "(CASE i WHEN 3 THEN 1.0 WHEN 6 THEN 1.00 ELSE i + 10 END)::public.amount2", `"copies": 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, pool, graph(t, model(tc.ids)), Options{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want a build", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "unique")):
				t.Fatalf("got %v, want the key's unique check failing on %s", err, tc.want)
			}
		})
	}
}

// TestCitusUniqueByShard: on Citus a unique check whose columns leave out
// the distribution column, but one of which is checked (error severity)
// to match, shard for shard, a column of a table sharded alike whose
// unique check runs whole in the same build, is grouped by shard; a
// repeat in one shop, or of NULL across shops, is still found, and so is
// a repeat across shops when the match is only a warning, or when the
// orders are not built again (their uniqueness then unchecked by this
// build): the check is then grouped across shards, as any.
func TestCitusUniqueByShard(t *testing.T) {
	pool, _ := citusWarehouse(t)
	// version makes the orders' SQL new, so that they are built again.
	models := func(version, severity, extra string) fstest.MapFS {
		return fstest.MapFS{
			"models/core/orders.sql": {Data: []byte(`-- materialized: table
-- key: id
-- distributed_by: shop
-- check: unique(id)
SELECT i AS id, 'shop' || (i % 4) AS shop FROM generate_series(1, 1000) AS i WHERE '` + version + `' <> ''
`)},
			"models/core/lines.sql": {Data: []byte(`-- materialized: table
-- key: order_id, n
-- distributed_by: shop
-- check: unique(order_id, n)
-- check: relationships(order_id -> core.orders.id)` + severity + `
SELECT o.id AS order_id, n, o.shop FROM core.orders AS o, generate_series(1, 3) AS n
` + extra)},
		}
	}
	for _, tc := range []struct {
		name, version, severity, extra string
		want                           []string // in the error; none for a build
		not                            string   // not in the error
	}{
		{"held", "a", "", "", nil, ""},
		{"repeated in a shop", "b", "", "UNION ALL SELECT 1, 1, 'shop1'", []string{"unique", `"order_id": 1`}, ""},
		{"repeated NULL", "c", "", "UNION ALL SELECT NULL, 1, 'shop0' UNION ALL SELECT NULL, 1, 'shop2'", []string{"unique", `"order_id": null`}, ""},
		// The line in shop2 matches no order of shop2: the match fails,
		// which is what the build reports; grouped by shop, the unique
		// check itself finds nothing (grouped across shards, it would).
		{"repeated across shops", "d", "", "UNION ALL SELECT 1, 1, 'shop2'", []string{"relationships"}, "unique(order_id, n)"},
		// The orders as published ("a"): not built, not checked here.
		{"repeated across shops, orders not built", "a", "", "UNION ALL SELECT 1, 1, 'shop2'", []string{"relationships", "unique(order_id, n)", `"copies": 2`}, ""},
		{"repeated across shops, matched as a warning", "e", " [warn]", "UNION ALL SELECT 1, 1, 'shop2'", []string{"unique", `"order_id": 1`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, pool, graph(t, models(tc.version, tc.severity, tc.extra)), Options{})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v, want a build", err)
				}
				return
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("got %v, want a failing check saying %s", err, w)
				}
			}
			if tc.not != "" && strings.Contains(err.Error(), tc.not) {
				t.Errorf("got %v, want %s not failing (grouped by shard)", err, tc.not)
			}
		})
	}
}

// citusWarehouse connects to a new Citus database holding the warehouse's
// schemas and a staging table, and returns its URL too.
func citusWarehouse(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := context.Background()
	u := pgtest.CitusURL(t)
	pool, err := pg.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := warehouseSchema(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE staging.sales (load_id bigint, sales_date date, shop text, total numeric(10,2))`); err != nil {
		t.Fatal(err)
	}
	return pool, u
}

// TestCitusSpares: on Citus a distributed or reference model's table that
// a publish replaces is kept, emptied and without its indexes, as its
// spare, where readers cannot see it (two models of one name in two
// schemas too), and the next whole build fills it again rather than
// making a table anew (no shard made, one index, not two). A spare that is
// not what a table made anew would be is dropped and a table made: the
// model's columns or distribution changed, or a grant was added by hand. A
// table a view outside the models reads is not kept, and the publish
// fails on it as before; a spare no model takes any more is dropped.
func TestCitusSpares(t *testing.T) {
	ctx := context.Background()
	pool, _ := citusWarehouse(t)
	for _, stmt := range []string{
		"SELECT create_distributed_table('staging.sales', 'shop')",
		"INSERT INTO staging.sales VALUES (1, '2024-01-01', 'a', 10), (1, '2024-01-01', 'b', 20), (1, '2024-01-02', 'a', 5)",
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	const sums = `-- materialized: table
-- %s
-- index: total
SELECT shop, sum(total) AS total%s FROM staging.sales GROUP BY shop
`
	shops := fstest.MapFile{Data: []byte(`-- materialized: table
-- distribution: reference
SELECT DISTINCT shop FROM staging.sales
`)}
	models := func(cols, dist string) fstest.MapFS {
		return fstest.MapFS{
			"models/marts/by_shop.sql": {Data: []byte(fmt.Sprintf(sums, dist, cols))},
			"models/core/by_shop.sql":  {Data: []byte(fmt.Sprintf(sums, "distributed_by: shop", ""))},
			"models/core/shops.sql":    &shops,
		}
	}
	build := func(g *dag.Graph) {
		t.Helper()
		if _, err := run(t, pool, g, Options{FullRefresh: true}); err != nil {
			t.Fatal(err)
		}
	}
	oid := func(rel string) uint32 {
		t.Helper()
		return scalarOf[uint32](t, pool, "SELECT coalesce(to_regclass($1)::oid, 0)", rel)
	}
	const bySpare, shopsSpare = `percolate_spare."marts.by_shop"`, `percolate_spare."core.shops"`
	g := graph(t, models("", "distributed_by: shop"))
	build(g)
	live, ref := oid("marts.by_shop"), oid("core.shops")
	if got := oid(bySpare); got != 0 {
		t.Fatalf("first build: a spare of marts.by_shop (%d) before any was replaced", got)
	}
	build(g)
	if oid(bySpare) != live || oid(shopsSpare) != ref || oid(`percolate_spare."core.by_shop"`) == 0 {
		t.Fatalf("second build: spares %d and %d, want the replaced tables %d and %d", oid(bySpare), oid(shopsSpare), live, ref)
	}
	if n := scalarOf[int64](t, pool, "SELECT (SELECT count(*) FROM "+bySpare+") + (SELECT count(*) FROM "+shopsSpare+")"); n != 0 {
		t.Errorf("the spares hold %d rows, want none", n)
	}
	second, shards := oid("marts.by_shop"), scalarOf[int64](t, pool, "SELECT count(*) FROM pg_dist_shard")
	build(g)
	if oid("marts.by_shop") != live || oid("core.shops") != ref {
		t.Errorf("third build: tables %d and %d, want the spares %d and %d taken back", oid("marts.by_shop"), oid("core.shops"), live, ref)
	}
	if oid(bySpare) != second {
		t.Errorf("third build: spare %d, want the second build's table %d", oid(bySpare), second)
	}
	if got := scalarOf[int64](t, pool, "SELECT count(*) FROM pg_dist_shard"); got != shards {
		t.Errorf("third build: %d shards, want the %d there were (none made)", got, shards)
	}
	if got := scalarOf[string](t, pool, "SELECT string_agg(shop || ' ' || total, ', ' ORDER BY shop) FROM marts.by_shop"); got != "a 15.00, b 20.00" {
		t.Errorf("marts.by_shop: %s, want a 15.00, b 20.00", got)
	}
	if got := scalarOf[int64](t, pool, "SELECT count(*) FROM pg_index WHERE indrelid = 'marts.by_shop'::regclass"); got != 1 {
		t.Errorf("marts.by_shop has %d indexes, want 1", got)
	}
	if scalarOf[bool](t, pool, "SELECT has_schema_privilege('percolate_grafana', 'percolate_spare', 'USAGE') OR EXISTS (SELECT FROM pg_namespace, aclexplode(nspacl) AS a WHERE nspname = 'percolate_spare' AND a.grantee = 0)") {
		t.Error("readers may look into percolate_spare")
	}

	// A grant by hand stays with its table: not the next build's, nor,
	// made anew, the one after.
	if _, err := pool.Exec(ctx, "GRANT SELECT ON core.shops TO percolate_grafana"); err != nil {
		t.Fatal(err)
	}
	granted := oid("core.shops")
	for i := range 2 {
		build(g)
		if scalarOf[bool](t, pool, "SELECT has_table_privilege('percolate_grafana', 'core.shops', 'SELECT')") || oid("core.shops") == granted {
			t.Errorf("build %d after a grant by hand: core.shops (%d, granted %d) has the grant", i+1, oid("core.shops"), granted)
		}
	}

	// Another distribution, then a column more: the spare does not fit, a
	// table is made anew.
	for _, c := range []struct{ cols, dist, method string }{
		{"", "distribution: reference", "n"},
		{", count(*) AS sales", "distribution: reference", "n"},
	} {
		spare, was := oid(bySpare), oid("marts.by_shop")
		g = graph(t, models(c.cols, c.dist))
		build(g)
		if got := oid("marts.by_shop"); got == spare || got == was {
			t.Errorf("%s%s: marts.by_shop is %d, a table kept (%d or %d), want one made anew", c.dist, c.cols, got, spare, was)
		}
		if got := scalarOf[string](t, pool, "SELECT partmethod::text FROM pg_dist_partition WHERE logicalrelid = 'marts.by_shop'::regclass"); got != c.method {
			t.Errorf("%s%s: marts.by_shop distributed by method %s, want %s", c.dist, c.cols, got, c.method)
		}
		if got := scalarOf[string](t, pool, "SELECT sum(total)::text FROM marts.by_shop"); got != "35.00" {
			t.Errorf("%s%s: the model sums %s, want 35.00", c.dist, c.cols, got)
		}
	}

	// A view the models do not make keeps the table from being kept, and
	// the publish fails, naming it, as it does on one server.
	if _, err := pool.Exec(ctx, "CREATE VIEW public.shops_seen AS SELECT * FROM core.shops"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, pool, g, Options{FullRefresh: true}); err == nil || !strings.Contains(err.Error(), "shops_seen") {
		t.Errorf("a publish replacing a table a view reads: %v, want it refused, naming the view", err)
	}
	if _, err := pool.Exec(ctx, "DROP VIEW public.shops_seen"); err != nil {
		t.Fatal(err)
	}
	build(g) // the failed run used the spare it took back; one again

	// The by_shop models gone from the project: their spares go at the
	// next run, and core.shops takes its own back.
	kept := oid(shopsSpare)
	g = graph(t, fstest.MapFS{"models/core/shops.sql": &shops})
	build(g)
	if got := oid(bySpare); got != 0 {
		t.Errorf("the spare of a model gone is still there (%d)", got)
	}
	if got := oid("core.shops"); got != kept {
		t.Errorf("core.shops is %d, want its spare %d taken back", got, kept)
	}
}

// scalarOf is the one value query returns.
func scalarOf[T any](t *testing.T, pool *pgxpool.Pool, query string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

// TestCitusBuildsOneAtATime: on Citus a build makes one model at a time
// by default (warehouse.Engine.BuildsAtOnce), since each statement runs on
// every worker already.
func TestCitusBuildsOneAtATime(t *testing.T) {
	pool, _ := citusWarehouse(t)
	if _, err := pool.Exec(context.Background(), `INSERT INTO staging.sales VALUES (1, '2022-03-01', 'leeds', 10)`); err != nil {
		t.Fatal(err)
	}
	most, built := sideBySide(t, pool, graph(t, apart()), Options{})
	if built != 3 || most != 1 {
		t.Errorf("built %d models, at most %d at once; want 3, one at a time", built, most)
	}
}

// TestCitusSparesInAnOlderWarehouse: a warehouse built before spares has
// no percolate_spare. Its next publish replaces an incremental model's
// days on every shard, then parks a table it replaces: the schema is made
// before the publish (Citus makes a schema on the workers only in a
// transaction that has run no multi-shard statement yet), and the table
// moves there on every node.
func TestCitusSparesInAnOlderWarehouse(t *testing.T) {
	ctx := context.Background()
	pool, _ := citusWarehouse(t)
	if _, err := pool.Exec(ctx, "SELECT create_distributed_table('staging.sales', 'shop')"); err != nil {
		t.Fatal(err)
	}
	g := graph(t, fstest.MapFS{
		"models/core/sales.sql": {Data: []byte(`-- materialized: incremental
-- time_column: sales_date
-- distributed_by: shop
SELECT sales_date, shop, total FROM staging.sales
WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
`)},
		"models/marts/by_shop.sql": {Data: []byte(`-- materialized: table
-- distributed_by: shop
SELECT shop, sum(total) AS total FROM staging.sales GROUP BY shop
`)},
	})
	deliver(t, pool, "a.csv", sale{"2024-01-01", "a", 10}, sale{"2024-01-01", "b", 20})
	if _, err := run(t, pool, g, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS percolate_spare CASCADE"); err != nil {
		t.Fatal(err)
	}
	live := scalarOf[uint32](t, pool, "SELECT 'marts.by_shop'::regclass::oid")
	deliver(t, pool, "b.csv", sale{"2024-01-02", "a", 5})
	if _, err := run(t, pool, g, Options{}); err != nil {
		t.Fatalf("the publish after the schema was dropped: %v", err)
	}
	if got := scalarOf[uint32](t, pool, `SELECT coalesce(to_regclass('percolate_spare."marts.by_shop"')::oid, 0)`); got != live {
		t.Errorf("spare %d, want the replaced table %d", got, live)
	}
	if got := scalarOf[string](t, pool, "SELECT string_agg(shop || ' ' || total, ', ' ORDER BY shop) FROM marts.by_shop"); got != "a 15.00, b 20.00" {
		t.Errorf("marts.by_shop: %s, want a 15.00, b 20.00", got)
	}
	if got := scalarOf[int64](t, pool, "SELECT count(*) FROM core.sales"); got != 3 {
		t.Errorf("core.sales: %d rows, want 3", got)
	}
}
