package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/project"
)

// WatchOptions say how long the watch bench runs.
type WatchOptions struct {
	// Spread is how long the first ten files take to arrive (a minute).
	Spread time.Duration
	// Files is how many files the memory phase delivers (10,000); 0 skips it.
	Files int
	// Settle is the watch's (0: project.DefaultSettle).
	Settle time.Duration
}

// watchRun is a watch running in the bench's own process, with what its
// batches took and when.
type watchRun struct {
	mu    sync.Mutex
	taken map[string]time.Time // file → when the batch that published it ended
	fails int
}

func (r *watchRun) onBatch(b project.Batch) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if b.Retry > 0 || b.Summary == nil || !b.Summary.Published {
		r.fails++
		return
	}
	for _, f := range b.Files {
		r.taken[f] = now
	}
}

// wait waits until every path was published, or the deadline.
func (r *watchRun) wait(ctx context.Context, paths []string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		r.mu.Lock()
		n := 0
		for _, p := range paths {
			if _, ok := r.taken[p]; ok {
				n++
			}
		}
		r.mu.Unlock()
		if n == len(paths) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d of %d files published after %v", n, len(paths), within)
		}
		time.Sleep(10 * time.Millisecond) // a bench polling its own state
	}
}

// Watch times percolate watch on a fresh database: ten branches' files
// arriving at random times over opt.Spread, then a burst of a hundred, the
// time from each file's arrival (its last byte written) to its batch's
// publish, p50 and p95; the process's CPU while idle; and its resident
// memory after 1,000 files and after wo.Files.
func Watch(ctx context.Context, opt Options, wo WatchOptions) error {
	data, err := filepath.Abs(filepath.Join(opt.DataDir, "watch"))
	if err != nil {
		return err
	}
	src, incoming := filepath.Join(data, "generated"), filepath.Join(data, "incoming")
	os.RemoveAll(incoming)
	files, err := watchData(src, max(wo.Files, 110))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(incoming, 0o755); err != nil {
		return err
	}
	url, err := freshDB(ctx, opt.URL, "bench_watch")
	if err != nil {
		return err
	}
	pool, err := pg.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	sources := map[string]string{"transactions": filepath.Join(incoming, "*.csv"), "legacy_transactions": filepath.Join(incoming, "none-*.csv")}
	// A load of no file first migrates the fresh database: the first
	// file's time is a batch's, not a new warehouse's setup.
	if _, err := opt.Project.Run(ctx, pool, project.RunOptions{Sources: sources, LoadOnly: true}); err != nil {
		return err
	}
	r := &watchRun{taken: map[string]time.Time{}}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- opt.Project.Watch(wctx, pool, project.WatchOptions{Jobs: opt.Jobs, OnBatch: r.onBatch, Settle: wo.Settle,
			Sources: sources})
	}()
	defer func() { stop(); <-done }()
	settle := wo.Settle
	if settle == 0 {
		settle = project.DefaultSettle
	}
	fmt.Fprintf(opt.Out, "watch: %d generated files in %s; settle %v\n", len(files), src, settle)
	if err := watchLatency(ctx, opt, wo, r, files[:110], incoming); err != nil {
		return err
	}
	idle, err := idleCPU(10 * time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(opt.Out, "  idle: %.2f%% of a core over 10s (this process: the watch)\n", idle*100)
	if wo.Files > 0 {
		return watchMemory(ctx, opt, r, files[110:wo.Files], incoming)
	}
	return nil
}

// watchData generates n files of a few orders each, ten branches a day,
// kept between runs.
func watchData(dir string, n int) ([]string, error) {
	days := (n + 9) / 10
	from := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	// Kept between runs: the same seed writes the same files.
	if have, _ := filepath.Glob(filepath.Join(dir, "*.csv")); len(have) < 10*days {
		if _, err := generate.Write(generate.Options{Dir: dir, Layout: generate.LayoutA, Branches: generate.Branches(10),
			From: from, To: from.AddDate(0, 0, days-1), Orders: 30, Seed: 7}); err != nil {
			return nil, err
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil {
		return nil, err
	}
	// In arrival order: day by day, as branches send them.
	day := func(f string) string {
		b := filepath.Base(f)
		d := b[len(b)-len("01-01-2023_09-00-00.csv") : len(b)-len("_09-00-00.csv")]
		return d[6:] + d[3:5] + d[:2]
	}
	slices.SortFunc(files, func(a, b string) int { return strings.Compare(day(a)+a, day(b)+b) })
	return files, nil
}

// watchLatency delivers ten files at random times over the spread, then
// a hundred at once, and prints the latencies.
func watchLatency(ctx context.Context, opt Options, wo WatchOptions, r *watchRun, files []string, incoming string) error {
	rng := rand.New(rand.NewPCG(1, 2))
	at := make([]time.Duration, 10)
	for i := range at {
		at[i] = time.Duration(rng.Int64N(int64(wo.Spread)))
	}
	slices.Sort(at)
	arrived := map[string]time.Time{}
	start := time.Now()
	var paths []string
	for i, d := range at {
		time.Sleep(time.Until(start.Add(d)))
		to := filepath.Join(incoming, filepath.Base(files[i]))
		if err := deliver(files[i], to); err != nil {
			return err
		}
		arrived[to] = time.Now()
		paths = append(paths, to)
	}
	if err := r.wait(ctx, paths, 2*time.Minute); err != nil {
		return err
	}
	spread := latencies(r, arrived)
	burst := map[string]time.Time{}
	for _, f := range files[10:110] {
		to := filepath.Join(incoming, filepath.Base(f))
		if err := deliver(f, to); err != nil {
			return err
		}
		burst[to], arrived[to] = time.Now(), time.Now()
		paths = append(paths, to)
	}
	if err := r.wait(ctx, paths, 5*time.Minute); err != nil {
		return err
	}
	all, b := latencies(r, arrived), latencies(r, burst)
	fmt.Fprintf(opt.Out, "  10 files over %v: arrival to published p50 %s, p95 %s\n", wo.Spread, pct(spread, 50), pct(spread, 95))
	fmt.Fprintf(opt.Out, "  then a burst of 100: p50 %s, p95 %s; all 110 files p50 %s, p95 %s (targets p50 ≤ 1s, p95 ≤ 2s); %d failed batches\n",
		pct(b, 50), pct(b, 95), pct(all, 50), pct(all, 95), r.fails)
	return nil
}

func latencies(r *watchRun, arrived map[string]time.Time) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for p, t := range arrived {
		out = append(out, r.taken[p].Sub(t))
	}
	slices.Sort(out)
	return out
}

func pct(d []time.Duration, p int) string {
	return d[(len(d)*p+99)/100-1].Round(time.Millisecond).String()
}

// idleCPU is the share of a core this process used over d with nothing
// arriving.
func idleCPU(d time.Duration) (float64, error) {
	before, err := cpuTime()
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	after, err := cpuTime()
	return (after - before).Seconds() / d.Seconds(), err
}

func cpuTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// watchMemory delivers files in bursts of a hundred, each published
// before the next, and prints the resident memory after 1,000 files in
// all and after the last: as the kernel counts it after a collection, and
// after the runtime gave back what it held free (the memory a batch used
// and freed stays resident until then), with the live heap.
func watchMemory(ctx context.Context, opt Options, r *watchRun, files []string, incoming string) error {
	delivered := 110
	var at1000 memory
	start := time.Now()
	for i := 0; i < len(files); i += 100 {
		var paths []string
		for _, f := range files[i:min(i+100, len(files))] {
			to := filepath.Join(incoming, filepath.Base(f))
			if err := deliver(f, to); err != nil {
				return err
			}
			paths = append(paths, to)
		}
		if err := r.wait(ctx, paths, 5*time.Minute); err != nil {
			return err
		}
		delivered += len(paths)
		if at1000.rss == 0 && delivered >= 1000 {
			at1000 = measure()
		}
	}
	last := measure()
	fmt.Fprintf(opt.Out, "  memory at file 1,000 and at file %d (%v for %d files, a hundred a batch), target ≤ 1.2×:\n", delivered, time.Since(start).Round(time.Second), len(files))
	fmt.Fprintf(opt.Out, "    RSS after a collection   %4d MiB  %4d MiB  %.2f×\n", at1000.rss>>20, last.rss>>20, float64(last.rss)/float64(at1000.rss))
	fmt.Fprintf(opt.Out, "    RSS, free memory returned %4d MiB  %4d MiB  %.2f×\n", at1000.returned>>20, last.returned>>20, float64(last.returned)/float64(at1000.returned))
	fmt.Fprintf(opt.Out, "    live heap                %4d MiB  %4d MiB  %.2f×\n", at1000.heap>>20, last.heap>>20, float64(last.heap)/float64(at1000.heap))
	return nil
}

type memory struct{ rss, returned, heap int64 }

func measure() memory {
	runtime.GC()
	m := memory{rss: rss()}
	debug.FreeOSMemory()
	m.returned = rss()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.heap = int64(ms.HeapAlloc)
	return m
}

// rss is the process's resident memory in bytes.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
