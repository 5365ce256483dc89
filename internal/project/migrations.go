package project

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/percolate/percolate/internal/migrate"
	"github.com/percolate/percolate/internal/staging"
)

// MigrateUp applies every pending migration, the ledger's then the
// project's (see Migrate), under the run lock (waiting for a run holding
// it when wait), then gives the reader its password when the project has
// one. What was applied is returned even when a migration failed.
func (p *Folder) MigrateUp(ctx context.Context, pool *pgxpool.Pool, wait bool) (Migrated, error) {
	held, res, err := p.lockMigrated(ctx, pool, wait)
	if err != nil {
		return res, err
	}
	defer held.Release()
	return res, p.SetReaderPassword(ctx, pool)
}

// MigrateDown rolls back the project's most recent migration, under the
// run lock, and returns its file's name ("" when none was rolled back).
func (p *Folder) MigrateDown(ctx context.Context, pool *pgxpool.Pool, wait bool) (string, error) {
	held, err := p.lockRestored(ctx, pool, wait)
	if err != nil {
		return "", err
	}
	defer held.Release()
	var name string
	err = p.withProvider(ctx, pool, func(prov *goose.Provider) error {
		r, err := prov.Down(ctx)
		if r != nil {
			name = filepath.Base(r.Source.Path)
		}
		return err
	})
	return name, err
}

// MigrationState is whether one of the project's migrations is applied.
type MigrationState struct {
	Name      string    // its file's name
	State     string    // applied or pending
	AppliedAt time.Time // zero when pending
}

// MigrationStatus lists the project's migrations and whether each is
// applied.
func (p *Folder) MigrationStatus(ctx context.Context, pool *pgxpool.Pool) ([]MigrationState, error) {
	var out []MigrationState
	err := p.withProvider(ctx, pool, func(prov *goose.Provider) error {
		st, err := prov.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			out = append(out, MigrationState{Name: filepath.Base(s.Source.Path), State: string(s.State), AppliedAt: s.AppliedAt})
		}
		return nil
	})
	return out, err
}

// withProvider runs fn with goose on the project's migrations.
func (p *Folder) withProvider(ctx context.Context, pool *pgxpool.Pool, fn func(*goose.Provider) error) error {
	prov, db, err := migrate.Provider(ctx, pool, p.Migrations(), migrate.ProjectTable)
	if errors.Is(err, migrate.ErrNone) {
		return fmt.Errorf("%s holds no migration (percolate migrate create --source SOURCE writes one)", p.MigrationsDir())
	}
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(prov)
}

// StagingMigration is the migration that makes the staging tables of a
// source of the pipeline as its contract fills them, or, when the
// project's migrations make them already, the columns they lack and the
// types that changed.
func (p *Folder) StagingMigration(pipeline, source string) (up, down string, err error) {
	pl, err := p.Config.Pipeline(pipeline)
	if err != nil {
		return "", "", err
	}
	src := pl.Sources[source]
	if src == nil {
		return "", "", &UnknownSourceError{Pipeline: pl.Name, Source: source, Known: pl.SourceNames()}
	}
	have, err := p.StagingFromMigrations()
	if err != nil {
		return "", "", err
	}
	return staging.Migration(src, have)
}

// CreateMigration writes the next numbered migration into the project's
// migrations folder and returns its path, relative to the project.
func (p *Folder) CreateMigration(name, up, down string) (string, error) {
	path, err := migrate.Create(p.MigrationsDir(), name, up, down)
	if err != nil {
		return "", err
	}
	return p.rel(path), nil
}
