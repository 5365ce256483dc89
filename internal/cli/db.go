package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/project"
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
	cmd.AddCommand(a.dbStartCmd(), a.dbStopCmd(), a.dbStatusCmd(), a.dbURLCmd(), a.dbPsqlCmd())
	return cmd
}

// cluster is the project's embedded cluster.
func (a *app) cluster() (*project.Cluster, error) {
	p, err := a.project()
	if err != nil {
		return nil, err
	}
	return p.Cluster()
}

func (a *app) dbStartCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "start",
		Short: "Create the embedded database if needed and start it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.cluster()
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
			fmt.Fprintf(a.stdout, "embedded database running in %s\n%s\n", c.Dir, project.Redact(u))
			return nil
		},
	}
}

func (a *app) dbStopCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stop",
		Short: "Stop the embedded database (its data stays)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.cluster()
			if err != nil {
				return err
			}
			if err := c.Stop(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "embedded database stopped")
			return nil
		},
	}
}

func (a *app) dbStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Say whether the embedded database runs, and where",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.project()
			if err != nil {
				return err
			}
			if p.External() {
				return a.serverStatus(cmd.Context())
			}
			c, err := a.cluster()
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
			fmt.Fprintf(a.stdout, "running (%s)\n%s\n", c.Dir, project.Redact(u))
			fmt.Fprintln(a.stdout, "settings, sized for this machine:")
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			for _, s := range c.Settings() {
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, s.Value, s.Why)
			}
			return tw.Flush()
		},
	}
}

func (a *app) dbPsqlCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "psql [-- PSQL ARGS]",
		Short: "Open psql on the database",
		Example: `  percolate db psql
  percolate db psql -- -c 'TABLE marts.daily_sales'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.project()
			if err != nil {
				return err
			}
			c, err := p.Psql(cmd.Context(), args)
			if err != nil {
				return err
			}
			c.Stdin, c.Stdout, c.Stderr = a.stdin, a.stdout, a.stderr
			return c.Run()
		},
	}
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
				u = project.Redact(u)
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
func (a *app) serverStatus(ctx context.Context) error {
	p, pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	e, err := p.Engine(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "database: %s (not the embedded one)\nserver:   PostgreSQL %s\n", project.Redact(pool.Config().ConnString()), e.Version)
	if e.IsCitus() {
		fmt.Fprintf(a.stdout, "engine:   Citus %s, %d workers: staging tables and models are distributed as declared\n", e.Citus, e.Workers)
	} else {
		fmt.Fprintln(a.stdout, "engine:   plain PostgreSQL: distribution declarations change nothing")
	}
	return nil
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
