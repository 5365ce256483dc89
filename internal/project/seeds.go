package project

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/seed"
	"github.com/percolate/percolate/internal/staging"
	"github.com/percolate/percolate/internal/warehouse"
)

// Seeds reads and checks the project's seeds (seeds/<schema>/<name>.csv,
// beside pipelines.yaml) against their contracts.
func (p *Folder) Seeds() ([]*seed.Seed, error) {
	return seed.Discover(os.DirFS(p.Config.Dir), p.Config.Seeds, p.Config.Path)
}

// loadGraph loads pl's models from root in fsys, with the project's
// seeds, vars and functions.
func (p *Folder) loadGraph(fsys fs.FS, root string, pl *config.Pipeline) (*dag.Graph, error) {
	seeds, err := p.Seeds()
	if err != nil {
		return nil, err
	}
	sources := SourceTables(pl)
	for _, s := range seeds {
		if slices.Contains(sources, s.Name) {
			return nil, &seed.Error{Path: s.Path, Msg: fmt.Sprintf("%s is also a source's staging table", s.Name)}
		}
	}
	g, err := dag.LoadProject(fsys, root, dag.Project{Sources: sources, External: []string{"percolate"}, Seeds: seed.Hashes(seeds), Vars: p.Config.Vars})
	if err != nil {
		return nil, err
	}
	for _, s := range seeds {
		if m := g.Model(s.Name); m != nil {
			return nil, &seed.Error{Path: s.Path, Msg: fmt.Sprintf("%s is also built by %s", s.Name, m.Path)}
		}
	}
	return g, nil
}

// seedSchemas lists the schemas of the project's seeds: folders of seeds/.
func (p *Folder) seedSchemas() ([]string, error) {
	dirs, err := os.ReadDir(filepath.Join(p.Config.Dir, seed.Dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range dirs {
		if d.IsDir() && !reservedSchema(d.Name()) {
			out = append(out, d.Name())
		}
	}
	return out, nil
}

// loadSeeds loads the seeds whose content changed, for the run runID.
func (p *Folder) loadSeeds(ctx context.Context, pool *pgxpool.Pool, eng *warehouse.Engine, runID int64) ([]seed.Status, error) {
	seeds, err := p.Seeds()
	if err != nil {
		return nil, err
	}
	return seed.Load(ctx, pool, eng, seeds, runID)
}

// PlanSeeds says which seeds a run would load, and why.
func (p *Folder) PlanSeeds(ctx context.Context, pool *pgxpool.Pool) ([]seed.Status, error) {
	seeds, err := p.Seeds()
	if err != nil {
		return nil, err
	}
	return seed.Plan(ctx, pool, seeds)
}

// AddSeeds adds the seeds' tables to have, as their contracts type them:
// what unit tests stand in for a seed a model reads.
func (p *Folder) AddSeeds(have *staging.Schema) error {
	seeds, err := p.Seeds()
	if err != nil {
		return err
	}
	for _, s := range seeds {
		t := &staging.Table{Name: s.Name, Where: s.Path}
		for _, c := range s.Columns {
			t.Columns = append(t.Columns, &staging.Column{Name: c.Name, Type: c.Type, Decl: c.Type, Scale: -1, Precision: -1})
		}
		have.Tables[s.Name] = t
	}
	return nil
}

// functionSchemas adds to models the schemas of pl's functions
// (models/functions), but for the sources' and seeds': the models' role
// creates them there.
func (p *Folder) functionSchemas(pl *config.Pipeline, sources, models []string) ([]string, error) {
	fns, err := dag.FunctionSchemas(os.DirFS(filepath.Join(p.Config.Dir, pl.Models)), ".")
	if err != nil {
		return nil, err
	}
	seeds, err := p.seedSchemas()
	if err != nil {
		return nil, err
	}
	for _, s := range fns {
		// Never the sources' schemas: the models' role would be let
		// create there (the graph refuses such a function anyway).
		if !slices.Contains(models, s) && !slices.Contains(sources, s) && !slices.Contains(seeds, s) && !reservedSchema(s) {
			models = append(models, s)
		}
	}
	return models, nil
}

// declaredFunctions lists the functions every pipeline of the project
// declares (the models/functions of each): a function Percolate created
// and none of them declares is gone, and a run drops it.
func (p *Folder) declaredFunctions() ([]string, error) {
	out := []string{}
	for _, pl := range p.Config.Pipelines {
		names, err := dag.FunctionNames(os.DirFS(filepath.Join(p.Config.Dir, pl.Models)), ".")
		if err != nil {
			return nil, err
		}
		out = append(out, names...)
	}
	return out, nil
}
