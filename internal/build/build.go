// Package build materializes a project's models in dependency order and
// publishes them: readers see the old relations or the new, never a half.
package build

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/pg"
)

// Built is one model's outcome.
type Built struct {
	Model    *dag.Model
	Rows     int64 // rows of a table; -1 for a view
	Duration time.Duration
}

// ModelError is a model that the database refused, with the line of the
// model file the database pointed at.
type ModelError struct {
	Path string
	Line int
	Err  error
}

func (e *ModelError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, pg.Describe(e.Err))
	}
	return fmt.Sprintf("%s: %s", e.Path, pg.Describe(e.Err))
}

func (e *ModelError) Unwrap() error { return e.Err }

// Run builds every model of g and publishes them in one transaction, and
// records each build in the ledger under runID. On any error nothing is
// published: the relations readers had stay as they were.
func Run(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, runID int64) ([]Built, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())
	// Drop children before parents, so no CASCADE can reach beyond the models.
	for i := len(g.Models) - 1; i >= 0; i-- {
		if err := drop(ctx, tx, g.Models[i]); err != nil {
			return nil, err
		}
	}
	var built []Built
	for _, m := range g.Models {
		start := time.Now()
		rows, err := materialize(ctx, tx, m)
		if err != nil {
			return nil, err
		}
		b := Built{Model: m, Rows: rows, Duration: time.Since(start)}
		built = append(built, b)
		if _, err := tx.Exec(ctx, `INSERT INTO percolate.model_builds (run_id, model, version, materialization, rows, started_at, finished_at)
			VALUES ($1, $2, $3, $4, NULLIF($5, -1), $6, $7)`, runID, m.Name, m.Version, m.Config.Materialized, rows, start, start.Add(b.Duration)); err != nil {
			return nil, err
		}
	}
	return built, tx.Commit(ctx)
}

func drop(ctx context.Context, tx pgx.Tx, m *dag.Model) error {
	var kind string
	err := tx.QueryRow(ctx, `SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, m.Schema, m.Rel).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	what := "TABLE"
	if kind == "v" {
		what = "VIEW"
	}
	_, err = tx.Exec(ctx, "DROP "+what+" "+pg.Ident(m.Schema, m.Rel))
	return err
}

// materialize creates the model's relation and returns its row count (-1
// for a view).
func materialize(ctx context.Context, tx pgx.Tx, m *dag.Model) (int64, error) {
	body := strings.TrimRight(strings.TrimSpace(m.SQL), ";")
	prefix := "CREATE VIEW " + pg.Ident(m.Schema, m.Rel) + " AS\n"
	if m.Config.Materialized == dag.Table {
		prefix = "CREATE TABLE " + pg.Ident(m.Schema, m.Rel) + " AS\n"
	}
	offset := len(m.SQL) - len(strings.TrimLeft(m.SQL, " \t\r\n"))
	tag, err := tx.Exec(ctx, prefix+body+"\n")
	if err != nil {
		return 0, modelError(m, err, utf8.RuneCountInString(prefix), offset)
	}
	if m.Config.Materialized == dag.View {
		return -1, nil
	}
	return tag.RowsAffected(), nil
}

// modelError maps the database's error position (in characters, in the
// statement as sent) back to a line of the model file.
func modelError(m *dag.Model, err error, prefixRunes, trimmed int) error {
	var pgErr *pgconn.PgError
	line := 0
	if errors.As(err, &pgErr) && pgErr.Position > 0 {
		runes := int(pgErr.Position) - 1 - prefixRunes
		if runes >= 0 {
			body := m.SQL[trimmed:]
			i := 0
			for n := 0; n < runes && i < len(body); n++ {
				_, size := utf8.DecodeRuneInString(body[i:])
				i += size
			}
			line = strings.Count(m.SQL[:trimmed+i], "\n") + 1
		}
	}
	return &ModelError{Path: m.Path, Line: line, Err: err}
}
