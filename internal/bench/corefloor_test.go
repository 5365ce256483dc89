package bench

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
	"github.com/percolate/percolate/internal/project"
)

// TestCoreFloorCopiesTheKeyedTables: the keyed tables' floor writes every
// row the run's keyed tables hold, into tables of the same names, and
// builds as many indexes on each as the run did, unique ones unique.
func TestCoreFloorCopiesTheKeyedTables(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	dir := t.TempDir()
	day := time.Date(2022, 5, 30, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: dir, Layout: generate.LayoutA, Branches: generate.Branches(2),
		From: day, To: day.AddDate(0, 0, 2), Orders: 10, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	p, err := project.Open(root, project.Options{DatabaseURL: url, HashKey: "bench test key"})
	if err != nil {
		t.Fatal(err)
	}
	src, err := freshDB(ctx, url, "bench_corefloor_src")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(t, url, "bench_corefloor_src") })
	pool, err := pg.Connect(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Run(ctx, pool, project.RunOptions{Jobs: 2, Sources: map[string]string{
		"transactions": filepath.Join(dir, "*.csv"), "legacy_transactions": filepath.Join(dir, "none-*.csv")}})
	pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := freshDB(ctx, url, "bench_corefloor_dst"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(t, url, "bench_corefloor_dst") })
	from, to := connectTo(t, url, "bench_corefloor_src"), connectTo(t, url, "bench_corefloor_dst")
	_, rows, err := coreFloor(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	const shape = `SELECT coalesce(string_agg(format('%s: %s rows, %s indexes, %s unique', c.oid::regclass,
	        (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', c.oid::regclass), false, true, '')))[1],
	        (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid), (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique)), '; ' ORDER BY c.oid::regclass::text), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname = 'core' AND EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique)`
	var want, got string
	if err := from.QueryRow(ctx, shape).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if err := to.QueryRow(ctx, shape).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want || want == "" {
		t.Errorf("the floor's tables:\n got %s\nwant %s", got, want)
	}
	var held int64
	if err := from.QueryRow(ctx, `SELECT (SELECT count(*) FROM core.orders) + (SELECT count(*) FROM core.order_items) + (SELECT count(*) FROM core.products) + (SELECT count(*) FROM core.branches)`).Scan(&held); err != nil {
		t.Fatal(err)
	}
	if rows != held || rows == 0 {
		t.Errorf("the floor wrote %d rows, want the %d the keyed core holds", rows, held)
	}
}
