package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/project"
)

func (a *app) checkSourcesCmd() *cobra.Command {
	var asOf, since, output string
	var full bool
	var pl pipelineArg
	cmd := &cobra.Command{
		Use:   "check-sources [PIPELINE]",
		Short: "Check that every group's files arrive (say, every store's): missing days, staleness, volume",
		Long: `Check-sources checks the delivery expectations the pipeline's sources declare,
against what is loaded, without loading anything (run and backfill check them
too, after publishing). A group is a value of the column expect names in per
(a store, a supplier, a region):

  expect: {every: day, per: store, severity: warn, retired: [York], ended: 2022-03-03}
      every store that has ever delivered has a file for every day since its
      first, up to yesterday; each missing store-day is listed, with the
      severity given. A store in retired is expected up to its own newest day
      only; after ended (the source's last day) nothing is expected, and the
      checks take the day after it for today.
  freshness: {warn_after: 26h, error_after: 50h}
      each store's newest day (whole at its end, in the source's time zone)
      is not older than that; when every store is that old, one finding says
      so ("no files from any store since …") instead of one per store
  volume: {warn_below: 50%, warn_above: 200%}
      a day's rows, over the last 14 days, against the median of the same
      store's same weekday over the 4 weeks before

--as-of takes another day for today, to check history; --since lists missing
days from that day only. A check reads of the sources' tables only the days
of the files loaded since the last check; --full reads them whole, after their
rows were changed other than by a load. The check and what it found go to the
ledger (health.expectations). It exits 1 when an expectation of severity error is
unmet.`,
		Example: `  percolate check-sources
  percolate check-sources --since 2022-03-01
  percolate check-sources --as-of 2022-03-31 --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var c sourcesCheck
			for _, f := range []struct {
				flag, value string
				day         *time.Time
			}{{"--as-of", asOf, &c.asOf}, {"--since", since, &c.since}} {
				if f.value == "" {
					continue
				}
				d, err := time.Parse(time.DateOnly, f.value)
				if err != nil {
					return usagef("%s %q: want YYYY-MM-DD", f.flag, f.value)
				}
				*f.day = d
			}
			if output != "text" && output != "json" {
				return usagef("--output %q: want text or json", output)
			}
			var err error
			if c.pipeline, err = pl.name(args); err != nil {
				return err
			}
			c.output, c.full = output, full
			return a.checkSources(cmd.Context(), c)
		},
	}
	pl.register(cmd)
	cmd.Flags().StringVar(&asOf, "as-of", "", "the day to take for today, YYYY-MM-DD (default: today)")
	cmd.Flags().StringVar(&since, "since", "", "list missing days from this day on, YYYY-MM-DD (default: each group's first day)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.Flags().BoolVar(&full, "full", false, "read every day of the sources' tables, not only those of the files loaded since the last check")
	return cmd
}

// sourcesCheck is what check-sources was asked.
type sourcesCheck struct {
	pipeline, output string
	asOf, since      time.Time
	full             bool
}

// checkSources checks the deliveries of a pipeline's sources and prints
// what it found unmet.
func (a *app) checkSources(ctx context.Context, c sourcesCheck) error {
	p, pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	pl, err := p.Config.Pipeline(c.pipeline)
	if err != nil {
		return err
	}
	found, day, err := p.CheckSources(ctx, pool, pl, c.asOf, c.since, c.full)
	if err != nil {
		return err
	}
	failed := unmetError(found)
	if c.output == "json" {
		if found == nil {
			found = []project.Expectation{}
		}
		out := map[string]any{"expectations": found, "exit_code": ExitOK}
		if failed != nil {
			out["exit_code"], out["error"] = ExitFailure, failed.Error()
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
		return failed
	}
	ended(a.stdout, pl, day)
	if len(found) == 0 {
		fmt.Fprintln(a.stdout, "every expectation met")
	}
	for _, e := range found {
		if e.Kind == project.Silent {
			fmt.Fprintf(a.stdout, "%-8s %s: %s\n", e.Severity+":", e.Source, e.Detail)
			continue
		}
		fmt.Fprintf(a.stdout, "%-8s %s\n", e.Severity+":", e)
	}
	return failed
}

// unmetError is check-sources' error for the findings of severity error: a
// source gone silent is said in its own words, the rest counted.
func unmetError(found []project.Expectation) error {
	var errs []error
	n := 0
	for _, e := range found {
		switch {
		case e.Severity != "error":
		case e.Kind == project.Silent:
			errs = append(errs, fmt.Errorf("%s: %s", e.Source, e.Detail))
		default:
			n++
		}
	}
	if n > 0 {
		errs = append(errs, fmt.Errorf("%d delivery expectation(s) of severity error unmet", n))
	}
	return errors.Join(errs...)
}

// ended notes each source checked as of the day after its declared end, not
// today, so that "every expectation met" is not read as "up to date".
func ended(w io.Writer, pl *config.Pipeline, asOf time.Time) {
	for _, name := range pl.SourceNames() {
		e := pl.Sources[name].Expect
		if e != nil && !e.Ended.IsZero() && asOf.Format(time.DateOnly) > e.Ended.Format(time.DateOnly) {
			fmt.Fprintf(w, "note:    %s: its deliveries ended on %s (expect: ended), so it is checked as of the day after\n", name, e.Ended.Format(time.DateOnly))
		}
	}
}
