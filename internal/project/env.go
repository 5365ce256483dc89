package project

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// EnvRun builds environment env of g (see build.EnvRun) under the run
// lock: it reads live relations that a live publish replaces.
func (p *Folder) EnvRun(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, env string, wait bool, opt build.Options) (*build.EnvResult, error) {
	if err := p.EnsureLedger(ctx, pool); err != nil {
		return nil, err
	}
	held, err := p.lock(ctx, pool, wait)
	if err != nil {
		return nil, err
	}
	defer held.Release()
	res, err := build.EnvRun(ctx, pool, g, env, opt)
	if res == nil {
		return nil, err
	}
	if gerr := grantReaderEnv(ctx, pool, g, env); gerr != nil {
		return res, gerr
	}
	return res, err
}

// grantReaderEnv lets the dashboards' reader read an environment's
// schemas where it reads their live ones, so that dashboards can be
// opened on it (percolate grafana --env): its views over live read live
// as their owner, so the reader sees no more than it does live.
func grantReaderEnv(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, env string) error {
	var role bool
	if err := pool.QueryRow(ctx, "SELECT to_regrole($1) IS NOT NULL", readerRole).Scan(&role); err != nil || !role {
		return err
	}
	done := map[string]bool{}
	for _, m := range g.Models {
		if done[m.Schema] {
			continue
		}
		done[m.Schema] = true
		var reads bool
		if err := pool.QueryRow(ctx, "SELECT has_schema_privilege($1, $2, 'USAGE')", readerRole, m.Schema).Scan(&reads); err != nil {
			return err
		}
		if !reads {
			continue
		}
		s := pg.Ident(build.EnvSchema(m.Schema, env))
		if _, err := pool.Exec(ctx, fmt.Sprintf("GRANT USAGE ON SCHEMA %[1]s TO %[2]s; GRANT SELECT ON ALL TABLES IN SCHEMA %[1]s TO %[2]s", s, pg.Ident(readerRole))); err != nil {
			return fmt.Errorf("let %s read environment schema %s: %w", readerRole, s, pg.Explain(err))
		}
	}
	return nil
}

// Envs is every environment's record, by environment then model.
func (p *Folder) Envs(ctx context.Context, pool *pgxpool.Pool) ([]ledger.EnvBuild, error) {
	if err := p.EnsureLedger(ctx, pool); err != nil {
		return nil, err
	}
	return ledger.Store{}.AllEnvBuilds(ctx, pool)
}

// EnvDrop drops environment env (see build.EnvDrop) and returns the
// schemas it dropped.
func (p *Folder) EnvDrop(ctx context.Context, pool *pgxpool.Pool, env string) ([]string, error) {
	if err := p.EnsureLedger(ctx, pool); err != nil {
		return nil, err
	}
	return build.EnvDrop(ctx, pool, env)
}

// EnvPlan is what `run --env env` would do (see build.EnvPlan).
func (p *Folder) EnvPlan(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, env string, opt build.Options) ([]*build.EnvStep, error) {
	if err := p.EnsureLedger(ctx, pool); err != nil {
		return nil, err
	}
	return build.EnvPlan(ctx, pool, g, env, opt)
}

// EnvTest runs the checks of what environment env built on its relations
// (see build.EnvTest): nothing is recorded.
func (p *Folder) EnvTest(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, env string) ([]build.CheckResult, error) {
	if err := p.EnsureLedger(ctx, pool); err != nil {
		return nil, err
	}
	return build.EnvTest(ctx, pool, g, env, build.Options{})
}
