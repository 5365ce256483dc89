package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/project"
)

// AppendDay times the nightly run the way the chain runs it: the source's
// glob covers every file ever delivered. After 30 days of history and
// again after 365, it times a run with nothing new, then one after a new
// day of ten branches' files lands in the same folder, five times each,
// and prints the medians' ratios: the nightly run should stay flat as
// history grows.
func AppendDay(ctx context.Context, opt Options) error {
	shape := Shapes["daily"]
	data, err := filepath.Abs(opt.DataDir)
	if err != nil {
		return fmt.Errorf("bench append-day: %w", err)
	}
	opt.DataDir = data
	files, err := ensureData(filepath.Join(data, shape.Name), shape)
	if err != nil {
		return fmt.Errorf("bench append-day: %w", err)
	}
	url, err := freshDB(ctx, opt.URL, "bench_append")
	if err != nil {
		return fmt.Errorf("bench append-day: %w", err)
	}
	pool, err := pg.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("bench append-day: %w", err)
	}
	defer pool.Close()
	history := filepath.Join(opt.DataDir, "append-history")
	os.RemoveAll(history)
	if err := os.MkdirAll(history, 0o755); err != nil {
		return fmt.Errorf("bench append-day: %w", err)
	}
	b := &appendBench{opt: opt, history: history, byDay: filesByDay(files), start: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)}
	sources := map[string]string{"transactions": filepath.Join(history, "*.csv"), "legacy_transactions": filepath.Join(history, "none-*.csv")}
	b.run = func() (*project.Summary, error) {
		return opt.Project.Run(ctx, pool, project.RunOptions{Jobs: opt.Jobs, BuildJobs: opt.BuildJobs, Sources: sources})
	}
	var noop, oneDay []time.Duration
	for i, n := range []int{30, 365} {
		idle, fresh, err := b.after(i, n)
		if err != nil {
			return fmt.Errorf("bench append-day: %w", err)
		}
		noop, oneDay = append(noop, idle), append(oneDay, fresh)
	}
	fmt.Fprintf(opt.Out, "  365 days against 30: nothing new %.2f×, a new day %.2f×\n", noop[1].Seconds()/noop[0].Seconds(), oneDay[1].Seconds()/oneDay[0].Seconds())
	return nil
}

// filesByDay sorts the daily shape's files by the day their name holds
// (DD-MM-YYYY).
func filesByDay(files []string) map[string][]string {
	byDay := map[string][]string{}
	for _, f := range files {
		day := filepath.Base(f)
		day = day[len(day)-len("01-01-2023_09-00-00.csv") : len(day)-len("_09-00-00.csv")]
		byDay[day] = append(byDay[day], f)
	}
	return byDay
}

// appendBench is the state of the append-day bench: the history folder
// the source's glob covers, and how many of its days are in it.
type appendBench struct {
	opt     Options
	history string
	byDay   map[string][]string // the files to deliver, by day
	start   time.Time           // the first day of history
	loaded  int                 // days delivered into history
	run     func() (*project.Summary, error)
}

// after brings the history to n days, loaded, then returns the medians of
// a run with nothing new and of one after a new day lands; i numbers the
// step, so that each step's new days are days of their own.
func (b *appendBench) after(i, n int) (noop, oneDay time.Duration, err error) {
	for ; b.loaded < n; b.loaded++ {
		day := b.start.AddDate(0, 0, b.loaded).Format("02-01-2006")
		for _, f := range b.byDay[day] {
			if err := deliver(f, filepath.Join(b.history, filepath.Base(f))); err != nil {
				return 0, 0, err
			}
		}
	}
	if _, err := b.run(); err != nil {
		return 0, 0, err
	}
	// Medians of five: each run takes a hundred milliseconds or two, the
	// size of this machine's jitter.
	var idle, fresh []time.Duration
	var rows int64
	var built int
	for k := range appendRuns {
		sum, err := b.run()
		if err != nil {
			return 0, 0, err
		}
		idle = append(idle, sum.Duration)
		// A new day lands beside the history.
		day := time.Date(2024, 6, 1+appendRuns*i+k, 0, 0, 0, 0, time.UTC)
		if _, err := generate.Write(generate.Options{Dir: b.history, Layout: generate.LayoutA, Branches: generate.Branches(10), From: day, To: day, Orders: 300, Seed: 5}); err != nil {
			return 0, 0, err
		}
		if sum, err = b.run(); err != nil {
			return 0, 0, err
		}
		rows, _, _ = sum.Rows()
		built = len(sum.Build.Built)
		fresh = append(fresh, sum.Duration)
	}
	slices.Sort(idle)
	slices.Sort(fresh)
	noop, oneDay = idle[appendRuns/2], fresh[appendRuns/2]
	held, _ := filepath.Glob(filepath.Join(b.history, "*.csv"))
	fmt.Fprintf(b.opt.Out, "  after %3d days (%d files): a run with nothing new %s; with a new day (%d orders, %d models built) %s; medians of %d\n",
		n, len(held), noop.Round(time.Millisecond), rows, built, oneDay.Round(time.Millisecond), appendRuns)
	return noop, oneDay, nil
}

// appendRuns is how many runs of each kind the append-day bench takes the
// median of.
const appendRuns = 5

// deliver puts a generated file in the history folder as a delivered file
// is, a file of its own (a hard link: no copy), or failing that as a
// symbolic link, whose stat costs a second lookup per file.
func deliver(from, to string) error {
	if os.Link(from, to) == nil {
		return nil
	}
	return os.Symlink(from, to)
}
