package cli

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
)

// TestReadersDuringIncrementalPublish: a normal run that adds days
// replaces them in the incremental marts inside the publish transaction.
// The publish is held (a lock on the last model it writes) after it has
// replaced the days of marts.branch_daily_sales: a reader then sees the
// old table whole while the publish holds its writes (the read overlapped
// it), and the new one once it commits.
func TestReadersDuringIncrementalPublish(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	layoutB := filepath.Join(root, "testdata/cafe/layout_b")
	none := "transactions=" + filepath.Join(t.TempDir(), "*.csv")
	mustRun(t, root, url, "run", "--source", "legacy_transactions="+filepath.Join(layoutB, "*-22-*.csv"), "--source", none)
	const read = `SELECT count(*) || '/' || coalesce(sum(revenue), 0),
		       EXISTS (SELECT FROM pg_locks WHERE relation = 'marts.branch_daily_sales'::regclass AND mode = 'RowExclusiveLock'
		               AND granted AND pid <> pg_backend_pid())
		FROM marts.branch_daily_sales`
	state := func() (string, bool) {
		var s string
		var writing bool
		if err := pool.QueryRow(context.Background(), read).Scan(&s, &writing); err != nil {
			t.Fatal(err)
		}
		return s, writing
	}
	before, _ := state()

	release, waitBlocked := holdTable(t, pool, "marts.product_daily_sales")
	done := make(chan result, 1)
	go func() {
		done <- percolate(t, root, url, "run", "--source", "legacy_transactions="+filepath.Join(layoutB, "*.csv"), "--source", none)
	}()
	waitBlocked(make(chan struct{}))
	during, writing := state()
	if !writing {
		t.Fatal("the publish holds no write on marts.branch_daily_sales while blocked: the read did not overlap it")
	}
	if during != before {
		t.Errorf("during the publish a reader saw %s, want the old table whole (%s)", during, before)
	}
	release()
	if r := <-done; r.code != ExitOK {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after, _ := state(); after == before {
		t.Errorf("after the publish a reader still sees %s: the new days are missing", after)
	}
}

// TestLongReaderHoldsThePublish: a reader that keeps a mart open (an
// open transaction) past --publish-wait fails the run that would replace
// the mart whole: exit 1 naming the mart and the reader's pid, nothing
// published, nothing left beside the live tables. Once the reader is
// gone, the next run publishes.
func TestLongReaderHoldsThePublish(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	glob := "legacy_transactions=" + filepath.Join(root, "testdata/cafe/layout_b/*-22-*.csv")
	none := "transactions=" + filepath.Join(t.TempDir(), "*.csv")
	mustRun(t, root, url, "run", "--source", glob, "--source", none)
	ctx := context.Background()
	reader, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback(ctx)
	var pid int
	var before string
	if err := reader.QueryRow(ctx, `SELECT pg_backend_pid(), (SELECT count(*) || '/' || sum(revenue) FROM marts.branch_daily_sales)`).Scan(&pid, &before); err != nil {
		t.Fatal(err)
	}
	builds := scalar[int](t, pool, `SELECT count(*)::int FROM percolate.model_builds`)

	r := percolate(t, root, url, "run", "--full-refresh", "--publish-wait", "1s", "--source", glob, "--source", none)
	want := "readers held the relations to replace for more than 1s: marts.branch_daily_sales by pid " + strconv.Itoa(pid)
	if r.code != ExitFailure || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "nothing was published") {
		t.Fatalf("got exit %d, stderr:\n%s\nwant exit 1 and %q", r.code, r.stderr, want)
	}
	var during string
	if err := reader.QueryRow(ctx, `SELECT count(*) || '/' || sum(revenue) FROM marts.branch_daily_sales`).Scan(&during); err != nil || during != before {
		t.Errorf("the reader's mart: %s (%v), want %s", during, err, before)
	}
	if n := scalar[int](t, pool, `SELECT count(*)::int FROM pg_class WHERE relname LIKE '%\_\_next'`); n != 0 {
		t.Errorf("%d __next relations left behind", n)
	}
	if n := scalar[int](t, pool, `SELECT count(*)::int FROM percolate.model_builds`); n != builds {
		t.Errorf("the ledger records %d builds, want the %d before: nothing was published", n, builds)
	}
	reader.Rollback(ctx)
	mustRun(t, root, url, "run", "--full-refresh", "--source", glob, "--source", none)
}

// TestMigrateTakesTheRunLock: migrate up and down change the schema runs
// load and build into, so they take the run lock: busy (exit 3) while a
// run holds it, or with --wait, after it.
func TestMigrateTakesTheRunLock(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, root, url, "migrate", "up")
	unlock, err := pg.Lock(context.Background(), pool, "run", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"up", "down"} {
		if r := percolate(t, root, url, "migrate", cmd); r.code != ExitBusy {
			t.Errorf("migrate %s during a run: exit %d, want 3\n%s", cmd, r.code, r.stderr)
		}
	}
	version := scalar[int](t, pool, `SELECT max(version_id)::int FROM goose_db_version`)
	done := make(chan result, 1)
	go func() { done <- percolate(t, root, url, "migrate", "down", "--wait") }()
	for scalar[int](t, pool, `SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`) == 0 {
		select {
		case r := <-done:
			t.Fatalf("migrate down --wait did not wait: exit %d\n%s", r.code, r.stderr)
		default:
		}
	}
	unlock()
	if r := <-done; r.code != ExitOK {
		t.Fatalf("migrate down --wait: exit %d\n%s", r.code, r.stderr)
	}
	if v := scalar[int](t, pool, `SELECT max(version_id)::int FROM goose_db_version WHERE is_applied`); v >= version {
		t.Errorf("after migrate down the schema is at %d, want below %d", v, version)
	}
	// The default privileges name the role that creates the tables.
	if n := scalar[int](t, pool, `SELECT count(*)::int FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace
		WHERE d.defaclrole = current_user::regrole AND n.nspname IN ('marts', 'health')`); n != 2 {
		t.Errorf("default privileges for the current role in marts and health: %d, want 2", n)
	}
}
