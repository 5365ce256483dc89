package ledger

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Reject is a row that broke its source's contract.
type Reject struct {
	Line   int
	Col    int // 1-based field number; 0 for the whole row
	Column string
	Reason string
	Raw    string // the row with personal fields masked
}

func (r Reject) String() string {
	if r.Col > 0 {
		return fmt.Sprintf("line %d, column %d (%s): %s", r.Line, r.Col, r.Column, r.Reason)
	}
	return fmt.Sprintf("line %d: %s", r.Line, r.Reason)
}

// AddRejects records the rejected rows of a claimed file.
func (Store) AddRejects(ctx context.Context, q Querier, loadID int64, source, path string, rejects []Reject) error {
	if len(rejects) == 0 {
		return nil
	}
	_, err := q.CopyFrom(ctx, pgx.Identifier{"percolate", "rejects"},
		[]string{"load_id", "source", "file", "line", "column_name", "reason", "raw"},
		pgx.CopyFromSlice(len(rejects), func(i int) ([]any, error) {
			r := rejects[i]
			var col any
			if r.Column != "" {
				col = fmt.Sprintf("%d (%s)", r.Col, r.Column)
			}
			return []any{loadID, source, path, r.Line, col, r.Reason, r.Raw}, nil
		}))
	return wrap("add rejects", err)
}

// RejectFilter picks rejects: of a source, of a file (empty: any), at most
// Limit of them.
type RejectFilter struct {
	Source, File string
	Limit        int
}

// Kept is a reject as recorded, with its file.
type Kept struct {
	Source, File string
	Line         int
	Column       string // "N (name)", or empty for the whole row
	Reason, Raw  string
}

// Rejects lists the rejects of files still loaded, newest file first.
func (Store) Rejects(ctx context.Context, q Querier, f RejectFilter) ([]Kept, error) {
	rows, err := q.Query(ctx, `SELECT r.source, r.file, r.line, coalesce(r.column_name, ''), r.reason, r.raw
		FROM percolate.rejects r JOIN percolate.files f USING (load_id)
		WHERE f.status = 'loaded' AND ($1 = '' OR r.source = $1) AND ($2 = '' OR r.file = $2)
		ORDER BY f.load_id DESC, r.line LIMIT $3`, f.Source, f.File, f.Limit)
	if err != nil {
		return nil, wrap("list rejects", err)
	}
	kept, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Kept])
	return kept, wrap("list rejects", err)
}
