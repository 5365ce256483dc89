package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/delivery"
	"github.com/percolate/percolate/internal/ledger"
)

func (a *app) checkSourcesCmd() *cobra.Command {
	var asOf, output string
	cmd := &cobra.Command{
		Use:   "check-sources [PIPELINE]",
		Short: "Check that every branch's files arrive: missing days, staleness, volume",
		Long: `Check-sources checks the delivery expectations the pipeline's sources declare,
against what is loaded, without loading anything (run and backfill check them
too, after publishing):

  expect: {every: day, per: branch, active_days: 14, severity: warn}
      every branch that delivered in the last active_days days has a file for
      every day up to yesterday; a missing branch-day has the severity given
  freshness: {warn_after: 26h, error_after: 50h}
      each branch's newest day (whole at its end, in the source's time zone)
      is not older than that
  volume: {warn_below: 50%, warn_above: 200%}
      a day's orders against the median of the branch's same weekday over the
      4 weeks before

--as-of takes another day for today, to check history. The check and what it
found go to the ledger (health.expectations). It exits 1 when an expectation
of severity error is unmet.`,
		Example: `  percolate check-sources
  percolate check-sources --as-of 2022-03-31 --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var day time.Time
			if asOf != "" {
				d, err := time.Parse(time.DateOnly, asOf)
				if err != nil {
					return usagef("--as-of %q: want YYYY-MM-DD", asOf)
				}
				day = d
			}
			if output != "text" && output != "json" {
				return usagef("--output %q: want text or json", output)
			}
			name := ""
			if len(args) > 0 {
				name = args[0]
			}
			ctx := cmd.Context()
			p, pool, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			pl, err := p.Config.Pipeline(name)
			if err != nil {
				return err
			}
			found, err := p.CheckDeliveries(ctx, pool, pl, 0, day)
			if err != nil {
				return err
			}
			var failed error
			if n := delivery.Errors(found); n > 0 {
				failed = fmt.Errorf("%d delivery expectation(s) of severity error unmet", n)
			}
			if output == "json" {
				if found == nil {
					found = []ledger.Expectation{}
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
			} else if len(found) == 0 {
				fmt.Fprintln(a.stdout, "every expectation met")
			} else {
				for _, e := range found {
					fmt.Fprintf(a.stdout, "%-8s %s\n", e.Severity+":", e)
				}
			}
			return failed
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", "the day to take for today, YYYY-MM-DD (default: today)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}
