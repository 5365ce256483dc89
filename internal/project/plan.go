package project

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/config"
)

// SourcePlan is what a run would load of one source.
type SourcePlan struct {
	Source  string   `json:"source"`
	Files   int      `json:"files"`
	Pending []string `json:"new_files"`
}

// PlanReport is what a run would do, and why.
type PlanReport struct {
	Pipeline string        `json:"pipeline"`
	Sources  []SourcePlan  `json:"sources"`
	Models   []*build.Step `json:"models"`
}

// Plan works out, without changing anything, which files a run would load
// and which models it would build.
func (p *Project) Plan(ctx context.Context, pool *pgxpool.Pool, opt RunOptions) (*PlanReport, error) {
	pl, err := p.Config.Pipeline(opt.Pipeline)
	if err != nil {
		return nil, err
	}
	if err := p.checkSources(pl, opt); err != nil {
		return nil, err
	}
	g, err := p.Graph(pl)
	if err != nil {
		return nil, err
	}
	rep := &PlanReport{Pipeline: pl.Name}
	var ready bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('percolate.check_results') IS NOT NULL`).Scan(&ready); err != nil {
		return nil, err
	}
	if !ready {
		return nil, fmt.Errorf("the database has no percolate ledger yet: run 'percolate migrate up' (or 'percolate run') first")
	}
	pending := map[string]bool{}
	for _, name := range pl.SourceNames() {
		src := pl.Sources[name]
		paths, ok := opt.Files[name]
		if !ok {
			if paths, err = p.Paths(ctx, src, opt.Sources[name]); err != nil {
				return nil, err
			}
		}
		ld, err := p.Loader(ctx, pool, nil)
		if err != nil {
			return nil, err
		}
		news, err := ld.Pending(ctx, src, paths)
		if err != nil {
			return nil, err
		}
		for i, n := range news {
			news[i] = p.rel(n)
		}
		pending[name] = len(news) > 0
		rep.Sources = append(rep.Sources, SourcePlan{Source: name, Files: len(paths), Pending: append([]string{}, news...)})
	}
	bo := p.buildOptions(pl, opt)
	bo.Pending = pending
	plan, err := build.NewPlan(ctx, pool, g, bo)
	if err != nil {
		return nil, err
	}
	rep.Models = plan.Steps
	return rep, nil
}

func (p *Project) checkSources(pl *config.Pipeline, opt RunOptions) error {
	for name := range opt.Sources {
		if pl.Sources[name] == nil {
			return &config.Error{File: p.Config.Path, Line: pl.Line, Msg: fmt.Sprintf("--source %s: pipeline %s has no such source (it has: %v)", name, pl.Name, pl.SourceNames())}
		}
	}
	return nil
}
