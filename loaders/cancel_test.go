package loaders

import (
	"context"
	"errors"
	"fmt"
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
// A file split among jobs (split) is cancelled the same way.
func TestCancelMidFile(t *testing.T) {
	for _, split := range []bool{false, true} {
		t.Run(fmt.Sprintf("split=%t", split), func(t *testing.T) { cancelMidFile(t, split) })
	}
}

func cancelMidFile(t *testing.T, split bool) {
	pool := warehouse(t)
	src := cafe(t).Sources["transactions"]
	path := bigFile(t, 200_000)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var loadErr error
	ld := csvLoader(t, pool, Options{})
	var ranges int
	if split {
		ld.opt.Jobs, ld.opt.SplitFrom = 2, 1
		ld.test.split = func(n int, _ error) { ranges = n }
	}
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
	if split && ranges != 2 {
		t.Fatalf("split in %d ranges, want 2", ranges)
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

// TestInterruptedCounts cancels a load as one of its transactions is
// about to commit: what the results say was loaded (files and rows) is
// what the manifest and staging hold, the rolled-back file or group
// counted nowhere.
func TestInterruptedCounts(t *testing.T) {
	src := cafe(t).Sources["transactions"]
	big := bigFile(t, 30_000)
	dir := t.TempDir()
	day := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: dir, Layout: generate.LayoutA, Branches: generate.Branches(2),
		From: day, To: day.AddDate(0, 0, 4), Orders: 20, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	small, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	// The big file loads alone, first; the small ones after it, as a group.
	paths := append(small, big)
	tests := []struct {
		name     string
		cancelAt int // the commit cancelled: 1 the big file's, 2 the group's
	}{{"a file alone rolled back", 1}, {"a group rolled back", 2}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := warehouse(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ld := csvLoader(t, pool, Options{})
			commits := 0
			ld.test.commit = func() {
				if commits++; commits == tt.cancelAt {
					cancel()
				}
			}
			res, err := ld.Load(ctx, 0, src, paths)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
			if commits < tt.cancelAt {
				t.Fatalf("%d commits, want %d: the load never reached the cancel", commits, tt.cancelAt)
			}
			var files, rows int
			for _, r := range res {
				if r.Status == Loaded || r.Status == Replaced {
					files++
					rows += int(r.Loaded)
				}
			}
			held := count(t, pool, `SELECT count(*) FROM percolate.files WHERE status = 'loaded'`)
			if held == len(paths) {
				t.Fatalf("the manifest holds all %d files: nothing was rolled back", held)
			}
			if files != held {
				t.Errorf("files: the results say %d loaded, the manifest holds %d", files, held)
			}
			if n := count(t, pool, `SELECT count(*) FROM staging.transactions`); rows != n {
				t.Errorf("rows: the results say %d loaded, staging holds %d", rows, n)
			}
			if n := count(t, pool, `SELECT coalesce(sum(rows_loaded), 0) FROM percolate.files WHERE status = 'loaded'`); rows != n {
				t.Errorf("rows: the results say %d loaded, the manifest %d", rows, n)
			}
		})
	}
}
