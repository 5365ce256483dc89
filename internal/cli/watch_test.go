package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
	"github.com/percolate/percolate/internal/project"
	"github.com/percolate/percolate/loaders"
)

// testClock is a watch's time, moved on by the test: a file settles when
// the test says so, never because a test machine was slow or fast.
type testClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []clockWaiter
}

type clockWaiter struct {
	at time.Time
	ch chan time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Until(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !c.now.Before(t) {
		ch <- c.now
	} else {
		c.waiters = append(c.waiters, clockWaiter{t, ch})
	}
	return ch
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if c.now.Before(w.at) {
			kept = append(kept, w)
		} else {
			w.ch <- c.now
		}
	}
	c.waiters = kept
}

// watching is a watch running in the test, on a copy of the project
// whose transactions arrive in incoming/.
type watching struct {
	t        *testing.T
	dir, url string
	incoming string
	pool     *pgxpool.Pool
	clock    *testClock
	mu       sync.Mutex
	batches  []project.Batch
	seen     map[string]string // path → the last version seen
	stop     context.CancelFunc
	done     chan error
}

const testSettle = 10 * time.Second

// startWatch starts a watch on url; path, when set, replaces the
// transactions' path (an s3:// address, say); clock nil is the system's.
func startWatch(t *testing.T, url, path string, clock *testClock, opt project.WatchOptions) *watching {
	t.Helper()
	w := &watching{t: t, dir: watchProject(t, path), url: url, clock: clock, seen: map[string]string{}, done: make(chan error, 1)}
	w.incoming = filepath.Join(w.dir, "incoming")
	p, err := project.Open(w.dir, project.Options{DatabaseURL: url, HashKey: "cli test key", S3: loaders.S3Options{Endpoint: os.Getenv(EnvS3Endpoint)}})
	if err != nil {
		t.Fatal(err)
	}
	w.pool = connect(t, url)
	if clock != nil {
		opt.Clock = clock
	}
	if opt.Settle == 0 {
		opt.Settle = testSettle
	}
	opt.OnBatch = func(b project.Batch) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.batches = append(w.batches, b)
	}
	opt.OnSeen = func(path, version string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.seen[path] = version
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.stop = cancel
	go func() { w.done <- p.Watch(ctx, w.pool, opt) }()
	t.Cleanup(func() {
		cancel()
		if err := <-w.done; err != nil {
			t.Errorf("watch: %v", err)
		}
	})
	return w
}

// watchProject is a copy of the project whose transactions arrive in
// incoming/ (or at path, when set: an s3:// address, say) and whose legacy
// files in legacy/, both empty.
func watchProject(t *testing.T, path string) string {
	t.Helper()
	dir := tempProject(t)
	for _, d := range []string{"incoming", "legacy"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if path == "" {
		path = "incoming/*.csv"
	}
	edit(t, filepath.Join(dir, "pipelines.yaml"), "path: testdata/cafe/layout_a/*.csv", "path: "+path)
	edit(t, filepath.Join(dir, "pipelines.yaml"), "path: testdata/cafe/layout_b/*.csv", "path: legacy/*.csv")
	return dir
}

// arrive generates one file of a branch's day, written in one go.
func (w *watching) arrive(branch string, day time.Time, seed uint64) (path string, orders int) {
	w.t.Helper()
	return writeDay(w.t, w.incoming, branch, day, 40, seed)
}

// writeDay generates a branch's day of about orders orders into dir, the
// file written in one go, and returns its path and orders.
func writeDay(t *testing.T, dir, branch string, day time.Time, orders int, seed uint64) (string, int) {
	t.Helper()
	tmp := t.TempDir()
	st, err := generate.Write(generate.Options{Dir: tmp, Layout: generate.LayoutA, Branches: []string{branch}, From: day, To: day, Orders: orders, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	made, _ := filepath.Glob(filepath.Join(tmp, "*.csv"))
	if len(made) != 1 {
		t.Fatalf("generated %d files, want 1", len(made))
	}
	path := filepath.Join(dir, filepath.Base(made[0]))
	if err := copyFile(made[0], path); err != nil {
		t.Fatal(err)
	}
	return path, st.Orders
}

// waitSeen waits for the watch to have seen every path at its version
// on disk now.
func (w *watching) waitSeen(paths ...string) {
	w.t.Helper()
	pgtest.Eventually(w.t, time.Minute, fmt.Sprintf("the watch to see %d file(s)", len(paths)), func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, p := range paths {
			st, ok, err := loaders.StatFile(p)
			if err != nil || !ok || w.seen[p] != fmt.Sprintf("%d/%d", st.Size, st.Modified.UnixNano()) {
				return false
			}
		}
		return true
	})
}

// waitBatches waits for n batches that ended and returns them all.
func (w *watching) waitBatches(n int) []project.Batch {
	w.t.Helper()
	pgtest.Eventually(w.t, 2*time.Minute, fmt.Sprintf("%d batch(es)", n), func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.batches) >= n
	})
	return w.snapshot()
}

func (w *watching) snapshot() []project.Batch {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]project.Batch(nil), w.batches...)
}

// dayOrders is the orders marts.branch_daily_sales has for a branch's day.
func dayOrders(t *testing.T, pool *pgxpool.Pool, branch string, day time.Time) int {
	t.Helper()
	return scalar[int](t, pool, `SELECT coalesce(sum(orders), 0)::int FROM marts.branch_daily_sales WHERE branch = $1 AND sales_date = $2`, branch, day)
}

var watchDay = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)

func TestWatchArrival(t *testing.T) {
	clock := &testClock{now: time.Unix(1e9, 0)}
	w := startWatch(t, pgtest.URL(t), "", clock, project.WatchOptions{})
	path, orders := w.arrive("Leeds", watchDay, 1)
	w.waitSeen(path)
	if got := w.snapshot(); len(got) != 0 {
		t.Fatalf("got %d batch(es) before the file settled, want 0", len(got))
	}
	clock.Advance(testSettle)
	b := w.waitBatches(1)[0]
	if b.Err != nil || len(b.Files) != 1 || b.Files[0] != path {
		t.Fatalf("batch: files %v, error %v; want %s loaded", b.Files, b.Err, path)
	}
	if got := dayOrders(t, w.pool, "Leeds", watchDay); got != orders {
		t.Errorf("marts.branch_daily_sales: got %d orders for the day, want %d", got, orders)
	}
	cmd, status := "", ""
	if err := w.pool.QueryRow(context.Background(), `SELECT command, status FROM health.runs WHERE run_id = $1`, b.Summary.RunID).Scan(&cmd, &status); err != nil {
		t.Fatal(err)
	}
	if cmd != "watch" || status != "ok" {
		t.Errorf("health.runs: got command %q status %q, want watch ok", cmd, status)
	}
	// Between batches the lock is free: a run without --wait goes ahead.
	if r := percolate(t, w.dir, w.url, "run"); r.code != 0 {
		t.Errorf("a run while the watch waits: exit %d, want 0\n%s", r.code, r.stderr)
	}
}

func TestWatchHalfWritten(t *testing.T) {
	clock := &testClock{now: time.Unix(1e9, 0)}
	w := startWatch(t, pgtest.URL(t), "", clock, project.WatchOptions{})
	path, orders := w.arrive("York", watchDay, 2)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The first half, as a slow upload leaves it: seen, then time passes
	// short of the settle interval, then the rest comes.
	if err := os.WriteFile(path, full[:len(full)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	w.waitSeen(path)
	clock.Advance(testSettle / 2)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(full[len(full)/2:]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	w.waitSeen(path)
	clock.Advance(testSettle / 2)
	if got := w.snapshot(); len(got) != 0 {
		t.Fatalf("got %d batch(es) of %v before the file had settled, want 0", len(got), got[0].Files)
	}
	clock.Advance(testSettle / 2)
	b := w.waitBatches(1)[0]
	if b.Err != nil || b.Summary.Count(loaders.Loaded) != 1 {
		t.Fatalf("batch: %v, error %v; want the whole file loaded", b.Files, b.Err)
	}
	if n := scalar[int](t, w.pool, `SELECT count(*)::int FROM percolate.files WHERE path LIKE '%' || $1`, filepath.Base(path)); n != 1 {
		t.Errorf("manifest: got %d rows for the file, want 1 (loaded whole, once)", n)
	}
	if got := dayOrders(t, w.pool, "York", watchDay); got != orders {
		t.Errorf("marts: got %d orders, want %d", got, orders)
	}
}

func TestWatchBurst(t *testing.T) {
	clock := &testClock{now: time.Unix(1e9, 0)}
	w := startWatch(t, pgtest.URL(t), "", clock, project.WatchOptions{})
	var paths []string
	want := map[string]int{}
	for i, branch := range generate.Branches(12) {
		for d := range 3 {
			p, n := w.arrive(branch, watchDay.AddDate(0, 0, d), uint64(10+3*i+d))
			paths = append(paths, p)
			want[branch] += n
		}
	}
	w.waitSeen(paths...)
	clock.Advance(testSettle)
	b := w.waitBatches(1)
	if len(b) != 1 || b[0].Err != nil || b[0].Summary.Count(loaders.Loaded) != len(paths) {
		t.Fatalf("got %d batch(es), the first of %d files (error %v); want one batch loading all %d", len(b), len(b[0].Files), b[0].Err, len(paths))
	}
	for branch, n := range want {
		got := scalar[int](t, w.pool, `SELECT coalesce(sum(orders), 0)::int FROM marts.branch_daily_sales WHERE branch = $1`, branch)
		if got != n {
			t.Errorf("%s: got %d orders in the marts, want %d", branch, got, n)
		}
	}
}

func TestWatchReplaced(t *testing.T) {
	clock := &testClock{now: time.Unix(1e9, 0)}
	w := startWatch(t, pgtest.URL(t), "", clock, project.WatchOptions{})
	path, _ := w.arrive("Bath", watchDay, 3)
	w.waitSeen(path)
	clock.Advance(testSettle)
	w.waitBatches(1)
	// The branch sends the day again, with fewer orders.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	kept := strings.Join(lines[:len(lines)/2], "")
	if err := os.WriteFile(path, []byte(kept), 0o644); err != nil {
		t.Fatal(err)
	}
	w.waitSeen(path)
	clock.Advance(testSettle)
	b := w.waitBatches(2)[1]
	if b.Err != nil || b.Summary.Count(loaders.Replaced) != 1 {
		t.Fatalf("second batch: %v, error %v; want the file replaced", b.Files, b.Err)
	}
	want := strings.Count(kept, "\n")
	if strings.HasPrefix(lines[0], "ordered_at") || strings.Contains(lines[0], "customer") {
		want-- // a header line
	}
	if got := dayOrders(t, w.pool, "Bath", watchDay); got != want {
		t.Errorf("marts: got %d orders for the day, want %d (the new file's)", got, want)
	}
}
