package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/project"
	"github.com/percolate/percolate/internal/unit"
)

// unitTests runs the unit tests of the selected models and prints how
// each case went.
func (a *app) unitTests(ctx context.Context, p *project.Folder, pool *pgxpool.Pool, g *dag.Graph, sel, exclude []string, output string) error {
	start := time.Now()
	cases, err := unit.Load(os.DirFS(p.Dir), g)
	if err != nil {
		return err
	}
	if len(cases) == 0 {
		return usagef("no unit tests: write models/<schema>/<name>%s beside a model (see percolate test --help)", unit.Suffix)
	}
	var models []*dag.Model
	if usesState(sel, exclude) {
		models, err = build.Selected(ctx, pool, g, build.Options{Select: sel, Exclude: exclude})
	} else if models, err = g.Select(sel, exclude, nil); err != nil {
		err = usagef("%v", err)
	}
	if err != nil {
		return err
	}
	picked := map[*dag.Model]bool{}
	for _, m := range models {
		picked[m] = true
	}
	var run []*unit.Case
	for _, c := range cases {
		if picked[c.Model] {
			run = append(run, c)
		}
	}
	if len(run) == 0 {
		fmt.Fprintf(a.stdout, "unit tests: none for the %d model(s) selected\n", len(models))
		return nil
	}
	have, err := p.StagingFromMigrations()
	if err == nil {
		err = p.AddSeeds(have)
	}
	if err != nil {
		return err
	}
	results, err := unit.Run(ctx, pool, g, run, have)
	if err != nil {
		return err
	}
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
		fmt.Fprintf(&b, "unit tests: %d cases, %d passed, %d failed (%s)\n", len(results), len(results)-failed, failed, time.Since(start).Round(time.Millisecond))
		a.flush(&b)
	}
	if failed > 0 {
		return fmt.Errorf("%d unit test case(s) failed", failed)
	}
	return nil
}

func printCase(b *strings.Builder, r *unit.Result) {
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
