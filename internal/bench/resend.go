package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/project"
)

// Resend times a year delivered again: every model's build when the
// branches send the whole year once more under new names (each order a
// repeat to remove), beside a run that adds a year of new days instead
// (as many orders, no repeat), each after the same first year, each in an
// empty database. A redelivery should cost about what new data does.
func Resend(ctx context.Context, opt Options) error {
	year, err := yearFiles(filepath.Join(opt.DataDir, "year"))
	if err != nil {
		return fmt.Errorf("bench resend: %w", err)
	}
	again, err := folderWith(filepath.Join(opt.DataDir, "resend-again"), year, func(dir string) error {
		return redeliver(year, dir)
	})
	if err != nil {
		return fmt.Errorf("bench resend: %w", err)
	}
	next, err := folderWith(filepath.Join(opt.DataDir, "resend-next"), year, func(dir string) error {
		o := yearShape
		o.Dir, o.Seed = dir, 2
		o.From, o.To = yearShape.From.AddDate(1, 0, 0), yearShape.To.AddDate(1, 0, 0)
		_, err := generate.Write(o)
		return err
	})
	if err != nil {
		return fmt.Errorf("bench resend: %w", err)
	}
	fmt.Fprintf(opt.Out, "resend: a year of %d files, then in one database the same year again under new names, in another a year of new days\n", len(year))
	first := "*-" + yearShape.From.Format("2006") + "_09-00-00.csv"
	var cols []*project.Summary
	for _, job := range []struct{ db, dir string }{{"bench_resend", again}, {"bench_next", next}} {
		pool, done, err := emptyDB(ctx, opt.URL, job.db)
		if err != nil {
			return fmt.Errorf("bench resend: %w", err)
		}
		for _, glob := range []string{first, "*.csv"} {
			sum, err := opt.Project.Run(ctx, pool, project.RunOptions{Jobs: opt.Jobs, Sources: map[string]string{
				"transactions": filepath.Join(job.dir, glob), "legacy_transactions": filepath.Join(job.dir, "none-*.csv")}})
			if err != nil {
				done()
				return fmt.Errorf("%s: %w", job.db, err)
			}
			if glob != first || job.db == "bench_resend" {
				cols = append(cols, sum)
			}
		}
		done()
	}
	printResend(opt, cols[0], cols[1], cols[2])
	return nil
}

// folderWith makes dir hold links to the year's files and what fill
// writes, once: a later bench finds it full.
func folderWith(dir string, year []string, fill func(string) error) (string, error) {
	if held, _ := filepath.Glob(filepath.Join(dir, "*.csv")); len(held) == 2*len(year) {
		return dir, nil
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, f := range year {
		if err := deliver(f, filepath.Join(dir, filepath.Base(f))); err != nil {
			return "", err
		}
	}
	return dir, fill(dir)
}

// redeliver writes each file again into dir as a branch re-sends it:
// under a new name (another hour of the day), with CRLF line endings, so
// no content hash matches and every order is a repeat.
func redeliver(files []string, dir string) error {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		name := strings.Replace(filepath.Base(f), "_09-00-00.csv", "_21-00-00.csv", 1)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.ReplaceAll(string(b), "\n", "\r\n")), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// printResend prints each model's build time and the runs' phases in
// three columns: the first year, the year again, a new year.
func printResend(opt Options, first, again, next *project.Summary) {
	took := func(s *project.Summary) map[string]time.Duration {
		out := map[string]time.Duration{}
		for _, b := range s.Build.Built {
			if b.Rows >= 0 {
				out[b.Model.Name] = b.Duration
			}
		}
		return out
	}
	a, b, c := took(first), took(again), took(next)
	var names []string
	for n := range a {
		names = append(names, n)
	}
	slices.Sort(names)
	secs := func(d time.Duration) string { return fmt.Sprintf("%8.2fs", d.Seconds()) }
	fmt.Fprintf(opt.Out, "  %-28s %9s %9s %9s %s\n", "", "year", "again", "new year", "again / new year")
	row := func(name string, x, y, z time.Duration) {
		fmt.Fprintf(opt.Out, "  %-28s %s %s %s %8.2f×\n", name, secs(x), secs(y), secs(z), y.Seconds()/z.Seconds())
	}
	for _, n := range names {
		row(n, a[n], b[n], c[n])
	}
	row("load", first.Loading, again.Loading, next.Loading)
	row("checks", first.Build.Checking, again.Build.Checking, next.Build.Checking)
	row("publish", first.Build.Publishing, again.Build.Publishing, next.Build.Publishing)
	row("run", first.Duration, again.Duration, next.Duration)
	rows := func(s *project.Summary) int64 { n, _, _ := s.Rows(); return n }
	fmt.Fprintf(opt.Out, "  orders loaded: %d, %d again (every one a repeat), %d new\n", rows(first), rows(again), rows(next))
}
