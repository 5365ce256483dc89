package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/project"
)

// AppendDay times the run that loads one new day of files (ten branches)
// and builds the models, once after 30 days of history and once after 365,
// and prints the ratio: incremental models should keep it flat.
func AppendDay(ctx context.Context, opt Options) error {
	shape := Shapes["daily"]
	data, err := filepath.Abs(opt.DataDir)
	if err != nil {
		return err
	}
	opt.DataDir = data
	dir := filepath.Join(data, shape.Name)
	files, err := ensureData(dir, shape)
	if err != nil {
		return err
	}
	byDay := map[string][]string{}
	for _, f := range files {
		day := filepath.Base(f)
		day = day[len(day)-len("01-01-2023_09-00-00.csv") : len(day)-len("_09-00-00.csv")]
		byDay[day] = append(byDay[day], f)
	}
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	url, err := freshDB(ctx, opt.URL, "bench_append")
	if err != nil {
		return err
	}
	pool, err := pg.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	history := filepath.Join(opt.DataDir, "append-history")
	os.RemoveAll(history)
	os.MkdirAll(history, 0o755)
	loaded := 0
	var times []time.Duration
	for i, n := range []int{30, 365} {
		// History: link the first n days' files into one folder and run.
		for ; loaded < n; loaded++ {
			day := start.AddDate(0, 0, loaded).Format("02-01-2006")
			for _, f := range byDay[day] {
				if err := os.Symlink(f, filepath.Join(history, filepath.Base(f))); err != nil {
					return err
				}
			}
		}
		if _, err := opt.Project.Run(ctx, pool, project.RunOptions{Jobs: opt.Jobs, Sources: map[string]string{
			"transactions": filepath.Join(history, "*.csv"), "legacy_transactions": filepath.Join(history, "none-*.csv")}}); err != nil {
			return err
		}
		// One new day, ten branches.
		next := filepath.Join(opt.DataDir, fmt.Sprintf("append-day-%d", i))
		os.RemoveAll(next)
		day := time.Date(2024, 6, 1+i, 0, 0, 0, 0, time.UTC)
		if _, err := generate.Write(generate.Options{Dir: next, Layout: generate.LayoutA, Branches: generate.Branches(10), From: day, To: day, Orders: 300, Seed: 5}); err != nil {
			return err
		}
		sum, err := opt.Project.Run(ctx, pool, project.RunOptions{Jobs: opt.Jobs, Sources: map[string]string{
			"transactions": filepath.Join(next, "*.csv"), "legacy_transactions": filepath.Join(next, "none-*.csv")}})
		if err != nil {
			return err
		}
		rows, _, _ := sum.Rows()
		fmt.Fprintf(opt.Out, "  one new day (%d orders) after %3d days of history: %s (%d models built)\n", rows, n, sum.Duration.Round(time.Millisecond), len(sum.Build.Built))
		times = append(times, sum.Duration)
	}
	fmt.Fprintf(opt.Out, "  ratio 365 days / 30 days: %.2f\n", times[1].Seconds()/times[0].Seconds())
	return nil
}
