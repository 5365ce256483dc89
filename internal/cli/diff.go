package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/project"
)

func (a *app) diffCmd() *cobra.Command {
	var opt project.DiffOptions
	var pl pipelineArg
	var output string
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
			if output != "text" && output != "json" && output != "markdown" {
				return usagef("--output %q: want text, json or markdown", output)
			}
			pipeline, err := pl.name(args)
			if err != nil {
				return err
			}
			if len(opt.Select) == 0 {
				opt.Select = []string{"state:modified+"}
			}
			return a.diff(cmd.Context(), pipeline, opt, output)
		},
	}
	registerSelect(cmd, &opt.Select, &opt.Exclude)
	pl.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, json or markdown")
	cmd.Flags().IntVar(&opt.Sample, "sample", 5, "changed, added and removed rows to show per model")
	cmd.Flags().BoolVar(&opt.Wait, "wait", false, "wait for a run holding the database instead of exiting 3")
	cmd.Flags().StringVar(&opt.Env, "env", "", "compare environment NAME (built by run --env) with live, instead of building the edits")
	return cmd
}

// diff runs a diff of the pipeline's models and prints it as output says.
func (a *app) diff(ctx context.Context, pipeline string, opt project.DiffOptions, output string) error {
	p, g, err := a.graph(pipeline)
	if err != nil {
		return err
	}
	l, err := p.Lineage(g, nil)
	if err != nil {
		return err
	}
	pool, err := p.Connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	d := a.newDisplay()
	opt.OnBuild = d.build
	rep, err := p.Diff(ctx, pool, g, l, opt)
	d.close(err)
	if rep == nil {
		return err
	}
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
}

// unchanged says a model's rows and columns are as they were.
func unchanged(d project.ModelDiff) bool {
	return !d.New && d.Added+d.Removed+d.Changed == 0 && len(d.ColumnsAdded)+len(d.ColumnsRemoved)+len(d.ColumnsRetyped) == 0
}

func writeText(w *strings.Builder, rep *project.DiffReport) {
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
func writeSample(w io.Writer, indent string, d project.ModelDiff) {
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
func writeMarkdown(w io.Writer, rep *project.DiffReport) {
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
