package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/docsite"
	"github.com/percolate/percolate/internal/grafana"
	"github.com/percolate/percolate/internal/project"
)

// docsDir is where `docs generate` writes the site, in the project folder.
var docsDir = filepath.Join("target", "docs")

// docsFlags are what both docs commands take.
type docsFlags struct {
	pipeline string
	offline  bool
}

func (a *app) docsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "docs",
		Short: "A browsable catalog of the project: models, columns, lineage, sources, dashboards, runs",
		Long: `Docs renders the project as a static web site: every model with its
description, columns, materialization, version, checks and their last results,
unit tests, upstream and downstream; a lineage graph to pan and click, by model
and for one column; the sources with their contract, files, rejects and unmet
expectations; the dashboards and the columns their panels read; the latest runs.

The models, lineage, contracts and dashboards come from the project's files. When
the project has a database (--database-url, $PERCOLATE_DATABASE_URL, or an
embedded one already made under .percolate/), the site adds what its ledger holds;
without one, or with --offline, the pages say that they have no database data.

The site needs no network: its style and script are files of its own.`,
	}
	cmd.AddCommand(a.docsGenerateCmd(), a.docsServeCmd())
	return cmd
}

func (f *docsFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.pipeline, "pipeline", "p", "", "pipeline (default: the only one)")
	cmd.Flags().BoolVar(&f.offline, "offline", false, "read only the project's files, not the database")
}

func (a *app) docsGenerateCmd() *cobra.Command {
	var f docsFlags
	var out string
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write the docs site into a folder (default target/docs in the project)",
		Example: `  percolate docs generate                  # then open target/docs/index.html
  percolate docs generate --out /srv/www/warehouse --offline`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			site, p, err := a.docsSite(cmd.Context(), f)
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join(p.Dir, docsDir)
			}
			if err := site.Write(out); err != nil {
				return fmt.Errorf("write the docs: %w", err)
			}
			fmt.Fprintf(a.stdout, "docs: %d pages in %s; open %s\n", site.Pages(), out, filepath.Join(out, "index.html"))
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&out, "out", "", "folder to write the site into (default target/docs in the project folder)")
	return cmd
}

func (a *app) docsServeCmd() *cobra.Command {
	var f docsFlags
	var port int
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the docs site on localhost",
		Long: `Serve renders the docs site, as docs generate writes it, and serves it on
127.0.0.1 (this machine only) until interrupted. --port 0 takes a free port;
the address is printed.`,
		Example: `  percolate docs serve              # http://127.0.0.1:8040/
  percolate docs serve --port 9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if port < 0 || port > 65535 {
				return usagef("--port %d: want 0 to 65535", port)
			}
			site, _, err := a.docsSite(cmd.Context(), f)
			if err != nil {
				return err
			}
			return a.serveDocs(cmd.Context(), site, port)
		},
	}
	f.add(cmd)
	cmd.Flags().IntVar(&port, "port", 8040, "port on 127.0.0.1 (0: any free one)")
	return cmd
}

// docsSite gathers the project's catalog and renders it.
func (a *app) docsSite(ctx context.Context, f docsFlags) (*docsite.Site, *project.Folder, error) {
	p, err := a.project()
	if err != nil {
		return nil, nil, err
	}
	reason := ""
	switch {
	case f.offline:
		reason = "generated with --offline"
	case !p.HasDatabase():
		reason = "the project has no database yet (run it, or set " + EnvDatabaseURL + ")"
	}
	c, err := a.catalog(ctx, p, f.pipeline, reason)
	if err != nil {
		return nil, nil, err
	}
	site, err := docsite.Render(c)
	return site, p, err
}

// catalog gathers the catalog, from the database too unless reason says
// why not. A database that cannot be read is said on stderr, and the
// site made from the files alone.
func (a *app) catalog(ctx context.Context, p *project.Folder, pipeline, reason string) (*docsite.Catalog, error) {
	dashboards, err := declaredDashboards(p.Dir)
	if err != nil {
		return nil, err
	}
	c, err := p.Catalog(pipeline, dashboards)
	if err != nil {
		return nil, err
	}
	c.NoLedger = reason
	if reason != "" {
		return c, nil
	}
	pool, err := p.Connect(ctx)
	if err == nil {
		err = p.AddLedger(ctx, pool, c)
		pool.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		fmt.Fprintf(a.stderr, "warning: docs without the database: %v\n", err)
		c.NoLedger = "the database could not be read: " + err.Error()
	}
	return c, nil
}

// declaredDashboards reads the dashboards the project in dir declares
// (dashboards/*.yaml): their panels' titles and SQL.
func declaredDashboards(dir string) ([]*docsite.Dashboard, error) {
	prov, err := grafana.Load(os.DirFS(dir))
	if err != nil {
		return nil, err
	}
	var out []*docsite.Dashboard
	for _, d := range prov.Dashboards {
		dd := &docsite.Dashboard{Title: d.Title, UID: d.UID, Path: d.Path}
		for _, pn := range d.Panels {
			dd.Panels = append(dd.Panels, &docsite.Panel{Title: pn.Title, Type: pn.Type, SQL: pn.SQL})
		}
		out = append(out, dd)
	}
	return out, nil
}

// serveDocs serves site on 127.0.0.1:port until ctx ends.
func (a *app) serveDocs(ctx context.Context, site *docsite.Site, port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", fmt.Sprint(port)))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: site, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(a.stdout, "docs: serving http://%s/ (Ctrl-C stops)\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
