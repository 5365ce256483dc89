// Package ledger keeps Percolate's record of a warehouse, in schema
// percolate: runs, the file manifest and its rejects, model builds and
// versions, the days of incremental models, check results and settings.
//
// It is the only code that reads or writes those tables. Its methods take
// the caller's connection or transaction, in the manner of goose's
// database.Store, so that what must commit together (a file's manifest row
// and its staging rows, a build and its publish) does: atomicity stays with
// the caller.
package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what the ledger needs of a connection: a pool, a connection
// or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// Store reads and writes the ledger. Its zero value is ready to use; it
// holds nothing, since every method is given the connection to use.
type Store struct{}

// ErrMissing is returned by Ready's callers' operations that need the
// ledger on a database that has none yet.
var ErrMissing = errors.New("the database has no percolate ledger yet: run 'percolate migrate up' (or 'percolate run') first")

// Ready reports whether the database has the ledger at the newest shape
// this package knows (its migrations have been applied).
func (Store) Ready(ctx context.Context, q Querier) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT to_regclass('percolate.check_results') IS NOT NULL
		AND to_regclass('percolate.file_copies') IS NOT NULL
		AND to_regclass('percolate.object_copies') IS NOT NULL
		AND EXISTS (SELECT FROM information_schema.columns WHERE table_schema = 'percolate' AND table_name = 'files' AND column_name = 'modified_at')`).Scan(&ok)
	return ok, wrap("check its tables", err)
}

// wrap names the ledger's operation that failed ("ledger: claim files:
// …"), keeping err for errors.Is and errors.As; nil stays nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("ledger: %s: %w", op, err)
}
