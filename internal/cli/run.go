package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/project"
)

type runFlags struct {
	pipeline    pipelineArg
	sources     []string
	jobs        int
	buildJobs   int
	wait        bool
	rehash      bool
	selectors   []string
	exclude     []string
	fullRefresh bool
	from        string
	output      string
	publishWait time.Duration
	asOf        string
	env         string
}

func (f *runFlags) register(cmd *cobra.Command, models bool) {
	f.pipeline.register(cmd)
	cmd.Flags().StringArrayVar(&f.sources, "source", nil, "replace a source's path glob for this run: NAME=GLOB (repeatable)")
	cmd.Flags().IntVarP(&f.jobs, "jobs", "j", 0, "files loaded at once, each in its own transaction (default: the number of cores)")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait for a run already in progress instead of exiting 3")
	cmd.Flags().BoolVar(&f.rehash, "rehash", false, "read every file to learn its content, even one loaded before with the same path, size and modification time")
	if models {
		registerSelect(cmd, &f.selectors, &f.exclude)
		cmd.Flags().IntVar(&f.buildJobs, "build-jobs", 0, "models built side by side, each on its own connection (default: the number of cores; on Citus 1, since every statement already runs on every worker)")
		cmd.Flags().BoolVar(&f.fullRefresh, "full-refresh", false, "rebuild the selected models whatever their state")
		cmd.Flags().StringVar(&f.asOf, "as-of", "", "the day the delivery checks (expect, freshness, volume) take for today, YYYY-MM-DD (default: today)")
		cmd.Flags().DurationVar(&f.publishWait, "publish-wait", time.Minute, "how long the publish waits for readers holding a table it replaces (a dashboard query is held up 2s at most at a time); past it the run exits 1, nothing published")
		if cmd.Name() != "backfill" {
			cmd.Flags().StringVar(&f.from, "from", "", "after a version change, rebuild an incremental model's days from this date (YYYY-MM-DD) only")
		}
	}
}

// selectHelp documents the selector syntax shared by run, plan, test and models list.
const selectHelp = `models to consider: NAME, NAME+ (and downstream), +NAME (and upstream),
tag:X, path:models/marts, state:modified; several separated by commas or
repeated flags (a union)`

func registerSelect(cmd *cobra.Command, sel, exclude *[]string) {
	cmd.Flags().StringArrayVarP(sel, "select", "s", nil, selectHelp)
	cmd.Flags().StringArrayVar(exclude, "exclude", nil, "models to leave out, same syntax as --select")
}

// checkCount checks a flag counting connections (--jobs, --build-jobs).
func checkCount(flag string, n int) error {
	if n < 0 {
		return usagef("%s %d: want a count of 1 or more, or 0 for the default", flag, n)
	}
	return nil
}

func (f *runFlags) options(args []string, loadOnly bool) (project.RunOptions, error) {
	if err := checkCount("--jobs", f.jobs); err != nil {
		return project.RunOptions{}, err
	}
	if err := checkCount("--build-jobs", f.buildJobs); err != nil {
		return project.RunOptions{}, err
	}
	opt := project.RunOptions{Jobs: f.jobs, BuildJobs: f.buildJobs, Wait: f.wait, Rehash: f.rehash, LoadOnly: loadOnly, Sources: map[string]string{},
		Select: f.selectors, Exclude: f.exclude, FullRefresh: f.fullRefresh, PublishWait: f.publishWait}
	var err error
	if opt.Pipeline, err = f.pipeline.name(args); err != nil {
		return opt, err
	}
	if f.asOf != "" {
		d, err := time.Parse(time.DateOnly, f.asOf)
		if err != nil {
			return opt, usagef("--as-of %q: want YYYY-MM-DD", f.asOf)
		}
		opt.AsOf = d
	}
	if f.from != "" {
		d, err := time.Parse(time.DateOnly, f.from)
		if err != nil {
			return opt, usagef("--from %q: want YYYY-MM-DD", f.from)
		}
		opt.From = d
	}
	for _, s := range f.sources {
		name, glob, ok := strings.Cut(s, "=")
		if !ok || name == "" || glob == "" {
			return opt, usagef("--source %q: want NAME=GLOB, e.g. --source transactions='incoming/*.csv'", s)
		}
		opt.Sources[name] = glob
	}
	return opt, nil
}

func (a *app) runCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [PIPELINE]",
		Short: "Load new files and build every model",
		Long: `Run applies pending migrations, loads every file of the pipeline's sources that
is not loaded yet (a file is known by its content, so a file delivered twice is
skipped, and a changed file replaces its earlier rows), then builds the models
in dependency order and publishes them in one transaction.

A model is rebuilt only when its version (its normalised SQL, its config and
its parents' versions) changed, or its inputs got new data; otherwise it says
skip (unchanged). New tables are built beside the live ones, their checks run,
and only then are they swapped in: a failing error-severity check publishes
nothing and the run exits 1 with sample rows.

PIPELINE may be left out when pipelines.yaml declares only one.
Rows that break a source's contract go to the rejects table (see 'percolate
rejects'); a file with more than its max_rejects is refused whole and the run
exits 1 after loading the other files and building the models.`,
		Example: `  percolate run
  percolate run sales --source invoices='archive/2021-*.csv' --jobs 4
  percolate run --select marts.daily_sales+ --select tag:core --exclude marts.hourly_sales
  percolate run --select state:modified+      # what you edited, and everything downstream`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.env != "" {
				return a.runEnv(cmd, &f, args, f.env)
			}
			opt, err := f.options(args, false)
			if err != nil {
				return err
			}
			return a.run(cmd, opt, f.output)
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringVar(&f.env, "env", "", envHelp)
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "text, or json: one object (files, rows, rejects, models built and skipped, checks, delivery expectations, exit code and reason)")
	return cmd
}

func (a *app) loadCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "load [PIPELINE]",
		Short: "Load new files into staging without building models",
		Long: `Load does the loading half of 'run': new files into their staging tables, one
transaction per file, recorded in the file manifest. Build later with 'run'.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt, err := f.options(args, true)
			if err != nil {
				return err
			}
			return a.run(cmd, opt, f.output)
		},
	}
	f.register(cmd, false)
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "text, or json: one object (files, rows, rejects, exit code and reason)")
	return cmd
}

func (a *app) run(cmd *cobra.Command, opt project.RunOptions, output string) error {
	if output != "text" && output != "json" {
		return usagef("--output %q: want text or json", output)
	}
	ctx := cmd.Context()
	p, pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	d := a.newDisplay()
	d.attach(&opt)
	sum, err := p.Run(ctx, pool, opt)
	d.close(err)
	if output == "json" || os.Getenv(EnvNotifyURL) != "" {
		r := a.report(cmd.Name(), sum, err)
		if output == "json" {
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			if jerr := enc.Encode(r); jerr != nil {
				return jerr
			}
		}
		if !errors.As(err, new(*project.InterruptedError)) { // stopped on purpose: no alarm
			a.notify(ctx, os.Getenv(EnvNotifyURL), r)
		}
	}
	if sum != nil && output == "text" {
		a.printSummary(sum)
	}
	return err
}

func (a *app) printSummary(s *project.Summary) {
	var b strings.Builder
	w := &b
	defer a.flush(&b)
	loaded, items, rejected := s.Rows()
	fmt.Fprintf(w, "run %d of pipeline %s\n", s.RunID, s.Pipeline)
	if s.Citus != "" {
		fmt.Fprintf(w, "  engine:  Citus %s: tables distributed as their models and sources declare\n", s.Citus)
	}
	fmt.Fprintf(w, "  files:   %d loaded, %d replaced, %d skipped (already loaded), %d refused",
		s.Count(project.Loaded), s.Count(project.Replaced), s.Count(project.Skipped), s.Count(project.Refused))
	if n := s.Count(project.RefusedEarlier); n > 0 {
		fmt.Fprintf(w, ", %d refused earlier", n)
	}
	if n := s.Count(project.Failed); n > 0 {
		fmt.Fprintf(w, ", %d failed", n)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  rows:    %d loaded (%d items), %d rejected", loaded, items, rejected)
	if n := s.RefusedRows(); n > 0 {
		fmt.Fprintf(w, "; %d more in refused files", n)
	}
	fmt.Fprintln(w)
	for _, n := range s.Notes {
		fmt.Fprintf(w, "  note:    %s\n", n)
	}
	writeSeeds(w, s.Seeds, "  seeds:   ", "loaded")
	for _, f := range s.Files {
		if f.Status == project.Refused || f.Status == project.Failed {
			fmt.Fprintf(w, "  %-8s %v\n", string(f.Status)+":", f.Err)
		} else if f.Rejected > 0 {
			fmt.Fprintf(w, "  rejects: %s: %d (first: %s); see: percolate rejects --file %s\n", f.Path, f.Rejected, f.Rejects[0], f.Path)
		}
	}
	if s.Build != nil {
		fmt.Fprintf(w, "  models:  %d built, %d skipped\n", len(s.Build.Built), len(s.Build.Plan.Steps)-len(s.Build.Built))
		for _, st := range s.Build.Plan.Steps {
			line := "skip (" + st.Reason + ")"
			for _, b := range s.Build.Built {
				if b.Model == st.Model {
					rows := "view"
					if b.Rows >= 0 {
						rows = fmt.Sprintf("%d rows", b.Rows)
					}
					line = fmt.Sprintf("%-11s %-12s %-8s %s", b.Model.Config.Materialized, rows, b.Duration.Round(time.Millisecond), st.Reason)
				}
			}
			fmt.Fprintf(w, "    %-28s %s\n", st.Name, line)
		}
		for _, c := range s.Build.Checks {
			if c.Failures > 0 {
				fmt.Fprintf(w, "  check:   %s %s [%s]: %d failing rows (%s:%d)\n", c.Model, c.Name, c.Severity, c.Failures, c.Path, c.Line)
				for _, row := range c.Sample {
					fmt.Fprintf(w, "             %s\n", row)
				}
			}
		}
	}
	printExpectations(w, s.Expectations)
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
	fmt.Fprintf(w, "  time:    %s\n", s.Duration.Round(time.Millisecond))
}

// printExpectations lists the delivery expectations found unmet, a line
// each, the first 20.
func printExpectations(w io.Writer, found []project.Expectation) {
	for i, e := range found {
		if i == 20 {
			fmt.Fprintf(w, "  … and %d more: percolate check-sources --output json\n", len(found)-20)
			break
		}
		fmt.Fprintf(w, "  %-8s %s\n", e.Severity+":", e)
	}
}
