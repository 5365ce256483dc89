package build

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
