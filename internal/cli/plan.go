package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/project"
)

func (a *app) planCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "plan [PIPELINE]",
		Short: "Say what a run would load and build, and why, changing nothing",
		Long: `Plan hashes every file of the pipeline's sources against the file manifest and
compares every selected model's version and inputs with the ledger, then prints
what 'run' would do: the new files per source, and per model build or skip with
the reason (new model, changed version, new data, parent rebuilt, unchanged).
Of a source declared immutable: true it lists, as run does, only the folders
whose time moved since a run took them (docs/loading.md).`,
		Example: `  percolate plan
  percolate plan --select state:modified+ --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.env != "" {
				return a.planEnv(cmd, &f, args)
			}
			ctx := cmd.Context()
			opt, err := f.options(args, false)
			if err != nil {
				return err
			}
			p, pool, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			rep, err := p.Plan(ctx, pool, opt)
			if err != nil {
				return err
			}
			return a.printPlan(rep, f.output)
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringVar(&f.env, "env", "", "say what run --env NAME would build in environment NAME, and what it would view from live")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "text or json")
	return cmd
}

func (a *app) printPlan(rep *project.PlanReport, output string) error {
	switch output {
	case "json":
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "text":
	default:
		return usagef("--output %q: want text or json", output)
	}
	w := a.stdout
	fmt.Fprintf(w, "plan for pipeline %s\n", rep.Pipeline)
	if rep.Citus != "" {
		fmt.Fprintf(w, "  engine: Citus %s: tables distributed as their models and sources declare\n", rep.Citus)
	}
	fmt.Fprintln(w, "  files:")
	for _, s := range rep.Sources {
		fmt.Fprintf(w, "    %-22s %d new of %d\n", s.Source, len(s.Pending), s.Files)
		for i, f := range s.Pending {
			if i == 10 {
				fmt.Fprintf(w, "      … and %d more\n", len(s.Pending)-10)
				break
			}
			fmt.Fprintf(w, "      %s\n", f)
		}
		if len(s.Outdated) > 0 {
			fmt.Fprintf(w, "      read again, the contract having changed since they were refused or had rejects: %s\n", strings.Join(s.Outdated, ", "))
		}
	}
	writeSeeds(w, rep.Seeds, "  seeds:  ", "to load")
	for _, f := range rep.DropFunctions {
		fmt.Fprintf(w, "  drop function %s: no file of models/functions declares it any more\n", f)
	}
	builds := 0
	for _, s := range rep.Models {
		if s.Build {
			builds++
		}
	}
	fmt.Fprintf(w, "  models: %d to build, %d to skip\n", builds, len(rep.Models)-builds)
	for _, s := range rep.Models {
		what := "skip "
		if s.Build {
			what = "build"
		}
		dist := ""
		if rep.Citus != "" && s.Distribution != "" {
			dist = " [distributed " + s.Distribution + "]"
		}
		fmt.Fprintf(w, "    %s %-28s %s%s\n", what, s.Name, s.Reason, dist)
		if len(s.EditedColumns) > 0 {
			fmt.Fprintf(w, "          columns edited: %s\n", strings.Join(s.EditedColumns, ", "))
		}
	}
	if len(rep.Panels) > 0 {
		fmt.Fprintf(w, "  panels that read an edited column, or one computed from it: %d\n", len(rep.Panels))
		for _, p := range rep.Panels {
			fmt.Fprintf(w, "    %s\n", p)
		}
	}
	return nil
}

func (a *app) testCmd() *cobra.Command {
	var t testFlags
	var pl pipelineArg
	cmd := &cobra.Command{
		Use:   "test [PIPELINE]",
		Short: "Run the models' checks against the published tables, or their unit tests (--unit)",
		Long: `Test runs the checks declared in the selected models' headers against what
readers see now, prints each result with sample failing rows, and records them
in the ledger. It exits 1 when a check of severity error fails.

With --unit it runs instead the models' unit tests: fixed rows in, the rows the
model must return out, from models/<schema>/<name>.test.yaml beside the model.
They need no loaded file and no built table, and change nothing: each case runs
in temporary tables of a transaction that is rolled back (on the database the
project uses, the embedded one by default). A failing case prints the rows it
missed, the rows it did not expect, and, matched by the model's unique check,
the changed rows with the columns that differ; the exit code is then 1.

A test file:
  cases:
    - name: cash and card are split
      interval: {from: 2022-03-01, to: 2022-03-01}   # incremental models only
      given:                       # rows of the relations the model reads;
        core.invoices:             # only the columns that matter, others NULL
          - {store: Leeds, day: 2022-03-01, total: 2.45, payment_method: CASH}
          - {store: Leeds, day: 2022-03-01, total: 3.00, payment_method: CARD}
      expect:                      # only these columns are compared
        - {store: Leeds, cash_revenue: 2.45, card_revenue: 3.00}
Values are read as the column's type reads text (dates, times, numbers);
the session's time zone is UTC.

Checks are header lines of a model:
  -- check: unique(invoice_id)
  -- check: not_null(invoice_id, store)
  -- check: accepted_values(payment_method: CASH, CARD)
  -- check: relationships(customer_id -> core.customers.customer_id)
  -- check: row_count(min: 1)
  -- check: sql SELECT … FROM … WHERE …     (returns the bad rows)
ending in [warn] to report without failing.`,
		Example: `  percolate test                             # the checks, on the published tables
  percolate test --unit                      # every model's unit tests
  percolate test --unit --select marts.daily_sales --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pipeline, err := pl.name(args)
			if err != nil {
				return err
			}
			return a.test(cmd.Context(), pipeline, t)
		},
	}
	registerSelect(cmd, &t.sel, &t.exclude)
	pl.register(cmd)
	cmd.Flags().StringVarP(&t.output, "output", "o", "text", "text or json")
	cmd.Flags().BoolVar(&t.unit, "unit", false, "run the models' unit tests (*.test.yaml) instead of the checks")
	cmd.Flags().StringVar(&t.env, "env", "", "run the checks of what environment NAME built, on its relations (nothing recorded)")
	return cmd
}

// testFlags are what test was asked: the models, how to print, and
// whether to run the unit tests rather than the checks.
type testFlags struct {
	sel, exclude []string
	output       string
	unit         bool
	env          string
}

// test runs the checks of a pipeline's selected models on the published
// tables, or their unit tests, and prints how they went.
func (a *app) test(ctx context.Context, pipeline string, t testFlags) error {
	p, g, err := a.graph(pipeline)
	if err != nil {
		return err
	}
	if t.output != "text" && t.output != "json" {
		return usagef("--output %q: want text or json", t.output)
	}
	pool, err := p.Connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	if t.unit {
		return a.unitTests(ctx, unitRun{p: p, pool: pool, g: g, testFlags: t})
	}
	if t.env != "" {
		return a.testEnv(ctx, p, pool, g, t)
	}
	results, failed, err := p.Test(ctx, pool, g, t.sel, t.exclude)
	if err != nil {
		return err
	}
	if t.output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(results)
	} else {
		for _, r := range results {
			status := "ok  "
			if r.Failures > 0 {
				status = "FAIL"
				if r.Severity == "warn" {
					status = "WARN"
				}
			}
			fmt.Fprintf(a.stdout, "%s %-28s %s (%d failing rows)\n", status, r.Model, r.Name, r.Failures)
			for _, row := range r.Sample {
				fmt.Fprintf(a.stdout, "       %s\n", row)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d check(s) failed", failed)
	}
	return nil
}
