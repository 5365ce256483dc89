package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
	"github.com/percolate/percolate/internal/warehouse"
)

// TestCitusFreshDB: pointed at a coordinator, bench's fresh database is a
// Citus database with the coordinator's workers added (each has a database
// of that name, with the extension), and psql's yardstick copies into a
// table distributed by the branch's column, every row of the files.
func TestCitusFreshDB(t *testing.T) {
	ctx := context.Background()
	coord := pgtest.CitusURL(t)
	workers, err := pg.CitusWorkers(ctx, coord)
	if err != nil || len(workers) != 2 {
		t.Fatalf("got workers %v, %v; want 2", workers, err)
	}
	u, err := freshDB(ctx, coord, "bench_citus")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range append([]string{coord}, workers...) {
		t.Cleanup(func() { dropDatabase(t, n, "bench_citus") })
	}
	conn := connectTo(t, u, "bench_citus")
	e, err := warehouse.Detect(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if !e.IsCitus() || e.Workers != 2 {
		t.Errorf("got %+v, want Citus with 2 workers", e)
	}
	dir := t.TempDir()
	var files []string
	for i, body := range []string{"x,Leeds,c,d,1.5,CARD,1\ny,Leeds,c,d,2,CASH,2\n", "z,York,c,d,3,CARD,3\n"} {
		f := filepath.Join(dir, string(rune('a'+i))+".csv")
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	n, _, err := psqlStream(ctx, u, files)
	if err != nil || n != 3 {
		t.Fatalf("psql copied %d rows, %v; want 3", n, err)
	}
	var dist string
	if err := conn.QueryRow(ctx, "SELECT partmethod::text || ':' || column_to_column_name(logicalrelid, partkey) FROM pg_dist_partition WHERE logicalrelid = 'raw'::regclass").Scan(&dist); err != nil || dist != "h:b" {
		t.Errorf("raw: got distribution %q, %v; want h:b", dist, err)
	}
}
