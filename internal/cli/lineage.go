package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/lineage"
	"github.com/percolate/percolate/internal/project"
	"github.com/percolate/percolate/internal/staging"
)

// dashboardsDir is where a project keeps its Grafana dashboards.
var dashboardsDir = filepath.Join("grafana", "dashboards")

// lineage follows the columns of g's models and of the project's
// dashboard panels. have is the tables the migrations make; nil reads
// them.
func (a *app) lineage(p *project.Folder, g *dag.Graph, have *staging.Schema) (*lineage.Graph, []*lineage.Panel, error) {
	if have == nil {
		var err error
		if have, err = p.StagingFromMigrations(); err != nil {
			return nil, nil, err
		}
	}
	if err := p.AddSeeds(have); err != nil {
		return nil, nil, err
	}
	l, err := lineage.Build(g, func(rel string) []string {
		t := have.Tables[rel]
		if t == nil {
			return nil
		}
		names := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			names[i] = c.Name
		}
		return names
	})
	if err != nil {
		return nil, nil, err
	}
	panels, err := l.ReadPanels(os.DirFS(p.Dir), filepath.ToSlash(dashboardsDir))
	return l, panels, err
}

// columnLineage is what `models lineage` tells of one column.
type columnLineage struct {
	Column     string           `json:"column"`
	From       []string         `json:"from"`
	Sources    []string         `json:"sources"`
	Downstream []string         `json:"downstream"`
	Panels     []*lineage.Panel `json:"panels"`
}

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
			p, g, err := a.graph(pipeline)
			if err != nil {
				return err
			}
			l, panels, err := a.lineage(p, g, nil)
			if err != nil {
				return err
			}
			cols := []string{args[0]}
			if g.Model(args[0]) != nil {
				cols = l.ModelColumns(args[0])
			} else if err := l.Check(args[0]); err != nil {
				return usagef("%v", err)
			}
			var out []columnLineage
			for _, c := range cols {
				cl := columnLineage{Column: c, From: l.Direct(c), Sources: l.Sources(c), Panels: l.Touched(panels, []string{c})}
				for _, d := range l.Downstream(c) {
					if d != c {
						cl.Downstream = append(cl.Downstream, d)
					}
				}
				out = append(out, cl)
			}
			if output == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				doc := map[string]any{"columns": out}
				if m := g.Model(args[0]); m != nil {
					doc["functions"], doc["vars"], doc["seeds"] = uses(g, m)
				}
				return enc.Encode(doc)
			}
			var b strings.Builder
			list := func(xs []string) string {
				if len(xs) == 0 {
					return "-"
				}
				return strings.Join(xs, ", ")
			}
			for i, cl := range out {
				if i > 0 {
					b.WriteString("\n")
				}
				fmt.Fprintf(&b, "%s\n", cl.Column)
				fmt.Fprintf(&b, "  computed from   %s\n", list(cl.From))
				fmt.Fprintf(&b, "  source columns  %s\n", list(cl.Sources))
				fmt.Fprintf(&b, "  used by         %s\n", list(cl.Downstream))
				var names []string
				for _, p := range cl.Panels {
					names = append(names, p.String())
				}
				fmt.Fprintf(&b, "  panels          %s\n", list(names))
			}
			writeUses(&b, g, args[0])
			for _, p := range panels {
				if p.Err != "" {
					fmt.Fprintf(a.stderr, "warning: %s: panel %q: its SQL could not be followed: %s\n", p.File, p.Title, p.Err)
				}
			}
			a.flush(&b)
			return nil
		},
	}
	cmd.Flags().StringVarP(&pipeline, "pipeline", "p", "", "pipeline (default: the only one)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}
