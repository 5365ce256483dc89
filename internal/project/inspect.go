package project

import (
	"context"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/unit"
)

// Files lists the file manifest, newest first, as f picks it; never nil.
func (p *Folder) Files(ctx context.Context, pool *pgxpool.Pool, f FileFilter) ([]FileEntry, error) {
	list, err := p.ledger.Files(ctx, pool, f)
	if list == nil && err == nil {
		list = []FileEntry{}
	}
	return list, err
}

// Rejects lists the rejects of files still loaded, newest file first, as
// f picks them.
func (p *Folder) Rejects(ctx context.Context, pool *pgxpool.Pool, f RejectFilter) ([]ledger.Kept, error) {
	return p.ledger.Rejects(ctx, pool, f)
}

// Modified says of a model whether its version differs from the one last
// built (state:modified).
func (p *Folder) Modified(ctx context.Context, pool *pgxpool.Pool) (func(*dag.Model) bool, error) {
	last, err := p.ledger.LastBuilds(ctx, pool)
	if err != nil {
		return nil, err
	}
	return build.Modified(last), nil
}

// Selected are g's models that sel picks and exclude leaves, whatever
// state they name read from the ledger.
func (p *Folder) Selected(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, sel, exclude []string) ([]*dag.Model, error) {
	return build.Selected(ctx, pool, g, build.Options{Select: sel, Exclude: exclude})
}

// Test runs the checks of the selected models of g against the published
// tables and records them; failed counts those of severity error.
func (p *Folder) Test(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, sel, exclude []string) (results []build.CheckResult, failed int, err error) {
	results, err = build.Test(ctx, pool, g, build.Options{Select: sel, Exclude: exclude})
	return results, len(build.Failed(results)), err
}

// Compile is the SELECT a full run builds m with, beside the live
// relation, reading the new relations of the other models of g.
func Compile(g *dag.Graph, m *dag.Model) (string, error) {
	all := map[string]bool{}
	for _, o := range g.Models {
		all[o.Name] = true
	}
	return build.Compile(m, all)
}

// UnitCases are the unit test cases of g's models, from the files beside
// them.
func (p *Folder) UnitCases(g *dag.Graph) ([]*UnitCase, error) {
	return unit.Load(os.DirFS(p.Dir), g)
}

// RunUnit runs unit test cases of g's models, each in a transaction
// rolled back, with the tables the project's migrations make.
func (p *Folder) RunUnit(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, cases []*UnitCase) ([]*UnitResult, error) {
	have, err := p.StagingFromMigrations()
	if err == nil {
		err = p.AddSeeds(have)
	}
	if err != nil {
		return nil, err
	}
	return unit.Run(ctx, pool, g, cases, have)
}
