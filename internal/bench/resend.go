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
// branches send the whole year once more under new names, re-encoded (the
// same orders: each file a redelivery of one loaded, told by its rows'
// keys), and when each file they send again is an order short (not a
// copy: each order but one a repeat the models leave out), beside a run
// that adds a year of new days instead (as many orders, no repeat), each
// after the same first year, each in an empty database. A redelivery
// should cost about what loading the year did, or less.
func Resend(ctx context.Context, opt Options) error {
	year, err := yearFiles(filepath.Join(opt.DataDir, "year"))
	if err != nil {
		return fmt.Errorf("bench resend: %w", err)
	}
	again, err := folderWith(filepath.Join(opt.DataDir, "resend-again"), year, func(dir string) error {
		return redeliver(year, dir, false)
	})
	if err != nil {
		return err
	}
	short, err := folderWith(filepath.Join(opt.DataDir, "resend-short"), year, func(dir string) error {
		return redeliver(year, dir, true)
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
	fmt.Fprintf(opt.Out, "resend: a year of %d files, then in one database the same year again under new names, in another each file again an order short, in another a year of new days\n", len(year))
	first := "*-" + yearShape.From.Format("2006") + "_09-00-00.csv"
	var cols []*project.Summary
	for _, job := range []struct{ db, dir string }{{"bench_resend", again}, {"bench_short", short}, {"bench_next", next}} {
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
	printResend(opt, cols[0], cols[1], cols[2], cols[3])
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
// no content hash matches and every order is a repeat; short leaves each
// file's last order out, so that its rows are no loaded file's either.
func redeliver(files []string, dir string, short bool) error {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		text := string(b)
		if short {
			text = text[:strings.LastIndex(strings.TrimSuffix(text, "\n"), "\n")+1]
		}
		name := strings.Replace(filepath.Base(f), "_09-00-00.csv", "_21-00-00.csv", 1)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.ReplaceAll(text, "\n", "\r\n")), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// printResend prints each model's build time and the runs' phases in
// four columns: the first year, the year again, the year again an order
// short a file, a new year; and the last three against the first.
func printResend(opt Options, first, again, short, next *project.Summary) {
	took := func(s *project.Summary) map[string]time.Duration {
		out := map[string]time.Duration{}
		for _, b := range s.Build.Built {
			if b.Rows >= 0 {
				out[b.Model.Name] = b.Duration
			}
		}
		return out
	}
	runs := []*project.Summary{first, again, short, next}
	times := make([]map[string]time.Duration, len(runs))
	for i, s := range runs {
		times[i] = took(s)
	}
	var names []string
	for n := range times[0] {
		names = append(names, n)
	}
	slices.Sort(names)
	secs := func(d time.Duration) string { return fmt.Sprintf("%8.2fs", d.Seconds()) }
	ratio := func(x, y time.Duration) string {
		if y <= 0 {
			return fmt.Sprintf("%7s", "-")
		}
		return fmt.Sprintf("%6.2f×", x.Seconds()/y.Seconds())
	}
	fmt.Fprintf(opt.Out, "  %-28s %9s %9s %9s %9s   %7s %7s %7s (÷ year)\n", "", "year", "again", "short", "new year", "again", "short", "new")
	row := func(name string, d [4]time.Duration) {
		fmt.Fprintf(opt.Out, "  %-28s %s %s %s %s   %s %s %s\n", name, secs(d[0]), secs(d[1]), secs(d[2]), secs(d[3]), ratio(d[1], d[0]), ratio(d[2], d[0]), ratio(d[3], d[0]))
	}
	for _, n := range names {
		row(n, [4]time.Duration{times[0][n], times[1][n], times[2][n], times[3][n]})
	}
	phase := func(f func(*project.Summary) time.Duration) [4]time.Duration {
		var d [4]time.Duration
		for i, s := range runs {
			d[i] = f(s)
		}
		return d
	}
	row("load", phase(func(s *project.Summary) time.Duration { return s.Loading }))
	row("checks", phase(func(s *project.Summary) time.Duration { return s.Build.Checking }))
	row("publish", phase(func(s *project.Summary) time.Duration { return s.Build.Publishing }))
	row("run", phase(func(s *project.Summary) time.Duration { return s.Duration }))
	rows := func(s *project.Summary) int64 { n, _, _ := s.Rows(); return n }
	fmt.Fprintf(opt.Out, "  orders loaded: %d, %d again (files told redeliveries: skipped), %d again an order short a file (every one a repeat), %d new\n", rows(first), rows(again), rows(short), rows(next))
}
