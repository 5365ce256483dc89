package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/project"
)

func (a *app) backfillCmd() *cobra.Command {
	var f runFlags
	var from, to string
	var every int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "backfill [PIPELINE] --from DATE --to DATE",
		Short: "Load and build a range of days of historic files, resumably",
		Long: `Backfill takes the files of the pipeline's sources whose day is in [--from, --to]
(from the file name where a source declares file_date, else from its first row),
loads those not loaded yet, and builds only the days they touch in the
incremental models. It publishes once at the end, or after every N days with
--publish-every so dashboards fill in as it goes.

Every file commits on its own and every publish is one transaction, so a
backfill killed at any moment (Ctrl-C or kill -9) carries on where it stopped
when run again, loading no file twice; an identical second backfill does
nothing and says so.`,
		Example: `  percolate backfill --from 2021-01-01 --to 2023-12-31 --source invoices='/data/invoices/*.csv'
  percolate backfill --from 2022-01-01 --to 2022-12-31 --publish-every 30 --jobs 2
  percolate backfill --from 2022-03-01 --to 2022-03-31 --dry-run --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			ro, err := f.options(args, false)
			if err != nil {
				return err
			}
			opt := project.BackfillOptions{RunOptions: ro, PublishEvery: every, DryRun: dryRun}
			if opt.From, opt.To, err = dayRange(from, to); err != nil {
				return err
			}
			if f.output != "text" && f.output != "json" {
				return usagef("--output %q: want text or json", f.output)
			}
			return a.backfill(ctx, opt, f.output)
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringVar(&from, "from", "", "first day, YYYY-MM-DD (required)")
	cmd.Flags().StringVar(&to, "to", "", "last day, YYYY-MM-DD (required)")
	cmd.Flags().IntVar(&every, "publish-every", 0, "publish after every N days of files (default: once, at the end)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list the files and days it would take, and the plan; change nothing")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "text or json")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("to")
	return cmd
}

// backfill runs a backfill, showing its progress, and prints its report.
func (a *app) backfill(ctx context.Context, opt project.BackfillOptions, output string) error {
	p, pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	start := time.Now()
	var files, daysDone int
	var rows int64
	d := a.newDisplay()
	if !opt.DryRun {
		d.attach(&opt.RunOptions)
	}
	perFile := opt.OnFile
	opt.OnFile = func(r project.FileResult) {
		files++
		rows += r.Loaded
		if perFile != nil {
			perFile(r)
		}
	}
	opt.OnChunk = func(c project.Chunk, s *project.Summary) {
		daysDone += c.Days
		d.published(c.From, c.To)
		if output != "text" || c.Days == 0 {
			return
		}
		el := time.Since(start)
		left := time.Duration(float64(el) / float64(daysDone) * float64(c.DaysLeft))
		d.done(a.stdout, fmt.Sprintf("published %s … %s · %d days, %d files, %s rows so far · %d days left, ~%s",
			c.From.Format(time.DateOnly), c.To.Format(time.DateOnly), daysDone, files, thousands(rows), c.DaysLeft, left.Round(time.Second)))
	}
	rep, err := p.Backfill(ctx, pool, opt)
	d.close(err)
	if rep != nil {
		a.printBackfill(rep, output, opt.DryRun)
	}
	return err
}

func (a *app) printBackfill(rep *project.BackfillReport, output string, dryRun bool) {
	if output == "json" {
		a.printBackfillJSON(rep)
		return
	}
	var b strings.Builder
	w := &b
	defer a.flush(&b)
	pending := 0
	for _, fs := range rep.Pending {
		pending += len(fs)
	}
	fmt.Fprintf(w, "backfill %s … %s of pipeline %s\n", rep.From, rep.To, rep.Pipeline)
	fmt.Fprintf(w, "  files:   %d in range, %d not loaded yet, over %d days\n", rep.Found, pending, len(rep.Days))
	if len(rep.Undated) > 0 {
		fmt.Fprintf(w, "  undated: %d files whose day could not be told (skipped), e.g. %s\n", len(rep.Undated), rep.Undated[0])
	}
	if dryRun {
		writeDryRun(w, rep)
		return
	}
	if rep.UpToDate {
		fmt.Fprintln(w, "  up to date: every file in the range is loaded and every model is built; nothing to do")
		return
	}
	var files, publishes int
	var rows, rejected int64
	models := 0
	for _, s := range rep.Runs {
		l, _, r := s.Rows()
		rows += l
		rejected += r
		files += s.Count(project.Loaded) + s.Count(project.Replaced)
		if s.Published {
			publishes++
			models += s.Built()
		}
	}
	fmt.Fprintf(w, "  loaded:  %d files, %d rows (%d rejected) in %d publish(es), %d model builds\n", files, rows, rejected, publishes, models)
	printExpectations(w, rep.Expectations)
	fmt.Fprintf(w, "  time:    %s (%.0f rows/s)\n", rep.Duration.Round(time.Millisecond), float64(rows)/rep.Duration.Seconds())
}

// printBackfillJSON prints a backfill's report as JSON, with its runs.
func (a *app) printBackfillJSON(rep *project.BackfillReport) {
	type run struct {
		RunID    int64   `json:"run_id"`
		Files    int     `json:"files_loaded"`
		Rows     int64   `json:"rows_loaded"`
		Rejected int64   `json:"rows_rejected"`
		Models   int     `json:"models_built"`
		Seconds  float64 `json:"seconds"`
	}
	out := struct {
		*project.BackfillReport
		Runs    []run   `json:"runs"`
		Seconds float64 `json:"seconds"`
	}{BackfillReport: rep, Seconds: rep.Duration.Seconds()}
	for _, s := range rep.Runs {
		loaded, _, rejected := s.Rows()
		out.Runs = append(out.Runs, run{s.RunID, s.Count(project.Loaded) + s.Count(project.Replaced), loaded, rejected, s.Built(), s.Duration.Seconds()})
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}

// writeDryRun writes what a backfill's dry run found: the files it would
// load, and the plan of its models.
func writeDryRun(w io.Writer, rep *project.BackfillReport) {
	for src, fs := range rep.Pending {
		for i, f := range fs {
			if i == 20 {
				fmt.Fprintf(w, "    … and %d more\n", len(fs)-20)
				break
			}
			fmt.Fprintf(w, "    %s: %s\n", src, f)
		}
	}
	if rep.Plan != nil {
		for _, s := range rep.Plan.Models {
			what := "skip "
			if s.Build {
				what = "build"
			}
			fmt.Fprintf(w, "    %s %-28s %s\n", what, s.Name, s.Reason)
		}
	}
	fmt.Fprintln(w, "  dry run: nothing changed")
}
