package cli

import (
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (a *app) migrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Manage the warehouse schema with goose migrations",
		Long: `Two goose sequences make the warehouse's schema: the ledger's own (schema
percolate and its roles, built into percolate, recorded in
percolate.ledger_version) and the project's, in migrations/ (its staging and
reference tables, the grants its readers need; percolate.goose_db_version).
Every command applies the ledger's pending migrations; 'percolate run' and
'migrate up' then make the schemas the sources and models use and apply the
project's. See docs/migrations.md.`,
	}
	cmd.AddCommand(a.migrateUpCmd(), a.migrateDownCmd(), a.migrateStatusCmd(), a.migrateCreateCmd())
	return cmd
}

// waitFlag is --wait of the migrations that change the schema.
func waitFlag(cmd *cobra.Command, wait *bool) {
	cmd.Flags().BoolVar(wait, "wait", false, "wait for a run in progress instead of exiting 3 (migrations take the run lock)")
}

func (a *app) migrateUpCmd() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration: the ledger's, then the project's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, pool, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			res, err := p.MigrateUp(cmd.Context(), pool, wait)
			for _, r := range res.Ledger {
				fmt.Fprintf(a.stdout, "applied percolate's ledger %s (%s)\n", filepath.Base(r.Source.Path), r.Duration.Round(1e6))
			}
			for _, r := range res.Project {
				fmt.Fprintf(a.stdout, "applied %s (%s)\n", filepath.Base(r.Source.Path), r.Duration.Round(1e6))
			}
			if err == nil && len(res.Ledger)+len(res.Project) == 0 {
				fmt.Fprintln(a.stdout, "no pending migrations")
			}
			return err
		},
	}
	waitFlag(cmd, &wait)
	return cmd
}

func (a *app) migrateDownCmd() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Roll back the most recent migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, pool, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			name, err := p.MigrateDown(cmd.Context(), pool, wait)
			if name != "" {
				fmt.Fprintf(a.stdout, "rolled back %s\n", name)
			}
			return err
		},
	}
	waitFlag(cmd, &wait)
	return cmd
}

func (a *app) migrateStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, pool, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			st, err := p.MigrationStatus(cmd.Context(), pool)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MIGRATION\tSTATE\tAPPLIED AT")
			for _, s := range st {
				at := ""
				if !s.AppliedAt.IsZero() {
					at = s.AppliedAt.Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.State, at)
			}
			return tw.Flush()
		},
	}
}

func (a *app) migrateCreateCmd() *cobra.Command {
	var source, pipeline string
	cmd := &cobra.Command{
		Use:   "create [NAME] [--source SOURCE]",
		Short: "Write a new SQL migration into migrations/: empty, or a source's staging tables",
		Long: `Create writes the next numbered goose migration into migrations/.

With --source it writes the migration that makes the source's staging tables as
its contract in pipelines.yaml fills them (columns, types, BRIN indexes on
load_id and the day), or, when the migrations already make them, the columns
they lack and the types that changed. A new file layout is then: a source
entry, this migration, and a line in the core models. 'percolate validate'
checks that the contracts and the migrations agree.`,
		Example: `  percolate migrate create add_roles
  percolate migrate create --source kiosk_transactions`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.project()
			if err != nil {
				return err
			}
			var name, up, down string
			if len(args) == 1 {
				name = args[0]
			}
			if source != "" {
				if up, down, err = p.StagingMigration(pipeline, source); err != nil {
					return err
				}
				if name == "" {
					name = source + "_staging"
				}
			}
			if name == "" {
				return usagef("migrate create: give the migration a NAME, or --source")
			}
			path, err := p.CreateMigration(name, up, down)
			if err != nil {
				return usagef("migrate create: %v", err)
			}
			fmt.Fprintf(a.stdout, "created %s\n", path)
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "write the staging tables of this source, from its contract")
	cmd.Flags().StringVarP(&pipeline, "pipeline", "p", "", "pipeline of --source (default: the only one)")
	return cmd
}
