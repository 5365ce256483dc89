package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
)

// TestBackfillResumesAfterKill backfills a generated month in two halves,
// killing the second half with SIGKILL in the middle of a model build, runs
// it again, and compares every core and mart row with one clean backfill.
func TestBackfillResumesAfterKill(t *testing.T) {
	data := t.TempDir()
	from := time.Date(2022, 5, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: data, Layout: generate.LayoutA, Branches: generate.Branches(3),
		From: from, To: from.AddDate(0, 0, 30), Orders: 40, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	src := "transactions=" + filepath.Join(data, "*.csv")
	none := "legacy_transactions=" + filepath.Join(data, "none-*.csv")

	clean := pgtest.URL(t)
	mustRun(t, root, clean, "backfill", "--from", "2022-05-01", "--to", "2022-05-31", "--source", src, "--source", none)
	want := snapshot(t, clean)

	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, root, url, "backfill", "--from", "2022-05-01", "--to", "2022-05-15", "--source", src, "--source", none)

	// Hold a mart so that the second half's build stops on it, mid-build.
	release, waitBlocked := holdTable(t, pool, "marts.hourly_sales")
	cmd, done := startPercolate(t, "-C", root, "--database-url", url, "backfill", "--from", "2022-05-16", "--to", "2022-05-31", "--source", src, "--source", none)
	waitBlocked(done)
	if n := scalar[int](t, pool, `SELECT count(*) FROM percolate.files`); n != 93 {
		t.Errorf("before the kill: %d files loaded, want all 93 (the build comes after the loads)", n)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	release()

	r := mustRun(t, root, url, "backfill", "--from", "2022-05-16", "--to", "2022-05-31", "--source", src, "--source", none)
	if !strings.Contains(r.stdout, "0 not loaded yet") {
		t.Errorf("the rerun should load no file again:\n%s", r.stdout)
	}
	got := snapshot(t, url)
	for rel, w := range want {
		if got[rel] != w {
			t.Errorf("%s: after kill and resume %s, clean backfill %s", rel, got[rel], w)
		}
	}
	r = mustRun(t, root, url, "backfill", "--from", "2022-05-01", "--to", "2022-05-31", "--source", src, "--source", none)
	if !strings.Contains(r.stdout, "up to date") {
		t.Errorf("an identical backfill should do nothing:\n%s", r.stdout)
	}
}

// holdTable locks table in a transaction of its own, so that a run's
// build stops on it; waitBlocked returns once a run waits for the lock,
// asking the server, and fails the test if done closes first. release
// ends the transaction (the test's end does too).
func holdTable(t *testing.T, pool *pgxpool.Pool, table string) (release func(), waitBlocked func(done <-chan struct{})) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release = func() { tx.Rollback(ctx) } // also hands back a connection a crash broke
	t.Cleanup(release)
	if _, err := tx.Exec(ctx, "LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	return release, func(done <-chan struct{}) {
		t.Helper()
		pgtest.Eventually(t, 2*time.Minute, "the run's build to wait for "+table, func() bool {
			select {
			case <-done:
				t.Fatalf("the run ended before its build reached %s", table)
			default:
			}
			return scalar[int](t, pool, `SELECT count(*) FROM pg_locks WHERE relation = $1::regclass AND NOT granted`, table) > 0
		})
	}
}

// TestBackfillGoesOnPastABadFile: a refused file is reported (exit 1) but
// the days after it are loaded and published.
func TestBackfillGoesOnPastABadFile(t *testing.T) {
	data := t.TempDir()
	from := time.Date(2022, 6, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: data, Layout: generate.LayoutA, Branches: []string{"York"},
		From: from, To: from.AddDate(0, 0, 3), Orders: 20, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(data, "york_01-06-2022_09-00-00.csv")
	if err := os.WriteFile(bad, []byte("\x00\x01binary"), 0o644); err != nil {
		t.Fatal(err)
	}
	url := pgtest.URL(t)
	pool := connect(t, url)
	r := percolate(t, root, url, "backfill", "--from", "2022-06-01", "--to", "2022-06-04", "--publish-every", "1",
		"--source", "transactions="+filepath.Join(data, "*.csv"), "--source", "legacy_transactions="+filepath.Join(data, "none-*.csv"))
	if r.code != ExitFailure || !strings.Contains(r.stderr, "york_01-06-2022_09-00-00.csv: refused: not a CSV file") {
		t.Errorf("got exit %d, stderr %q; want exit 1 naming the refused file", r.code, r.stderr)
	}
	if got := scalar[string](t, pool, `SELECT string_agg(sales_date::text, ',' ORDER BY sales_date) FROM marts.branch_daily_sales`); got != "2022-06-02,2022-06-03,2022-06-04" {
		t.Errorf("published days: %s, want the three after the bad file", got)
	}
}
