package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/grafana"
)

func (a *app) grafanaCmd() *cobra.Command {
	var check bool
	var env string
	cmd := &cobra.Command{
		Use:   "grafana",
		Short: "Render the project's dashboards and alert rules as Grafana provisioning files",
		Long: `Grafana renders the dashboards the project declares (dashboards/NAME.yaml, one
each) into grafana/dashboards/NAME.json, and the alert rules of alerts.yaml into
grafana/provisioning/alerting/percolate.yaml, where Grafana's provisioning reads
them. Declarations are decoded strictly: a problem is reported as FILE:LINE:
message (exit code 2). With --check it writes nothing, and fails (exit code 1)
when a file is not what the declarations render. See docs/grafana.md.`,
		Example: `  percolate grafana           # after editing dashboards/*.yaml or alerts.yaml
  percolate grafana --check   # in CI: the committed files are up to date`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if env != "" {
				return a.grafanaEnv(env)
			}
			decl, stale, err := a.grafanaFiles()
			if err != nil {
				return err
			}
			if check {
				if len(stale) > 0 {
					return fmt.Errorf("%s: not what the declarations render: run percolate grafana", stale[0].Path)
				}
				fmt.Fprintf(a.stdout, "grafana: %d dashboards, %d alert rules: up to date\n", len(decl.Dashboards), len(decl.Rules))
				return nil
			}
			for _, f := range stale {
				path := filepath.Join(a.dir, filepath.FromSlash(f.Path))
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(path, f.Data, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "wrote %s\n", f.Path)
			}
			fmt.Fprintf(a.stdout, "grafana: %d dashboards, %d alert rules: %d files written\n", len(decl.Dashboards), len(decl.Rules), len(stale))
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "write nothing; fail when a file is not what the declarations render")
	cmd.Flags().StringVar(&env, "env", "", "render the dashboards reading environment NAME (see run --env) into grafana/dashboards/env/, titled [NAME]")
	return cmd
}

// grafanaFiles reads the project's Grafana declarations and renders them,
// returning the files that differ from what the project folder holds.
func (a *app) grafanaFiles() (*grafana.Provisioning, []grafana.File, error) {
	fsys := os.DirFS(a.dir)
	decl, err := grafana.Load(fsys)
	if err != nil {
		return nil, nil, err
	}
	files, err := decl.Files()
	if err != nil {
		return nil, nil, err
	}
	var stale []grafana.File
	for _, f := range files {
		have, err := fs.ReadFile(fsys, f.Path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
		if !bytes.Equal(have, f.Data) {
			stale = append(stale, f)
		}
	}
	return decl, stale, nil
}
