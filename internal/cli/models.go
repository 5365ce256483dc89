package cli

import (
	"cmp"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/project"
)

func (a *app) validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check pipelines.yaml and every model, without a database",
		Long: `Validate decodes pipelines.yaml strictly (an unknown key is an error), parses
every model's SQL with PostgreSQL's own parser, resolves the dependency graph,
checks that the staging tables the migrations make are the ones each source's
contract fills (column by column, parsing the migrations the same way), decodes
the dashboards and alert rules declared for Grafana (dashboards/*.yaml,
alerts.yaml), and reports the first problem as FILE:LINE: message. Exit code 2 on a problem.
A mart without a description is a warning: descriptions, and '-- column NAME:
text' lines, become the comments psql's \d+ and Grafana's query editor show.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.project()
			if err != nil {
				return err
			}
			have, err := p.StagingFromMigrations()
			if err != nil {
				return err
			}
			for _, name := range p.Config.Names() {
				pl := p.Config.Pipelines[name]
				g, err := p.Graph(pl)
				if err != nil {
					return err
				}
				if err := p.CheckStaging(pl, have); err != nil {
					return err
				}
				cases, err := p.UnitCases(g)
				if err != nil {
					return err
				}
				for _, m := range g.Models {
					if m.Schema == "marts" && m.Config.Description == "" {
						fmt.Fprintf(a.stderr, "warning: %s: a mart without a description (-- description: …), which psql's \\d+ and Grafana show\n", m.Path)
					}
				}
				l, err := p.Lineage(g, have)
				if err != nil {
					return err
				}
				for _, pn := range l.Panels {
					if len(pn.Missing) > 0 {
						fmt.Fprintf(a.stderr, "warning: %s: panel %q reads %s, which the models do not make\n", pn.File, pn.String(), strings.Join(pn.Missing, ", "))
					}
					if pn.Err != "" {
						fmt.Fprintf(a.stderr, "warning: %s: panel %q: its SQL could not be followed: %s\n", pn.File, pn.String(), pn.Err)
					}
				}
				fmt.Fprintf(a.stdout, "pipeline %s: %d sources, %d models, %d unit test cases: ok\n", name, len(pl.Sources), len(g.Models), len(cases))
			}
			decl, stale, err := a.grafanaFiles()
			if err != nil {
				return err
			}
			for _, f := range stale {
				fmt.Fprintf(a.stderr, "warning: %s: not what the declarations render: run percolate grafana\n", f.Path)
			}
			if len(decl.Dashboards) > 0 || decl.Rules != nil {
				fmt.Fprintf(a.stdout, "grafana: %d dashboards, %d alert rules: ok\n", len(decl.Dashboards), len(decl.Rules))
			}
			return nil
		},
	}
}

func (a *app) modelsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Inspect the SQL models",
	}
	var pl pipelineArg
	var sel, exclude []string
	list := &cobra.Command{
		Use:   "list [PIPELINE]",
		Short: "List the models in build order, with what they read",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pipeline, err := pl.name(args)
			if err != nil {
				return err
			}
			p, g, err := a.graph(pipeline)
			if err != nil {
				return err
			}
			var modified func(*dag.Model) bool
			if usesState(sel, exclude) {
				pool, err := p.Connect(cmd.Context())
				if err != nil {
					return err
				}
				defer pool.Close()
				if modified, err = p.Modified(cmd.Context(), pool); err != nil {
					return err
				}
			}
			models, err := g.Select(sel, exclude, modified)
			if err != nil {
				return usagef("%v", err)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tMATERIALIZED\tDISTRIBUTED\tVERSION\tREADS\tPATH")
			for _, m := range models {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Config.Materialized, cmp.Or(m.Config.Distribution(), "-"), m.Version, strings.Join(m.Refs, ", "), m.Path)
			}
			return tw.Flush()
		},
	}
	pl.register(list)
	registerSelect(list, &sel, &exclude)
	cmd.AddCommand(list, a.graphCmd(), a.compileCmd(), a.lineageCmd())
	return cmd
}

func usesState(sel ...[]string) bool {
	for _, s := range sel {
		for _, t := range s {
			if strings.Contains(t, "state:") {
				return true
			}
		}
	}
	return false
}

func (a *app) graphCmd() *cobra.Command {
	var pl pipelineArg
	var format string
	cmd := &cobra.Command{
		Use:   "graph [PIPELINE]",
		Short: "Print the dependency graph of the models",
		Example: `  percolate models graph --format dot | dot -Tsvg > models.svg
  percolate models graph --format mermaid`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pipeline, err := pl.name(args)
			if err != nil {
				return err
			}
			_, g, err := a.graph(pipeline)
			if err != nil {
				return err
			}
			if err := g.WriteGraph(a.stdout, format); err != nil {
				return usagef("%v", err)
			}
			return nil
		},
	}
	pl.register(cmd)
	cmd.Flags().StringVar(&format, "format", "dot", "dot, mermaid or json")
	return cmd
}

func (a *app) compileCmd() *cobra.Command {
	var pipeline string
	cmd := &cobra.Command{
		Use:   "compile NAME",
		Short: "Print the exact SQL a run executes for a model",
		Long: `Compile prints the statements a full run executes to build the model: it is
built beside the live relation as NAME__next, reading its parents' new
relations, and renamed into place by the swap.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, g, err := a.graph(pipeline)
			if err != nil {
				return err
			}
			models, err := g.Select(args, nil, nil)
			if err != nil || len(models) != 1 {
				return usagef("no model %q (see: percolate models list)", args[0])
			}
			m := models[0]
			sql, err := project.Compile(g, m)
			if err != nil {
				return err
			}
			next := m.Name + "__next"
			if m.Config.Materialized == dag.View {
				fmt.Fprintf(a.stdout, "CREATE VIEW %s AS\n%s;\n", next, sql)
			} else {
				fmt.Fprintf(a.stdout, "CREATE TABLE %s AS\n%s;\n", next, sql)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&pipeline, "pipeline", "p", "", "pipeline (default: the only one)")
	return cmd
}

func (a *app) rejectsCmd() *cobra.Command {
	var source, file string
	var limit int
	cmd := &cobra.Command{
		Use:   "rejects",
		Short: "List rows that broke their source's contract",
		Long: `Rejects lists the rows kept aside by loads (newest file first): file, line,
column, reason and the row with personal fields masked as ***. Fix the file and
deliver it again: its new content replaces the old rows.`,
		Example: `  percolate rejects --source invoices
  percolate rejects --file in/leeds_2022-03-01.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, pool, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			list, err := p.Rejects(ctx, pool, project.RejectFilter{Source: source, File: file, Limit: limit})
			if err != nil {
				return err
			}
			if len(list) == 0 {
				fmt.Fprintln(a.stdout, "no rejects")
				return nil
			}
			for _, r := range list {
				col := ""
				if r.Column != "" {
					col = " column " + r.Column
				}
				fmt.Fprintf(a.stdout, "%s:%d:%s %s\n    %s\n", r.File, r.Line, col, r.Reason, r.Raw)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "only this source")
	cmd.Flags().StringVar(&file, "file", "", "only this file (as shown in the run summary)")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many")
	return cmd
}
