package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
)

// TestServerCrash crashes the database server (pg_ctl stop -m immediate:
// no checkpoint, WAL not yet written lost) in the middle of a load and in
// the middle of a build, starts it again and runs again: the warehouse
// converges to the one a clean run builds, and every file is loaded once.
// Loads commit without waiting for the WAL flush, so a crash may take the
// last files loaded with it: their manifest rows go with their rows, and
// the next run loads them again.
func TestServerCrash(t *testing.T) {
	ctx := context.Background()
	// A server of its own, durable like the embedded one: crashing the
	// shared test server would take every other test's database with it.
	tmp := t.TempDir()
	for _, d := range []string{tmp, filepath.Dir(tmp)} {
		if err := os.Chmod(d, 0o755); err != nil { // the server's user must reach it
			t.Fatal(err)
		}
	}
	dir := filepath.Join(tmp, "pg")
	c, err := pg.NewCluster(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	url, err := c.URL()
	if err != nil {
		t.Fatal(err)
	}

	// Two months of daily files from three branches, and one big file that
	// streams long enough to be caught mid-COPY.
	data := t.TempDir()
	from := time.Date(2022, 7, 1, 0, 0, 0, 0, time.UTC)
	for _, o := range []generate.Options{
		{Branches: generate.Branches(3), From: from, To: from.AddDate(0, 0, 29), Orders: 100, Seed: 21},
		{Branches: []string{"York"}, From: from, To: from, Orders: 60_000, Seed: 22},
	} {
		o.Dir, o.Layout = data, generate.LayoutA
		if _, err := generate.Write(o); err != nil {
			t.Fatal(err)
		}
	}
	later := t.TempDir()
	if _, err := generate.Write(generate.Options{Dir: later, Layout: generate.LayoutA, Branches: generate.Branches(3),
		From: from.AddDate(0, 1, 0), To: from.AddDate(0, 1, 29), Orders: 100, Seed: 23}); err != nil {
		t.Fatal(err)
	}
	files := func(dirs ...string) int {
		n := 0
		for _, d := range dirs {
			m, _ := filepath.Glob(filepath.Join(d, "*.csv"))
			n += len(m)
		}
		return n
	}
	none := "legacy_transactions=" + filepath.Join(data, "none-*.csv")
	crash := func(t *testing.T) {
		t.Helper()
		if err := c.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("mid-load", func(t *testing.T) {
		cmd, done := startPercolate(t, "--database-url", url, "-C", root, "load", "--source", "transactions="+filepath.Join(data, "*.csv"), "--source", none)
		defer cmd.Process.Kill()
		pool := connect(t, url)
		pgtest.WaitForCopy(t, pool, done)
		crash(t)
		<-done
		mustRun(t, root, url, "run", "--source", "transactions="+filepath.Join(data, "*.csv"), "--source", none)
		clean := pgtest.URL(t)
		mustRun(t, root, clean, "run", "--source", "transactions="+filepath.Join(data, "*.csv"), "--source", none)
		assertSame(t, url, clean, files(data))
	})

	t.Run("mid-build", func(t *testing.T) {
		// New days whose build is held at a mart, then the server crashes.
		both := filepath.Join(t.TempDir(), "both")
		if err := os.Mkdir(both, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{data, later} {
			m, _ := filepath.Glob(filepath.Join(d, "*.csv"))
			for _, f := range m {
				if err := os.Symlink(f, filepath.Join(both, filepath.Base(f))); err != nil {
					t.Fatal(err)
				}
			}
		}
		glob := "transactions=" + filepath.Join(both, "*.csv")
		pool := connect(t, url)
		_, waitBlocked := holdTable(t, pool, "marts.hourly_sales")
		cmd, done := startPercolate(t, "--database-url", url, "-C", root, "run", "--source", glob, "--source", none)
		defer cmd.Process.Kill()
		waitBlocked(done)
		crash(t)
		<-done
		mustRun(t, root, url, "run", "--source", glob, "--source", none)
		clean := pgtest.URL(t)
		mustRun(t, root, clean, "run", "--source", glob, "--source", none)
		assertSame(t, url, clean, files(data, later))
	})
}

// assertSame holds the warehouse at url to the one at clean: every core
// and mart row, and every file loaded exactly once.
func assertSame(t *testing.T, url, clean string, files int) {
	t.Helper()
	got, want := snapshot(t, url), snapshot(t, clean)
	for rel, w := range want {
		if got[rel] != w {
			t.Errorf("%s: after the crash and a rerun %s, a clean run %s", rel, got[rel], w)
		}
	}
	pool := connect(t, url)
	if n := scalar[int](t, pool, `SELECT count(*) FROM percolate.files WHERE status = 'loaded'`); n != files {
		t.Errorf("manifest: %d files loaded, want %d", n, files)
	}
	if a, b := scalar[int](t, pool, `SELECT count(*) FROM staging.transactions`), scalar[int](t, pool, `SELECT sum(rows_loaded)::int FROM percolate.files WHERE status = 'loaded' AND source = 'transactions'`); a != b {
		t.Errorf("staging holds %d orders, the manifest %d: a file is there twice or in part", a, b)
	}
}
