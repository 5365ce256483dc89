package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/lineage"
	"github.com/percolate/percolate/internal/pg"
)

// modelDiff is a model's diff as the command prints it: the build's, and
// the panels that read what changed.
type modelDiff struct {
	*build.ModelDiff
	Panels []string `json:"panels"`
}

// diffReport is what `percolate diff --output json` prints.
type diffReport struct {
	Models []modelDiff `json:"models"`
	// Panels are every dashboard panel that reads a changed column.
	Panels []string            `json:"panels"`
	Checks []build.CheckResult `json:"checks"`
}

func (a *app) diffCmd() *cobra.Command {
	var sel, exclude []string
	var pl pipelineArg
	var output string
	var sample int
	var wait bool
	var env string
	cmd := &cobra.Command{
		Use:   "diff [PIPELINE]",
		Short: "Build the edited models beside the live ones and say how their rows would change, changing nothing",
		Long: `Diff builds the selected models (by default state:modified+: the models whose
version differs from the one last built, and everything downstream) into
NAME__next exactly as a run builds a model whole, runs their checks there, and
compares each with its live relation by its key (the columns of its unique
check): rows added, removed and changed, how many values of each column
changed, and a sample of changed rows, before and after. Then it rolls
everything back: the warehouse and the ledger are left as they were. It also
names the dashboard panels that read a changed column (grafana/dashboards).

A model without a unique check is compared row by row, whole: rows added and
removed, none changed. Diff takes the run lock (exit 3 when a run holds it, or
--wait). Exit 0 whatever the differences; 1 when a model fails to build or an
error check fails.`,
		Example: `  percolate diff
  percolate diff --select marts.daily_sales --output json
  percolate diff --output markdown > diff.md      # a pull request comment`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if output != "text" && output != "json" && output != "markdown" {
				return usagef("--output %q: want text, json or markdown", output)
			}
			pipeline, err := pl.name(args)
			if err != nil {
				return err
			}
			if len(sel) == 0 {
				sel = []string{"state:modified+"}
			}
			p, g, err := a.graph(pipeline)
			if err != nil {
				return err
			}
			l, panels, err := a.lineage(p, g, nil)
			if err != nil {
				return err
			}
			pool, err := p.Connect(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			lock, err := pg.Lock(ctx, pool, "run", wait)
			if err != nil {
				return err
			}
			defer lock.Release()
			d := a.newDisplay()
			var res *build.DiffResult
			if env != "" {
				res, err = build.EnvDiff(ctx, pool, g, env, sample)
			} else {
				res, err = build.Diff(ctx, pool, g, build.Options{Select: sel, Exclude: exclude, OnEvent: d.build}, sample)
			}
			d.close(err)
			if err != nil && !errors.Is(err, build.ErrChecks) {
				return err
			}
			rep := report(res, l, panels)
			switch output {
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			case "markdown":
				writeMarkdown(a.stdout, rep)
			default:
				var b strings.Builder
				writeText(&b, rep)
				a.flush(&b)
			}
			return err
		},
	}
	registerSelect(cmd, &sel, &exclude)
	pl.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, json or markdown")
	cmd.Flags().IntVar(&sample, "sample", 5, "changed, added and removed rows to show per model")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for a run holding the database instead of exiting 3")
	cmd.Flags().StringVar(&env, "env", "", "compare environment NAME (built by run --env) with live, instead of building the edits")
	return cmd
}

// report adds the panels each model's changes touch.
func report(res *build.DiffResult, l *lineage.Graph, panels []*lineage.Panel) *diffReport {
	rep := &diffReport{Models: []modelDiff{}, Panels: []string{}, Checks: res.Checks}
	if rep.Checks == nil {
		rep.Checks = []build.CheckResult{}
	}
	all := map[string]bool{}
	for _, d := range res.Models {
		var cols []string
		if d.Added+d.Removed > 0 || d.New {
			cols = l.ModelColumns(d.Model) // whole rows come and go
		} else {
			for c := range d.Columns {
				cols = append(cols, d.Model+"."+c)
			}
			for _, c := range d.ColumnsRemoved {
				cols = append(cols, d.Model+"."+c)
			}
			for c := range d.ColumnsRetyped {
				cols = append(cols, d.Model+"."+c)
			}
		}
		md := modelDiff{ModelDiff: d, Panels: []string{}}
		for _, p := range l.Touched(panels, cols) {
			md.Panels = append(md.Panels, p.String())
			all[p.String()] = true
		}
		rep.Models = append(rep.Models, md)
	}
	rep.Panels = append(rep.Panels, slices.Sorted(maps.Keys(all))...)
	return rep
}

// unchanged says a model's rows and columns are as they were.
func unchanged(d modelDiff) bool {
	return !d.New && d.Added+d.Removed+d.Changed == 0 && len(d.ColumnsAdded)+len(d.ColumnsRemoved)+len(d.ColumnsRetyped) == 0
}

func writeText(w *strings.Builder, rep *diffReport) {
	if len(rep.Models) == 0 {
		fmt.Fprintf(w, "no model differs from the one last built: nothing to compare (--select names others)\n")
		return
	}
	fmt.Fprintf(w, "diff of %d model(s) built from the working copy against the live warehouse (nothing was changed)\n", len(rep.Models))
	for _, d := range rep.Models {
		key := "rows compared whole (no unique check)"
		if len(d.Key) > 0 {
			key = "key (" + strings.Join(d.Key, ", ") + ")"
		}
		switch {
		case d.New:
			fmt.Fprintf(w, "\n%s: new model, %d rows\n", d.Model, d.RowsAfter)
		case unchanged(d):
			fmt.Fprintf(w, "\n%s: no difference (%d rows, %s)\n", d.Model, d.RowsAfter, key)
			continue
		default:
			fmt.Fprintf(w, "\n%s: %d → %d rows, %s\n", d.Model, d.RowsBefore, d.RowsAfter, key)
			fmt.Fprintf(w, "  added %d, removed %d, changed %d\n", d.Added, d.Removed, d.Changed)
		}
		if len(d.Columns) > 0 {
			var cols []string
			for _, c := range slices.Sorted(maps.Keys(d.Columns)) {
				cols = append(cols, fmt.Sprintf("%s %d", c, d.Columns[c]))
			}
			fmt.Fprintf(w, "  values changed: %s\n", strings.Join(cols, ", "))
		}
		if len(d.ColumnsAdded) > 0 && !d.New {
			fmt.Fprintf(w, "  columns added: %s\n", strings.Join(d.ColumnsAdded, ", "))
		}
		if len(d.ColumnsRemoved) > 0 {
			fmt.Fprintf(w, "  columns removed: %s\n", strings.Join(d.ColumnsRemoved, ", "))
		}
		for _, c := range slices.Sorted(maps.Keys(d.ColumnsRetyped)) {
			fmt.Fprintf(w, "  column %s: %s\n", c, d.ColumnsRetyped[c])
		}
		writeSample(w, "  ", d)
		if len(d.Panels) > 0 {
			fmt.Fprintf(w, "  panels: %s\n", strings.Join(d.Panels, ", "))
		}
	}
	writeChecks(w, rep.Checks)
}

func writeChecks(w io.Writer, checks []build.CheckResult) {
	for _, c := range checks {
		if c.Failures > 0 {
			fmt.Fprintf(w, "\ncheck %s %s (%s:%d): %d failing rows (%s)\n", c.Model, c.Name, c.Path, c.Line, c.Failures, c.Severity)
		}
	}
}

// writeSample writes a model's sample rows, a line each: ~ changed,
// + added, - removed.
func writeSample(w io.Writer, indent string, d modelDiff) {
	for _, r := range d.Sample {
		fmt.Fprintf(w, "%s~ %s: %s\n", indent, jsonText(r.Key), changes(r))
	}
	for _, r := range d.SampleAdded {
		fmt.Fprintf(w, "%s+ %s\n", indent, r)
	}
	for _, r := range d.SampleRemoved {
		fmt.Fprintf(w, "%s- %s\n", indent, r)
	}
}

// changes is a changed row's columns, before → after.
func changes(r build.ChangedRow) string {
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(r.After)) {
		parts = append(parts, fmt.Sprintf("%s %s → %s", c, jsonText(r.Before[c]), jsonText(r.After[c])))
	}
	return strings.Join(parts, "; ")
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// writeMarkdown writes the report as a pull request comment: a table of
// the models, the samples folded away, and the panels touched.
func writeMarkdown(w io.Writer, rep *diffReport) {
	fmt.Fprintf(w, "### Percolate data diff\n\n")
	if len(rep.Models) == 0 {
		fmt.Fprintf(w, "No model differs from the one last built.\n")
		return
	}
	fmt.Fprintf(w, "| model | rows before → after | added | removed | changed | values changed |\n|---|---|---|---|---|---|\n")
	for _, d := range rep.Models {
		var cols []string
		for _, c := range slices.Sorted(maps.Keys(d.Columns)) {
			cols = append(cols, fmt.Sprintf("`%s` %d", c, d.Columns[c]))
		}
		for _, c := range d.ColumnsAdded {
			if !d.New {
				cols = append(cols, fmt.Sprintf("`%s` added", c))
			}
		}
		for _, c := range d.ColumnsRemoved {
			cols = append(cols, fmt.Sprintf("`%s` removed", c))
		}
		for _, c := range slices.Sorted(maps.Keys(d.ColumnsRetyped)) {
			cols = append(cols, fmt.Sprintf("`%s` %s", c, d.ColumnsRetyped[c]))
		}
		before := fmt.Sprint(d.RowsBefore)
		if d.New {
			before = "new"
		}
		fmt.Fprintf(w, "| `%s` | %s → %d | %d | %d | %d | %s |\n", d.Model, before, d.RowsAfter, d.Added, d.Removed, d.Changed, strings.Join(cols, ", "))
	}
	for _, d := range rep.Models {
		if len(d.Sample)+len(d.SampleAdded)+len(d.SampleRemoved) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n<details><summary><code>%s</code>: a sample of the rows</summary>\n\n```diff\n", d.Model)
		writeSample(w, "", d)
		fmt.Fprintf(w, "```\n\n</details>\n")
	}
	if len(rep.Panels) > 0 {
		fmt.Fprintf(w, "\n**Dashboard panels that read a changed column:** %s\n", strings.Join(rep.Panels, "; "))
	}
	var b strings.Builder
	writeChecks(&b, rep.Checks)
	if b.Len() > 0 {
		fmt.Fprintf(w, "\n**Checks failing:**\n```%s```\n", b.String())
	}
}
