// Package migrate applies goose migrations: the ledger's own (embedded in
// the binary, see internal/ledger) and a project's (its migrations/
// folder), each sequence with a version table of its own.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/percolate/percolate/internal/pg"
)

// ProjectTable is where goose records a project's applied migrations: in
// the ledger's schema, named in full so that no search_path can hide it.
// (Before the ledger had migrations of its own, its versions were kept
// here too.)
const ProjectTable = "percolate.goose_db_version"

// ErrNone is returned by Provider for a folder holding no migration.
var ErrNone = goose.ErrNoMigrations

// Provider returns a goose provider for the migrations in fsys, recorded
// in table. Close the returned *sql.DB when done. A folder without
// migrations gives ErrNone.
func Provider(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, table string) (*goose.Provider, *sql.DB, error) {
	// The schema the version tables live in.
	if err := pg.EnsureSchema(ctx, pool, "percolate"); err != nil {
		return nil, nil, err
	}
	db := stdlib.OpenDBFromPool(pool)
	prov, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithTableName(table))
	if err != nil {
		db.Close()
		if errors.Is(err, goose.ErrNoMigrations) {
			return nil, nil, ErrNone
		}
		return nil, nil, fmt.Errorf("migrations: %w", err)
	}
	return prov, db, nil
}

// Up applies the pending migrations in fsys, recorded in table; a folder
// without migrations has none pending.
func Up(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, table string) ([]*goose.MigrationResult, error) {
	prov, db, err := Provider(ctx, pool, fsys, table)
	if errors.Is(err, ErrNone) {
		return nil, nil
	}
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

// Body is a goose migration holding up and down.
func Body(up, down string) string {
	return "-- +goose Up\n" + up + "\n-- +goose Down\n" + down
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
		return "", fmt.Errorf("create migration %s: %w", name, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("create migration %s: %w", name, err)
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
	body := Body(up, down)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("create migration %s: %w", name, err)
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return "", fmt.Errorf("write migration %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write migration %s: %w", path, err)
	}
	return path, nil
}
