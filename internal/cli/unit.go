package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/project"
)

// unitRun is a unit test command's call: the project, its database, the
// models and the flags.
type unitRun struct {
	p    *project.Folder
	pool *pgxpool.Pool
	g    *dag.Graph
	testFlags
}

// unitTests runs the unit tests of the selected models and prints how
// each case went.
func (a *app) unitTests(ctx context.Context, u unitRun) error {
	start := time.Now()
	cases, err := u.p.UnitCases(u.g)
	if err != nil {
		return err
	}
	if len(cases) == 0 {
		return usagef("no unit tests: write models/<schema>/<name>%s beside a model (see percolate test --help)", project.UnitSuffix)
	}
	var models []*dag.Model
	if usesState(u.sel, u.exclude) {
		models, err = u.p.Selected(ctx, u.pool, u.g, u.sel, u.exclude)
	} else if models, err = u.g.Select(u.sel, u.exclude, nil); err != nil {
		err = usagef("%v", err)
	}
	if err != nil {
		return err
	}
	picked := map[*dag.Model]bool{}
	for _, m := range models {
		picked[m] = true
	}
	var run []*project.UnitCase
	for _, c := range cases {
		if picked[c.Model] {
			run = append(run, c)
		}
	}
	if len(run) == 0 {
		fmt.Fprintf(a.stdout, "unit tests: none for the %d model(s) selected\n", len(models))
		return nil
	}
	results, err := u.p.RunUnit(ctx, u.pool, u.g, run)
	if err != nil {
		return err
	}
	return a.printUnit(results, u.output, time.Since(start))
}

// printUnit prints how each unit test case went, and fails when one did.
func (a *app) printUnit(results []*project.UnitResult, output string, took time.Duration) error {
	failed := 0
	for _, r := range results {
		if !r.Passed {
			failed++
		}
	}
	if output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"cases": results, "failed": failed}); err != nil {
			return err
		}
	} else {
		var b strings.Builder
		for _, r := range results {
			printCase(&b, r)
		}
		fmt.Fprintf(&b, "unit tests: %d cases, %d passed, %d failed (%s)\n", len(results), len(results)-failed, failed, took.Round(time.Millisecond))
		a.flush(&b)
	}
	if failed > 0 {
		return fmt.Errorf("%d unit test case(s) failed", failed)
	}
	return nil
}

func printCase(b *strings.Builder, r *project.UnitResult) {
	status := "ok  "
	if !r.Passed {
		status = "FAIL"
	}
	fmt.Fprintf(b, "%s %s › %s (%s)\n", status, r.Model, r.Name, r.Took.Round(100*time.Microsecond))
	if r.Passed {
		return
	}
	fmt.Fprintf(b, "       %s\n", r.Where)
	if r.Err != "" {
		fmt.Fprintf(b, "       error: %s\n", r.Err)
	}
	for _, c := range r.Changed {
		var cols []string
		for _, col := range c.Columns {
			cols = append(cols, fmt.Sprintf("%s: want %s, got %s", col.Column, col.Want, col.Got))
		}
		fmt.Fprintf(b, "       ~ changed    %s: %s\n", c.Key, strings.Join(cols, "; "))
	}
	for _, row := range r.Missing {
		fmt.Fprintf(b, "       - missing    %s\n", row)
	}
	for _, row := range r.Unexpected {
		fmt.Fprintf(b, "       + unexpected %s\n", row)
	}
}
