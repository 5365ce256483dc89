package ledger

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/percolate/percolate/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the ledger's own goose migrations: the percolate schema's
// tables, functions and roles, the same for every project. Their numbers
// are those they had when they shared the project's sequence.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded folder is there
	}
	return sub
}

// VersionTable is where goose records the ledger's applied migrations,
// apart from the project's (migrate.ProjectTable).
const VersionTable = "percolate.ledger_version"

// formerlyShared are the versions of the ledger's migrations that releases
// before the ledger had a version table of its own recorded in the
// project's, with no project migration of the same number. Numbers both
// held (00006, 00007, 00029: a migration that changed the ledger and the
// first project's tables at once) stay in the project's table as well.
var formerlyShared = []int64{2, 5, 8, 10, 12, 14, 15, 16, 18, 20, 23, 25, 26, 27, 28, 30, 31, 32}

// Current reports whether the ledger's migrations are all applied. It
// only reads, so that commands that only read need no lock to ask.
func Current(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	versions, err := versionsIn(Migrations())
	if err != nil {
		return false, fmt.Errorf("ledger: list its migrations: %w", err)
	}
	var there bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", VersionTable).Scan(&there); err != nil || !there {
		return false, wrap("read its version", err)
	}
	var missing int
	err = pool.QueryRow(ctx, "SELECT count(*) FROM unnest($1::bigint[]) AS v WHERE v NOT IN (SELECT version_id FROM "+VersionTable+")", versions).Scan(&missing)
	if err != nil {
		return false, fmt.Errorf("ledger: read its version: %w", err)
	}
	return missing == 0, nil
}

// Migrate applies the ledger's pending migrations. The caller holds the
// run lock. A warehouse made before the ledger had a version table of its
// own has its ledger versions carried over first, so that nothing is
// applied twice.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]*goose.MigrationResult, error) {
	if err := adopt(ctx, pool); err != nil {
		return nil, fmt.Errorf("ledger: carry its versions over from %s: %w", migrate.ProjectTable, err)
	}
	res, err := migrate.Up(ctx, pool, Migrations(), VersionTable)
	if err != nil {
		return res, fmt.Errorf("ledger: %w", err)
	}
	return res, nil
}

// adopt gives a warehouse of the shared sequence a ledger version table
// holding the ledger versions its project table recorded, and takes the
// ledger-only ones out of the project table (a project's next migration
// is numbered after its own files, and goose refuses one below the
// newest version recorded). One transaction: a kill leaves the old
// layout or the new, never half.
func adopt(ctx context.Context, pool *pgxpool.Pool) error {
	var ledgerTable, projectTable bool
	err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL",
		VersionTable, migrate.ProjectTable).Scan(&ledgerTable, &projectTable)
	if err != nil || ledgerTable || !projectTable {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	applied, err := appliedVersions(ctx, tx, migrate.ProjectTable)
	if err != nil {
		return err
	}
	if !slices.Contains(applied, 2) { // 00002_ledger: the shared sequence never made a ledger
		return nil
	}
	store, err := database.NewStore(database.DialectPostgres, VersionTable)
	if err != nil {
		return err
	}
	if err := store.CreateVersionTable(ctx, tx); err != nil {
		return err
	}
	ours, err := versionsIn(Migrations())
	if err != nil {
		return err
	}
	for _, v := range append([]int64{0}, applied...) {
		if v != 0 && !slices.Contains(ours, v) {
			continue
		}
		if err := store.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+migrate.ProjectTable+" WHERE version_id = ANY($1)", formerlyShared); err != nil {
		return err
	}
	return tx.Commit()
}

// appliedVersions lists the versions table records as applied, oldest
// first.
func appliedVersions(ctx context.Context, tx *sql.Tx, table string) ([]int64, error) {
	store, err := database.NewStore(database.DialectPostgres, table)
	if err != nil {
		return nil, err
	}
	list, err := store.ListMigrations(ctx, tx)
	if err != nil {
		return nil, err
	}
	// Newest first; goose's legacy down recorded is_applied false.
	seen := map[int64]bool{}
	var out []int64
	for _, m := range list {
		if seen[m.Version] {
			continue
		}
		seen[m.Version] = true
		if m.IsApplied && m.Version > 0 {
			out = append(out, m.Version)
		}
	}
	slices.Sort(out)
	return out, nil
}

// versionsIn lists the versions of the migrations in fsys.
func versionsIn(fsys fs.FS) ([]int64, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, n := range names {
		v, err := goose.NumericComponent(n)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
