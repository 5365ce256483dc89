package pg

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5"
)

// Column is a column of a relation: its name and type as PostgreSQL
// writes it (numeric(10,2), text, …).
type Column struct {
	Name, Type string
}

// Columns lists the columns of the relation named rel (quoted as SQL
// needs it), in order; none when there is no such relation.
func Columns(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, rel string) ([]Column, error) {
	rows, err := q.Query(ctx, `SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, rel)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", rel, err)
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Column, error) {
		var c Column
		return c, r.Scan(&c.Name, &c.Type)
	})
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", rel, err)
	}
	return cols, nil
}

// JSONValue is a JSON value as jsonb compares it: equal numbers are
// equal however written (2.5 and 2.50), a string never equals a number.
func JSONValue(v json.RawMessage) string {
	if len(v) > 0 && v[0] != '"' {
		if r, ok := new(big.Rat).SetString(string(v)); ok {
			return r.RatString()
		}
	}
	return string(v)
}
