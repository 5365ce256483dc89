// Package migrations holds the goose migrations of the warehouse schema:
// the schemas, the ledger and the staging tables the loader writes. They are
// embedded in the binary so that `percolate run` can apply them anywhere.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS

// VersionTable is where goose records applied migrations: in the ledger's
// schema, named in full so that no search_path can hide it.
const VersionTable = "percolate.goose_db_version"

// Provider returns a goose provider for the migrations in fsys. Close the
// returned *sql.DB when done.
func Provider(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) (*goose.Provider, *sql.DB, error) {
	if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS percolate"); err != nil {
		return nil, nil, fmt.Errorf("migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	prov, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithTableName(VersionTable))
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migrations: %w", err)
	}
	return prov, db, nil
}

// Up applies the pending migrations in fsys.
func Up(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) ([]*goose.MigrationResult, error) {
	prov, db, err := Provider(ctx, pool, fsys)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	res, err := prov.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	return res, nil
}
