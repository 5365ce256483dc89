package build

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
)

// TestCitusIndexesAfterTheRows: on Citus a model's table is filled, then
// indexed: each shard's key index is built in one pass over its rows, its
// leaves packed as CREATE INDEX packs them (90%), where an index there
// before the rows, split page by page as random keys came in, is left
// about two thirds full.
func TestCitusIndexesAfterTheRows(t *testing.T) {
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
	for _, w := range workers {
		conn, err := pgx.Connect(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		// A worker hides the shards from a client unless told not to.
		if _, err := conn.Exec(ctx, "SET citus.override_table_visibility = off"); err != nil {
			t.Fatal(err)
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
	ctx := context.Background()
	pool, err := pg.Connect(ctx, pgtest.CitusURL(t))
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
		// A uuid hashes as it is; an array, hashed as its text, too.
		{"repeated uuid", "md5((CASE WHEN i IN (3, 6) THEN 0 ELSE i END)::text)::uuid", `"id": "cfcd2084-95d5-65ef-66e7-dff9f98764da"`},
		{"repeated array", "ARRAY[CASE WHEN i IN (7, 9) THEN 0 ELSE i END]", `"id": [0]`},
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
