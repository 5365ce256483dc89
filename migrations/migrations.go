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
	"os"
	"path/filepath"
	"regexp"
	"strconv"

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

var (
	versioned     = regexp.MustCompile(`^(\d+)_.+\.sql$`)
	migrationName = regexp.MustCompile(`^[a-z0-9_]+$`)
)

// Create writes a new migration into dir, numbered after the newest one
// there (00009_name.sql after 00008_…), holding up and down, and returns
// its path. An empty up gets a placeholder to replace.
func Create(dir, name, up, down string) (string, error) {
	if !migrationName.MatchString(name) {
		return "", fmt.Errorf("migration name %q: use lower-case letters, digits and _", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	last := int64(0)
	for _, e := range entries {
		if m := versioned.FindStringSubmatch(e.Name()); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			last = max(last, n)
		}
	}
	if up == "" {
		up = "-- Write the change here: goose runs each statement in order, all in one transaction.\n"
	}
	if down == "" {
		down = "-- Undo the change here.\n"
	}
	path := filepath.Join(dir, fmt.Sprintf("%05d_%s.sql", last+1, name))
	body := "-- +goose Up\n" + up + "\n-- +goose Down\n" + down
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
