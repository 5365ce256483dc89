package project

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/seed"
	"github.com/percolate/percolate/internal/staging"
	"github.com/percolate/percolate/loaders"
)

// SourcePlan is what a run would load of one source.
type SourcePlan struct {
	Source  string   `json:"source"`
	Files   int      `json:"files"`
	Pending []string `json:"new_files"`
	// Outdated are files refused, or with rows rejected, under an earlier
	// contract of the source: they are read again (those among Pending).
	Outdated []string `json:"read_again"`
}

// PlanReport is what a run would do, and why.
type PlanReport struct {
	Pipeline string        `json:"pipeline"`
	Sources  []SourcePlan  `json:"sources"`
	Models   []*build.Step `json:"models"`
	// Seeds are what a run would do with each seed.
	Seeds []seed.Status `json:"seeds"`
	// DropFunctions are the functions Percolate created that no file of
	// models/functions declares any more: a run drops them.
	DropFunctions []string `json:"drop_functions"`
	// Citus is the version of Citus the warehouse runs, or "".
	Citus string `json:"citus,omitempty"`
	// Panels are the dashboard panels that read a column of an edited
	// model, or one computed from it ("Sales overview › Average order
	// value"); a backfill's dry run leaves them out.
	Panels []string `json:"panels"`
	// Graph is the models the plan was made for.
	Graph *dag.Graph `json:"-"`
}

// Plan works out, without changing anything, which files a run would load
// and which models it would build, and names the dashboard panels that
// read what was edited.
func (p *Folder) Plan(ctx context.Context, pool *pgxpool.Pool, opt RunOptions) (*PlanReport, error) {
	rep, err := p.plan(ctx, pool, opt)
	if err != nil {
		return nil, err
	}
	l, err := p.Lineage(rep.Graph, nil)
	if err != nil {
		return nil, err
	}
	rep.Panels = l.edited(rep.Models)
	return rep, nil
}

// plan is Plan without the panels.
func (p *Folder) plan(ctx context.Context, pool *pgxpool.Pool, opt RunOptions) (*PlanReport, error) {
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
	rep := &PlanReport{Pipeline: pl.Name, Graph: g}
	ready, err := p.ledger.Ready(ctx, pool)
	if err != nil {
		return nil, err
	}
	if !ready {
		return nil, ledger.ErrMissing
	}
	ld, err := p.loader(pool, loaders.Options{Rehash: opt.Rehash})
	if err != nil {
		return nil, err
	}
	pending := map[string]bool{}
	for _, name := range pl.SourceNames() {
		src := pl.Sources[name]
		paths, ok := opt.Files[name]
		if !ok {
			if paths, err = p.runPaths(ctx, pool, src, opt.Sources[name], opt.Rehash); err != nil {
				return nil, err
			}
		}
		news, err := ld.Pending(ctx, src, paths)
		if err != nil {
			return nil, err
		}
		for i, n := range news {
			news[i] = p.rel(n)
		}
		pending[name] = len(news) > 0
		old, err := p.ledger.Outdated(ctx, pool, name, loaders.Fingerprint(src))
		if err != nil {
			return nil, err
		}
		rep.Sources = append(rep.Sources, SourcePlan{Source: name, Files: len(paths), Pending: append([]string{}, news...), Outdated: append([]string{}, old...)})
	}
	if rep.Seeds, err = p.PlanSeeds(ctx, pool); err != nil {
		return nil, err
	}
	bo := p.buildOptions(pl, opt)
	bo.Pending = pending
	if bo.Functions, err = p.declaredFunctions(); err != nil {
		return nil, err
	}
	if rep.DropFunctions, err = build.GoneFunctions(ctx, pool, g, bo.Functions); err != nil {
		return nil, err
	}
	rep.DropFunctions = append([]string{}, rep.DropFunctions...)
	plan, err := build.NewPlan(ctx, pool, g, bo)
	if err != nil {
		return nil, err
	}
	rep.Models, rep.Citus = plan.Steps, plan.Engine.Citus
	return rep, nil
}

// UnknownSourceError is a source named to be read from elsewhere that the
// pipeline does not have.
type UnknownSourceError struct {
	Pipeline, Source string
	Known            []string
}

func (e *UnknownSourceError) Error() string {
	return fmt.Sprintf("pipeline %s has no source %q (it has: %s)", e.Pipeline, e.Source, strings.Join(e.Known, ", "))
}

func (p *Folder) checkSources(pl *config.Pipeline, opt RunOptions) error {
	for name := range opt.Sources {
		if pl.Sources[name] == nil {
			return &UnknownSourceError{Pipeline: pl.Name, Source: name, Known: pl.SourceNames()}
		}
	}
	return nil
}

// CheckStaging compares the staging tables of every source of pl with the
// contracts that fill them, in have (see staging.Compare).
func (p *Folder) CheckStaging(pl *config.Pipeline, have *staging.Schema) error {
	for _, name := range pl.SourceNames() {
		if err := staging.Compare(p.Config.Path, pl.Sources[name], have); err != nil {
			return err
		}
	}
	return nil
}

// StagingFromMigrations reads the tables the project's migrations make,
// and the ledger's that models may read (health models stand them in).
func (p *Folder) StagingFromMigrations() (*staging.Schema, error) {
	s, err := staging.FromMigrations(p.Migrations())
	if err != nil {
		return nil, err
	}
	ours, err := staging.FromMigrations(ledger.Migrations())
	if err != nil {
		return nil, fmt.Errorf("the ledger's migrations: %w", err)
	}
	for name, t := range ours.Tables {
		if _, ok := s.Tables[name]; !ok {
			s.Tables[name] = t
		}
	}
	return s, nil
}
