package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"
	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/migrate"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/project"
	"github.com/percolate/percolate/internal/staging"
	"github.com/percolate/percolate/loaders"
)

func (a *app) dbCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the embedded PostgreSQL database",
		Long: `Without --database-url or $PERCOLATE_DATABASE_URL, percolate keeps a PostgreSQL
cluster of its own under .percolate/pg in the project folder, made from the
machine's PostgreSQL binaries (PATH, then /usr/lib/postgresql/*/bin). It listens
on 127.0.0.1 only, on a port of its own, with a generated password, and stays
running after 'percolate run' so that psql or Grafana can read it.`,
	}
	cluster := func() (*pg.Cluster, error) {
		p, err := a.project()
		if err != nil {
			return nil, err
		}
		return p.Cluster()
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "start",
		Short: "Create the embedded database if needed and start it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cluster()
			if err != nil {
				return err
			}
			if err := c.Start(cmd.Context()); err != nil {
				return err
			}
			u, err := c.URL()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "embedded database running in %s\n%s\n", c.Dir, pg.Redact(u))
			return nil
		},
	}, &cobra.Command{
		Use:   "stop",
		Short: "Stop the embedded database (its data stays)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cluster()
			if err != nil {
				return err
			}
			if err := c.Stop(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "embedded database stopped")
			return nil
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "Say whether the embedded database runs, and where",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.project()
			if err != nil {
				return err
			}
			if p.External() {
				return a.serverStatus(cmd)
			}
			c, err := cluster()
			if err != nil {
				return err
			}
			if !c.Running(cmd.Context()) {
				fmt.Fprintf(a.stdout, "stopped (%s); start it with: percolate db start\n", c.Dir)
				return nil
			}
			u, err := c.URL()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "running (%s)\n%s\n", c.Dir, pg.Redact(u))
			fmt.Fprintln(a.stdout, "settings, sized for this machine:")
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			for _, s := range c.Settings() {
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, s.Value, s.Why)
			}
			return tw.Flush()
		},
	}, a.dbURLCmd(), &cobra.Command{
		Use:   "psql [-- PSQL ARGS]",
		Short: "Open psql on the database",
		Example: `  percolate db psql
  percolate db psql -- -c 'TABLE marts.daily_sales'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := a.databaseURL(cmd.Context())
			if err != nil {
				return err
			}
			bin, err := exec.LookPath("psql")
			if err != nil {
				dir, derr := pg.FindBinaries()
				if derr != nil {
					return fmt.Errorf("psql not found: install it with: apt-get install -y postgresql-client")
				}
				bin = filepath.Join(dir, "psql")
			}
			// The password goes by PGPASSWORD: a command line is public
			// to every user of the machine (ps, /proc).
			u, pw := pg.SplitPassword(u)
			c := exec.CommandContext(cmd.Context(), bin, append([]string{u}, args...)...)
			c.Stdin, c.Stdout, c.Stderr = a.stdin, a.stdout, a.stderr
			if pw != "" {
				c.Env = append(os.Environ(), "PGPASSWORD="+pw)
			}
			return c.Run()
		},
	})
	return cmd
}

// dbURLCmd prints the database URL, its password masked unless asked
// for: a terminal's scrollback, a CI log or a screen share keeps it.
func (a *app) dbURLCmd() *cobra.Command {
	var show bool
	cmd := &cobra.Command{
		Use:   "url",
		Short: "Print the database URL, its password masked (starting the embedded database if needed)",
		Long: `Print the URL percolate uses, e.g. for Grafana's PostgreSQL data source or for psql.
The password is masked; --show-password prints it. 'percolate db psql' needs neither.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := a.databaseURL(cmd.Context())
			if err != nil {
				return err
			}
			if !show {
				u = pg.Redact(u)
			}
			fmt.Fprintln(a.stdout, u)
			return nil
		},
	}
	cmd.Flags().BoolVar(&show, "show-password", false, "print the password in the URL")
	return cmd
}

// serverStatus describes a database percolate was pointed at: the server,
// and the Citus extension when it has one.
func (a *app) serverStatus(cmd *cobra.Command) error {
	p, pool, err := a.connect(cmd.Context())
	if err != nil {
		return err
	}
	defer pool.Close()
	e, err := p.Engine(cmd.Context(), pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "database: %s (not the embedded one)\nserver:   PostgreSQL %s\n", pg.Redact(pool.Config().ConnString()), e.Version)
	if e.IsCitus() {
		fmt.Fprintf(a.stdout, "engine:   Citus %s, %d workers: staging tables and models are distributed as declared\n", e.Citus, e.Workers)
	} else {
		fmt.Fprintln(a.stdout, "engine:   plain PostgreSQL: distribution declarations change nothing")
	}
	return nil
}

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
	var wait bool
	// locked runs fn under the run lock, so that no run loads or builds
	// while the schema changes, with the indexes a killed load dropped
	// built again first (a migration finds them).
	locked := func(cmd *cobra.Command, fn func(*project.Folder, *pgxpool.Pool) error) error {
		p, pool, err := a.connect(cmd.Context())
		if err != nil {
			return err
		}
		defer pool.Close()
		lock, err := pg.Lock(cmd.Context(), pool, "run", wait)
		if err != nil {
			return err
		}
		defer lock.Release()
		if err := p.RestoreIndexes(cmd.Context(), pool); err != nil {
			return err
		}
		return fn(p, pool)
	}
	// withProvider runs fn with goose on the project's migrations.
	withProvider := func(cmd *cobra.Command, p *project.Folder, pool *pgxpool.Pool, fn func(*goose.Provider) error) error {
		prov, db, err := migrate.Provider(cmd.Context(), pool, p.Migrations(), migrate.ProjectTable)
		if errors.Is(err, migrate.ErrNone) {
			return fmt.Errorf("%s holds no migration (percolate migrate create --source SOURCE writes one)", p.MigrationsDir())
		}
		if err != nil {
			return err
		}
		defer db.Close()
		return fn(prov)
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration: the ledger's, then the project's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return locked(cmd, func(p *project.Folder, pool *pgxpool.Pool) error {
				res, err := p.Migrate(cmd.Context(), pool)
				if err == nil {
					err = setReader(cmd, a)
				}
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
			})
		},
	}, &cobra.Command{
		Use:   "down",
		Short: "Roll back the most recent migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return locked(cmd, func(p *project.Folder, pool *pgxpool.Pool) error {
				return withProvider(cmd, p, pool, func(prov *goose.Provider) error {
					r, err := prov.Down(cmd.Context())
					if r != nil {
						fmt.Fprintf(a.stdout, "rolled back %s\n", filepath.Base(r.Source.Path))
					}
					return err
				})
			})
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, pool, err := a.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			return withProvider(cmd, p, pool, func(prov *goose.Provider) error {
				st, err := prov.Status(cmd.Context())
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
					fmt.Fprintf(tw, "%s\t%s\t%s\n", filepath.Base(s.Source.Path), s.State, at)
				}
				return tw.Flush()
			})
		},
	}, a.migrateCreateCmd())
	for _, c := range cmd.Commands() {
		if c.Name() == "up" || c.Name() == "down" {
			c.Flags().BoolVar(&wait, "wait", false, "wait for a run in progress instead of exiting 3 (migrations take the run lock)")
		}
	}
	return cmd
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
				pl, err := p.Config.Pipeline(pipeline)
				if err != nil {
					return err
				}
				src := pl.Sources[source]
				if src == nil {
					return &project.UnknownSourceError{Pipeline: pl.Name, Source: source, Known: pl.SourceNames()}
				}
				have, err := p.StagingFromMigrations()
				if err != nil {
					return err
				}
				if up, down, err = staging.Migration(src, have); err != nil {
					return err
				}
				if name == "" {
					name = source + "_staging"
				}
			}
			if name == "" {
				return usagef("migrate create: give the migration a NAME, or --source")
			}
			path, err := migrate.Create(p.MigrationsDir(), name, up, down)
			if err != nil {
				return usagef("migrate create: %v", err)
			}
			fmt.Fprintf(a.stdout, "created %s\n", loaders.RelPath(p.Dir, path))
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "write the staging tables of this source, from its contract")
	cmd.Flags().StringVarP(&pipeline, "pipeline", "p", "", "pipeline of --source (default: the only one)")
	return cmd
}

// setReader applies $PERCOLATE_GRAFANA_PASSWORD after migrations.
func setReader(cmd *cobra.Command, a *app) error {
	p, pool, err := a.connect(cmd.Context())
	if err != nil {
		return err
	}
	defer pool.Close()
	return p.SetReaderPassword(cmd.Context(), pool)
}

// databaseURL is the URL of the project's database, starting the embedded
// one if needed.
func (a *app) databaseURL(ctx context.Context) (string, error) {
	p, err := a.project()
	if err != nil {
		return "", err
	}
	return p.DatabaseURL(ctx)
}
