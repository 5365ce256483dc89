package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/grafana"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/project"
)

// envHelp is the --env flag's help, shared by run and diff.
const envHelp = `an environment to build into or compare instead of live (docs/environments.md):
the changed models (state:modified+) are built into SCHEMA__ENV, the rest are views
over live; sources are not loaded (it reads live staging)`

func (a *app) envCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "List or drop environments (run --env NAME builds one)",
		Long: `An environment is a place to try an edit: 'percolate run --env dev' builds the
models changed from live (state:modified+) into schemas marts__dev, core__dev, …
reading live relations for everything unchanged, which appear there as views
over the live ones. See docs/environments.md.`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the environments and what each built",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, pool, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			all, err := p.Envs(ctx, pool)
			if err != nil {
				return err
			}
			var b strings.Builder
			defer a.flush(&b)
			byEnv := map[string][]ledger.EnvBuild{}
			var order []string
			for _, e := range all {
				if byEnv[e.Env] == nil {
					order = append(order, e.Env)
				}
				byEnv[e.Env] = append(byEnv[e.Env], e)
			}
			for _, env := range order {
				var built []string
				for _, e := range byEnv[env] {
					if e.Kind != "live" {
						built = append(built, e.Model)
					}
				}
				fmt.Fprintf(&b, "%s\t%d models built (%s), %d views over live, last run %s\n", env, len(built), strings.Join(built, ", "),
					len(byEnv[env])-len(built), byEnv[env][0].Built.UTC().Format("2006-01-02 15:04"))
			}
			if len(order) == 0 {
				fmt.Fprintln(&b, "no environments")
			}
			return nil
		},
	}
	drop := &cobra.Command{
		Use:   "drop NAME",
		Short: "Drop an environment: its schemas, everything in them, and its record",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, pool, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			schemas, err := p.EnvDrop(ctx, pool, args[0])
			if err != nil {
				return err
			}
			if len(schemas) == 0 {
				return fmt.Errorf("environment %s: none such (see 'percolate env list')", args[0])
			}
			var b strings.Builder
			defer a.flush(&b)
			fmt.Fprintf(&b, "dropped environment %s: schemas %s\n", args[0], strings.Join(schemas, ", "))
			return nil
		},
	}
	cmd.AddCommand(list, drop)
	return cmd
}

// openEnv opens the pipeline args name, checks that env can be an
// environment of its models, and connects: what run and plan --env do
// first. The caller closes the pool.
func (a *app) openEnv(ctx context.Context, f *runFlags, args []string, env string) (string, *project.Folder, *dag.Graph, *pgxpool.Pool, error) {
	pipeline, err := f.pipeline.name(args)
	if err != nil {
		return "", nil, nil, nil, err
	}
	p, g, err := a.graph(pipeline)
	if err != nil {
		return "", nil, nil, nil, err
	}
	if err := build.CheckEnv(g, env); err != nil {
		return "", nil, nil, nil, usagef("--env: %v", err)
	}
	pool, err := p.Connect(ctx)
	if err != nil {
		return "", nil, nil, nil, err
	}
	return pipeline, p, g, pool, nil
}

// runEnv is `run --env NAME`: the environment's build, under the run lock
// (it reads live relations a live publish replaces).
func (a *app) runEnv(cmd *cobra.Command, f *runFlags, args []string, env string) error {
	if f.buildJobs != 0 {
		return usagef("--build-jobs: an environment's build makes its models one at a time; leave it out with --env")
	}
	ctx := cmd.Context()
	_, p, g, pool, err := a.openEnv(ctx, f, args, env)
	if err != nil {
		return err
	}
	defer pool.Close()
	d := a.newDisplay()
	res, err := p.EnvRun(ctx, pool, g, env, f.wait, build.Options{Select: f.selectors, Exclude: f.exclude, FullRefresh: f.fullRefresh, OnEvent: d.build})
	d.close(err)
	if res == nil {
		return err
	}
	var b strings.Builder
	defer a.flush(&b)
	counts := map[string]int{}
	for _, s := range res.Steps {
		switch {
		case s.Kind == "live":
		case s.Build:
			fmt.Fprintf(&b, "  build  %s → %s.%s\n", s.Name, build.EnvSchema(s.Model.Schema, env), s.Model.Rel)
		default:
			fmt.Fprintf(&b, "  skip   %s (%s)\n", s.Name, s.Reason)
		}
		if s.Build || s.Kind == "live" {
			counts[s.Kind]++
		}
	}
	fmt.Fprintf(&b, "environment %s: %d tables built, %d views, %d views over live\n", env, counts["table"], counts["view"], counts["live"])
	for _, c := range build.Failed(res.Checks) {
		fmt.Fprintf(&b, "  check failed: %s %s\n", c.Model, c.Name)
	}
	return err
}

// planEnv is `plan --env NAME`: per model, built in the environment,
// kept there, or a view over live.
func (a *app) planEnv(cmd *cobra.Command, f *runFlags, args []string) error {
	ctx := cmd.Context()
	pipeline, p, g, pool, err := a.openEnv(ctx, f, args, f.env)
	if err != nil {
		return err
	}
	defer pool.Close()
	steps, err := p.EnvPlan(ctx, pool, g, f.env, build.Options{Select: f.selectors, Exclude: f.exclude, FullRefresh: f.fullRefresh})
	if err != nil {
		return err
	}
	if f.output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(steps)
	}
	var b strings.Builder
	defer a.flush(&b)
	fmt.Fprintf(&b, "plan for environment %s of pipeline %s (sources are not loaded: it reads live staging)\n", f.env, pipeline)
	for _, s := range steps {
		what := "live "
		switch {
		case s.Build:
			what = "build"
		case s.Kind != "live":
			what = "skip "
		}
		fmt.Fprintf(&b, "  %s  %-32s %s\n", what, s.Name, s.Reason)
	}
	return nil
}

// testEnv is `test --env NAME`: the checks of what the environment built,
// on its relations.
func (a *app) testEnv(ctx context.Context, p *project.Folder, pool *pgxpool.Pool, g *dag.Graph, t testFlags) error {
	if err := build.CheckEnv(g, t.env); err != nil {
		return usagef("--env: %v", err)
	}
	results, err := p.EnvTest(ctx, pool, g, t.env)
	if err != nil {
		return err
	}
	if t.output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			status := "ok  "
			if r.Failures > 0 {
				status = map[bool]string{true: "WARN", false: "FAIL"}[r.Severity == "warn"]
			}
			fmt.Fprintf(a.stdout, "%s %-28s %s (%d failing rows) in environment %s\n", status, r.Model, r.Name, r.Failures, t.env)
		}
	}
	if failed := build.Failed(results); len(failed) > 0 {
		return fmt.Errorf("%d check(s) failed in environment %s", len(failed), t.env)
	}
	return nil
}

// grafanaEnv is `grafana --env NAME`: the project's dashboards rendered
// to read environment NAME, into grafana/dashboards/env/.
func (a *app) grafanaEnv(env string) error {
	p, g, err := a.graph("")
	if err != nil {
		return err
	}
	if err := build.CheckEnv(g, env); err != nil {
		return usagef("--env: %v", err)
	}
	decl, err := grafana.Load(os.DirFS(a.dir))
	if err != nil {
		return err
	}
	var schemas []string
	for _, m := range g.Models {
		if !slices.Contains(schemas, m.Schema) {
			schemas = append(schemas, m.Schema)
		}
	}
	files, err := decl.EnvFiles(schemas, env)
	if err != nil {
		return err
	}
	for _, f := range files {
		path := filepath.Join(p.Config.Dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "wrote %s\n", f.Path)
	}
	return nil
}
