package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
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
	c := pgtest.NewCrashable(t)
	url := c.URL()

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
		c.Crash()
		c.Start()
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

// TestServerCrashAtEveryEvent stops the server with -m immediate (no
// checkpoint, no goodbye to its clients) right after each kind of event a
// chunked backfill reports, starts it again, and runs the same backfill:
// it converges to the warehouse a clean backfill builds, every time.
func TestServerCrashAtEveryEvent(t *testing.T) {
	ctx := context.Background()
	c := pgtest.NewCrashable(t)
	base := c.URL()
	bin, backfill := chunkedBackfill(t, 3, 30, 41)
	clean := pgtest.URL(t)
	mustRun(t, root, clean, backfill(clean)[4:]...)
	want := snapshot(t, clean)
	admin := connect(t, base)
	for i, at := range []killPoint{{"file", 1}, {"done loading", 1}, {"model", 1}, {"model", 8}, {"start publishing", 1}, {"published", 1}, {"model", 17}, {"start publishing", 2}} {
		t.Run(at.String(), func(t *testing.T) {
			name := fmt.Sprintf("crash_%d", i)
			if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			u.Path = "/" + name
			crashed := false
			events(t, bin, backfill(u.String()), func(p killPoint, _ *exec.Cmd) bool {
				if p == at {
					c.Crash()
					crashed = true
				}
				return crashed
			})
			if !crashed {
				t.Fatalf("the backfill ended without reporting %s", at)
			}
			c.Start()
			admin.Reset() // its connections died with the server
			mustRun(t, root, u.String(), backfill(u.String())[4:]...)
			assertConverged(t, u.String(), want)
		})
	}
}
