package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/generate"
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
	lock, err := pg.Lock(context.Background(), pool, "run", false)
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
	pgtest.Eventually(t, 2*time.Minute, "migrate down --wait to wait for the lock", func() bool {
		select {
		case r := <-done:
			t.Fatalf("migrate down --wait did not wait: exit %d\n%s", r.code, r.stderr)
		default:
		}
		return scalar[int](t, pool, `SELECT count(*)::int FROM pg_locks WHERE relation = 'percolate.run_lock'::regclass AND NOT granted`) > 0
	})
	lock.Release()
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

// marts reads the three marts' revenue in one statement: one snapshot, so
// in a warehouse published whole they agree (every mart sums the same
// orders), and a half-published one shows as a disagreement.
const marts = `SELECT (SELECT coalesce(sum(revenue), 0) FROM marts.branch_daily_sales)::text || ' ' ||
	       (SELECT coalesce(sum(revenue), 0) FROM marts.hourly_sales)::text || ' ' ||
	       (SELECT coalesce(sum(revenue), 0) FROM marts.product_daily_sales)::text`

var publishLine = regexp.MustCompile(`published\s+\S+`)

func agree(s string) bool {
	f := strings.Fields(s)
	return len(f) == 3 && f[0] == f[1] && f[1] == f[2]
}

// arrive links the files of day into the landing folder, as a branch's
// delivery would land.
func arrive(t *testing.T, data, landing string, day time.Time) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(data, "*_"+day.Format("02-01-2006")+"_*.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no file of %s in %s (%v)", day.Format(time.DateOnly), data, err)
	}
	for _, f := range files {
		if err := os.Symlink(f, filepath.Join(landing, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
}

// refreshed writes days+1 days of two branches' files (seeded), delivers
// the first into a landing folder and runs a full refresh of it into a
// fresh database; args run it again, deliver lands day n (1 and on).
func refreshed(t *testing.T, days int, seed uint64) (url string, args []string, deliver func(n int)) {
	t.Helper()
	data, landing := t.TempDir(), t.TempDir()
	from := time.Date(2023, 4, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: data, Layout: generate.LayoutA, Branches: generate.Branches(2),
		From: from, To: from.AddDate(0, 0, days), Orders: 20, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	url = pgtest.URL(t)
	args = []string{"run", "--full-refresh", "--source", "transactions=" + filepath.Join(landing, "*.csv"), "--source", "legacy_transactions=" + filepath.Join(landing, "none-*.csv")}
	arrive(t, data, landing, from)
	mustRun(t, root, url, args...)
	return url, args, func(n int) { arrive(t, data, landing, from.AddDate(0, 0, n)) }
}

// TestReadersAcrossFullRefreshes reads the marts in a loop from several
// connections, each in its own way (one statement over all three, and
// transactions holding one mart while reading another, in both orders),
// while ten full refreshes each publish a new day: no reader gets an
// error, every run exits 0, and every one-statement read sees the marts
// agree: all old or all new.
func TestReadersAcrossFullRefreshes(t *testing.T) {
	url, args, deliver := refreshed(t, 10, 51)
	pool := connect(t, url)

	ctx := context.Background()
	oneStatement := func() (string, error) {
		var s string
		err := pool.QueryRow(ctx, marts).Scan(&s)
		return s, err
	}
	holding := func(first, second string) func() (string, error) {
		return func() (string, error) {
			tx, err := pool.Begin(ctx)
			if err != nil {
				return "", err
			}
			defer tx.Rollback(ctx)
			var a, b string
			if err := tx.QueryRow(ctx, "SELECT coalesce(sum(revenue), 0)::text FROM "+first).Scan(&a); err != nil {
				return "", err
			}
			if err := tx.QueryRow(ctx, "SELECT coalesce(sum(revenue), 0)::text FROM "+second).Scan(&b); err != nil {
				return "", err
			}
			return a + " " + b, tx.Commit(ctx)
		}
	}
	// Readers read as dashboards do, a query after another with a pause
	// between (panels refreshing), not as a hammer: a swap must find a
	// moment when no transaction holds one mart while it waits for
	// another, since it needs them all at once.
	paced := func(read func() (string, error)) func() (string, error) {
		return func() (string, error) {
			time.Sleep(10 * time.Millisecond) // pacing, not synchronisation
			return read()
		}
	}
	stops := []func() ([]string, error){
		readWhile(paced(oneStatement)),
		readWhile(paced(holding("marts.branch_daily_sales", "marts.hourly_sales"))),
		readWhile(paced(holding("marts.hourly_sales", "marts.branch_daily_sales"))),
		readWhile(paced(holding("marts.product_daily_sales", "marts.branch_daily_sales"))),
	}
	for day := 1; day <= 10; day++ {
		deliver(day)
		if r := percolate(t, root, url, args...); r.code != ExitOK {
			t.Errorf("full refresh %d while readers read: exit %d\n%s", day, r.code, r.stderr)
		} else {
			t.Logf("full refresh %d: %s", day, publishLine.FindString(r.stdout+r.stderr))
		}
	}
	for i, stop := range stops {
		seen, err := stop()
		if err != nil {
			t.Errorf("reader %d failed during the refreshes: %v", i, err)
		}
		if len(seen) == 0 {
			t.Errorf("reader %d read nothing: the test proves nothing", i)
		}
		if i > 0 {
			continue
		}
		distinct := map[string]bool{}
		for _, s := range seen {
			distinct[s] = true
			if !agree(s) {
				t.Errorf("one statement saw the marts disagree: %s (a half-published warehouse)", s)
			}
		}
		t.Logf("one-statement reader: %d reads, %d states", len(seen), len(distinct))
	}
}

// TestReadDuringTheSwapSeesTheOldWhole holds a mart open in a reader's
// transaction so that the swap of a full refresh waits for it, and reads
// the other marts while it waits: the read overlaps the swap, and sees
// them all old; once the reader lets go, the run publishes everything and
// exits 0.
func TestReadDuringTheSwapSeesTheOldWhole(t *testing.T) {
	url, args, deliver := refreshed(t, 1, 52)
	pool := connect(t, url)
	ctx := context.Background()
	before := scalar[string](t, pool, marts)

	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, "SELECT FROM marts.hourly_sales LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	deliver(1)
	done := make(chan result, 1)
	go func() { done <- percolate(t, root, url, args...) }()
	// The swap waits for the holder: a lock on the mart not granted.
	pgtest.Eventually(t, 2*time.Minute, "the run's swap to wait for the reader", func() bool {
		select {
		case r := <-done:
			t.Fatalf("the run ended before its swap waited for the reader: exit %d\n%s", r.code, r.stderr)
		default:
		}
		return scalar[int](t, pool, `SELECT count(*)::int FROM pg_locks WHERE relation = 'marts.hourly_sales'::regclass AND NOT granted`) > 0
	})
	var during string
	if err := pool.QueryRow(ctx, `SELECT (SELECT coalesce(sum(revenue), 0) FROM marts.branch_daily_sales)::text || ' ' ||
		(SELECT coalesce(sum(revenue), 0) FROM marts.product_daily_sales)::text`).Scan(&during); err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(before); during != f[0]+" "+f[2] {
		t.Errorf("while the swap waited, the other marts read %s, want the old ones whole (%s %s)", during, f[0], f[2])
	}
	holder.Rollback(ctx)
	if r := <-done; r.code != ExitOK {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	if after := scalar[string](t, pool, marts); after == before || !agree(after) {
		t.Errorf("after the publish the marts read %s (before %s): want the new day in all three", after, before)
	}
}
