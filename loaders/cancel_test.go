package loaders

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
)

// bigFile writes one layout-A file of about n orders.
func bigFile(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	day := time.Date(2023, 5, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: dir, Layout: generate.LayoutA, Branches: generate.Branches(1),
		From: day, To: day, Orders: n, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	return paths[0]
}

// TestCancelMidFile cancels a load while its COPY runs: staging and the
// manifest hold none of the file, and the next load takes it exactly once.
func TestCancelMidFile(t *testing.T) {
	pool := warehouse(t)
	src := cafe(t).Sources["transactions"]
	path := bigFile(t, 200_000)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var loadErr error
	ld := csvLoader(t, pool, Options{})
	go func() {
		defer close(done)
		_, loadErr = ld.Load(ctx, 0, src, []string{path})
	}()
	pgtest.WaitForCopy(t, pool, done)
	cancel()
	<-done
	if !errors.Is(loadErr, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", loadErr)
	}
	for _, sql := range []string{`SELECT count(*) FROM staging.transactions`, `SELECT count(*) FROM staging.transaction_item_sums`, `SELECT count(*) FROM percolate.files`} {
		if n := count(t, pool, sql); n != 0 {
			t.Errorf("%s: got %d after a cancelled load, want 0", sql, n)
		}
	}
	res := load(t, pool, src, path)
	if res[0].Status != Loaded {
		t.Fatalf("reload: got %s, want loaded", res[0].Status)
	}
	if n := count(t, pool, `SELECT count(*) FROM staging.transactions`); int64(n) != res[0].Loaded {
		t.Errorf("staging: %d rows, want %d: the file exactly once", n, res[0].Loaded)
	}
}
