package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/project"
)

func (a *app) lineageCmd() *cobra.Command {
	var pipeline, output string
	cmd := &cobra.Command{
		Use:   "lineage COLUMN|MODEL",
		Short: "Where a model's column comes from, and which dashboard panels read it",
		Long: `Lineage follows a column through the models' SQL, from PostgreSQL's own parse
trees: the columns its model's SQL computes it from, the source (staging)
columns at the end of that chain, the model columns computed from it in turn,
and the dashboard panels (grafana/dashboards/*.json) whose SQL reads it or one
of those. Given a model, it does so for each of its columns; given a staging
column, it says what is computed from it and which panels show it. Nothing is
connected to: it reads the models, the migrations and the dashboards.`,
		Example: `  percolate models lineage marts.daily_sales.avg_value
  percolate models lineage marts.hourly_sales --output json
  percolate models lineage staging.transactions.payment_method`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usagef("--output %q: want text or json", output)
			}
			return a.lineage(pipeline, args[0], output)
		},
	}
	cmd.Flags().StringVarP(&pipeline, "pipeline", "p", "", "pipeline (default: the only one)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// lineage prints the lineage of a column, or of each column of a model.
func (a *app) lineage(pipeline, name, output string) error {
	p, g, err := a.graph(pipeline)
	if err != nil {
		return err
	}
	l, err := p.Lineage(g, nil)
	if err != nil {
		return err
	}
	cols := []string{name}
	if g.Model(name) != nil {
		cols = l.ModelColumns(name)
	} else if err := l.Check(name); err != nil {
		return usagef("%v", err)
	}
	var out []project.ColumnLineage
	for _, c := range cols {
		out = append(out, l.Column(c))
	}
	if output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		doc := map[string]any{"columns": out}
		if m := g.Model(name); m != nil {
			doc["functions"], doc["vars"], doc["seeds"] = uses(g, m)
		}
		return enc.Encode(doc)
	}
	var b strings.Builder
	for i, cl := range out {
		if i > 0 {
			b.WriteString("\n")
		}
		writeLineage(&b, cl)
	}
	writeUses(&b, g, name)
	for _, p := range l.Panels {
		if p.Err != "" {
			fmt.Fprintf(a.stderr, "warning: %s: panel %q: its SQL could not be followed: %s\n", p.File, p.Title, p.Err)
		}
	}
	a.flush(&b)
	return nil
}

// writeLineage writes what lineage tells of a column, a line for each
// direction.
func writeLineage(b *strings.Builder, cl project.ColumnLineage) {
	list := func(xs []string) string {
		if len(xs) == 0 {
			return "-"
		}
		return strings.Join(xs, ", ")
	}
	fmt.Fprintf(b, "%s\n", cl.Column)
	fmt.Fprintf(b, "  computed from   %s\n", list(cl.From))
	fmt.Fprintf(b, "  source columns  %s\n", list(cl.Sources))
	fmt.Fprintf(b, "  used by         %s\n", list(cl.Downstream))
	var names []string
	for _, p := range cl.Panels {
		names = append(names, p.String())
	}
	fmt.Fprintf(b, "  panels          %s\n", list(names))
}
