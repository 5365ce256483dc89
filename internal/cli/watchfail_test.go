package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
	"github.com/percolate/percolate/internal/project"
	"github.com/percolate/percolate/internal/s3test"
	"github.com/percolate/percolate/loaders"
)

// assertOnce checks every file of the manifest was loaded once and its
// rows are in staging once.
func assertOnce(t *testing.T, pool *pgxpool.Pool, files int) {
	t.Helper()
	if n := scalar[int](t, pool, `SELECT count(DISTINCT path)::int FROM percolate.files WHERE status = 'loaded'`); n != files {
		t.Errorf("manifest: got %d files loaded, want %d", n, files)
	}
	if n := scalar[int](t, pool, `SELECT count(*)::int FROM (SELECT path FROM percolate.files GROUP BY path HAVING count(*) > 1) AS d`); n != 0 {
		t.Errorf("manifest: got %d paths loaded more than once, want 0", n)
	}
	rows := scalar[int64](t, pool, `SELECT coalesce(sum(rows_loaded), 0)::bigint FROM percolate.files WHERE status = 'loaded'`)
	if n := scalar[int64](t, pool, `SELECT count(*) FROM staging.transactions`); n != rows {
		t.Errorf("staging: got %d rows, the manifest says %d: want each file's rows once", n, rows)
	}
}

// TestWatchDatabaseRestart crashes the database in the middle of a
// batch's COPY and starts it again: the watch tries the batch again until
// the server is back, and every file ends loaded once, its rows in the
// marts.
func TestWatchDatabaseRestart(t *testing.T) {
	c := pgtest.NewCrashable(t)
	dir := watchProject(t, "")
	incoming := filepath.Join(dir, "incoming")
	// A big file, whose COPY the crash can catch, and small ones.
	_, big := writeDay(t, incoming, "York", watchDay, 60_000, 31)
	for i, branch := range generate.Branches(4) {
		writeDay(t, incoming, branch, watchDay, 40, uint64(40+i))
	}
	w := &watching{t: t, dir: dir, incoming: incoming, seen: map[string]string{}, done: make(chan error, 1)}
	p, err := project.Open(dir, project.Options{DatabaseURL: c.URL(), HashKey: "cli test key"})
	if err != nil {
		t.Fatal(err)
	}
	w.pool = connect(t, c.URL())
	ctx, cancel := context.WithCancel(context.Background())
	opt := project.WatchOptions{Settle: -1, OnBatch: func(b project.Batch) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.batches = append(w.batches, b)
	}}
	go func() { w.done <- p.Watch(ctx, w.pool, opt) }()
	defer func() {
		cancel()
		if err := <-w.done; err != nil {
			t.Errorf("watch: %v", err)
		}
	}()
	pgtest.WaitForCopy(t, w.pool, nil)
	c.Crash()
	c.Start()
	pgtest.Eventually(t, 3*time.Minute, "a batch that ended after the restart", func() bool {
		b := w.snapshot()
		return len(b) > 0 && b[len(b)-1].Retry == 0
	})
	b := w.snapshot()
	if b[0].Retry == 0 {
		t.Errorf("the first batch ended (error %v): want it failed by the crash and tried again", b[0].Err)
	}
	if last := b[len(b)-1]; last.Err != nil {
		t.Errorf("the last batch: %v", last.Err)
	}
	assertOnce(t, w.pool, 5)
	// The marts equal those a plain run of the same files builds.
	clean := pgtest.URL(t)
	mustRun(t, dir, clean, "run")
	want := dayOrders(t, connect(t, clean), "York", watchDay)
	if got := dayOrders(t, w.pool, "York", watchDay); got != want || want < big/2 {
		t.Errorf("marts: got %d orders for York's day, want %d (as a run builds; %d generated)", got, want, big)
	}
}

// TestWatchSIGTERM stops the real binary with SIGTERM in the middle of a
// batch's COPY: the batch finishes, recorded ok, and watch exits 0.
func TestWatchSIGTERM(t *testing.T) {
	url := pgtest.URL(t)
	dir := watchProject(t, "")
	incoming := filepath.Join(dir, "incoming")
	writeDay(t, incoming, "York", watchDay, 60_000, 32)
	writeDay(t, incoming, "Leeds", watchDay, 40, 33)
	var stderr strings.Builder
	cmd, done := startPercolateWith(t, &stderr, "-C", dir, "--database-url", url, "watch", "--settle", "0", "--log-format", "json")
	defer cmd.Process.Kill()
	pool := connect(t, url)
	// A COPY into this test's database: the server is shared with other
	// tests, whose COPYs do not say this watch's batch is under way.
	pgtest.Eventually(t, 2*time.Minute, "the watch's COPY to send rows", func() bool {
		select {
		case <-done:
			t.Fatalf("watch exited before its COPY was seen:\n%s", stderr.String())
		default:
		}
		return scalar[int64](t, pool, `SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy WHERE datname = current_database()`) > 0
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("watch still running 5 minutes after SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code: got %d, want 0\n%s", code, stderr.String())
	}
	rows, err := pool.Query(context.Background(), `SELECT status FROM percolate.runs WHERE command = 'watch'`)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		statuses = append(statuses, s)
	}
	if len(statuses) != 1 || statuses[0] != "ok" {
		t.Errorf("runs of command watch: got %v, want one ok: the batch under way finished", statuses)
	}
	assertOnce(t, pool, 2)
	if lines := strings.Count(stderr.String(), `"msg":"batch"`); lines != 1 {
		t.Errorf("stderr: got %d batch lines, want 1:\n%s", lines, stderr.String())
	}
}

// startPercolateWith is startPercolate with its stderr kept.
func startPercolateWith(t *testing.T, stderr *strings.Builder, args ...string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(buildPercolate(t), args...)
	cmd.Env = append(cmd.Environ(), "PERCOLATE_HASH_KEY=cli test key")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return cmd, done
}

// TestWatchBucket watches a source in a bucket on a real S3 server: an
// object is loaded once listed, a changed one replaced, and one listed
// again unchanged is not taken again.
func TestWatchBucket(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "cafe")
	clock := &testClock{now: time.Unix(1e9, 0)}
	w := startWatch(t, pgtest.URL(t), "s3://cafe/branches/*.csv", clock, project.WatchOptions{})
	a, orders := writeDay(t, t.TempDir(), "Leeds", watchDay, 40, 51)
	put := func(path string) {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		srv.Put(t, "cafe", "branches/"+filepath.Base(path), data)
	}
	put(a)
	clock.Advance(project.DefaultPoll)
	b := w.waitBatches(1)[0]
	if b.Err != nil || b.Summary.Count(loaders.Loaded) != 1 {
		t.Fatalf("batch: %v, error %v; want the object loaded", b.Files, b.Err)
	}
	if got := dayOrders(t, w.pool, "Leeds", watchDay); got != orders {
		t.Errorf("marts: got %d orders, want %d", got, orders)
	}
	// The branch sends the day again, changed; another branch's day comes.
	data, _ := os.ReadFile(a)
	lines := strings.SplitAfter(string(data), "\n")
	srv.Put(t, "cafe", "branches/"+filepath.Base(a), []byte(strings.Join(lines[:len(lines)/2], "")))
	clock.Advance(project.DefaultPoll)
	b = w.waitBatches(2)[1]
	if b.Err != nil || b.Summary.Count(loaders.Replaced) != 1 {
		t.Fatalf("second batch: %v, error %v; want the object replaced", b.Files, b.Err)
	}
	other, _ := writeDay(t, t.TempDir(), "Bath", watchDay, 40, 52)
	put(other)
	clock.Advance(project.DefaultPoll)
	b = w.waitBatches(3)[2]
	if len(b.Files) != 1 || !strings.HasSuffix(b.Files[0], filepath.Base(other)) {
		t.Errorf("third batch: got %v, want only the new object (the unchanged one is not taken again)", b.Files)
	}
}
