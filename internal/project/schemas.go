package project

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/migrate"
	"github.com/percolate/percolate/internal/pg"
)

// Migrated is what Migrate applied.
type Migrated struct {
	Ledger  []*goose.MigrationResult // the ledger's own migrations
	Project []*goose.MigrationResult // the project's migrations/
}

// Migrate brings the warehouse up to date, under the run lock the caller
// holds: the ledger's own migrations first, then the schemas the
// project's sources and models use (made when missing, with the models'
// role's privileges on them), then the project's migrations.
func (p *Folder) Migrate(ctx context.Context, pool *pgxpool.Pool) (Migrated, error) {
	var out Migrated
	var err error
	if out.Ledger, err = ledger.Migrate(ctx, pool); err != nil {
		return out, err
	}
	sources, models, err := p.schemas()
	if err != nil {
		return out, err
	}
	if err := migrate.EnsureSchemas(ctx, pool, sources, models); err != nil {
		return out, err
	}
	if out.Project, err = migrate.Up(ctx, pool, p.Migrations(), migrate.ProjectTable); err != nil {
		return out, err
	}
	// Tables the project's migrations made: sources the models read.
	for _, s := range sources {
		if _, err := pool.Exec(ctx, "GRANT SELECT ON ALL TABLES IN SCHEMA "+pg.Ident(s)+" TO "+pg.ModelsRole); err != nil {
			return out, fmt.Errorf("let %s read the tables of schema %s: %w", pg.ModelsRole, s, pg.Explain(err))
		}
	}
	return out, nil
}

// EnsureLedger applies the ledger's pending migrations, taking the run
// lock only when some are pending: a command that reads the ledger can
// then rely on its tables. When another process holds the lock it is left
// to that one (a run migrates under its lock first): the command goes on,
// and one that needs the lock itself says the database is busy, or waits
// when asked to.
func (p *Folder) EnsureLedger(ctx context.Context, pool *pgxpool.Pool) error {
	if ok, err := ledger.Current(ctx, pool); err != nil || ok {
		return err
	}
	lock, err := p.lock(ctx, pool, false)
	if errors.Is(err, pg.ErrBusy) {
		return nil
	}
	if err != nil {
		return err
	}
	defer lock.Release()
	_, err = ledger.Migrate(ctx, pool)
	return err
}

// schemas lists the schemas the project's sources write (staging tables,
// their sums and items) and those its models are built in, each once,
// sorted.
func (p *Folder) schemas() (sources, models []string, err error) {
	for _, name := range p.Config.Names() {
		pl := p.Config.Pipelines[name]
		for _, t := range SourceTables(pl) {
			if s, _, ok := strings.Cut(t, "."); ok && !slices.Contains(sources, s) {
				sources = append(sources, s)
			}
		}
		dirs, err := os.ReadDir(filepath.Join(p.Config.Dir, pl.Models))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("pipeline %s: models: %w", name, err)
		}
		for _, d := range dirs {
			if d.IsDir() && !slices.Contains(models, d.Name()) && !reservedSchema(d.Name()) && d.Name() != dag.FunctionsDir {
				models = append(models, d.Name())
			}
		}
		if models, err = p.functionSchemas(pl, sources, models); err != nil {
			return nil, nil, err
		}
	}
	seeds, err := p.seedSchemas()
	if err != nil {
		return nil, nil, err
	}
	for _, s := range seeds {
		if !slices.Contains(sources, s) {
			sources = append(sources, s)
		}
	}
	slices.Sort(sources)
	slices.Sort(models)
	return sources, models, nil
}

// reservedSchema is a folder under models/ that cannot be a model's
// schema: the models' checks refuse it, with its model's name.
func reservedSchema(s string) bool {
	return s == "percolate" || s == pg.SpareSchema || s == "public" || strings.HasPrefix(s, "pg_") || strings.HasPrefix(s, ".")
}
