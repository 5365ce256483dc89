package project

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
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
	return build.EnvRun(ctx, pool, g, env, opt)
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
