package build

import (
	"context"
	"fmt"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// comment writes each model's description, and its `-- column` lines, as
// the comments of its published relation and columns, where they differ
// from what the database has: psql's \d+ and Grafana's query editor show
// them. A relation not built yet is left for the build that makes it.
func comment(ctx context.Context, q ledger.Querier, g *dag.Graph) error {
	for _, m := range g.Models {
		rel := pg.Ident(m.Schema, m.Rel)
		want := map[string]string{"": m.Config.Description}
		for _, c := range m.Config.Columns {
			want[c.Name] = c.Text
		}
		rows, err := q.Query(ctx, `SELECT '' , coalesce(obj_description(c.oid, 'pg_class'), ''), c.relkind = 'v'
			FROM pg_class c WHERE c.oid = to_regclass($1)
			UNION ALL
			SELECT a.attname, coalesce(col_description(a.attrelid, a.attnum), ''), false
			FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, rel)
		if err != nil {
			return err
		}
		have := map[string]string{}
		view, exists := false, false
		var name, text string
		var isView bool
		for rows.Next() {
			if err := rows.Scan(&name, &text, &isView); err != nil {
				rows.Close()
				return err
			}
			have[name] = text
			if name == "" {
				exists, view = true, isView
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if !exists {
			continue
		}
		kind := "TABLE"
		if view {
			kind = "VIEW"
		}
		for col, text := range want {
			got, ok := have[col]
			if !ok || got == text {
				continue
			}
			target := kind + " " + rel
			if col != "" {
				target = "COLUMN " + rel + "." + pg.Ident(col)
			}
			var stmt string
			if err := q.QueryRow(ctx, "SELECT format('COMMENT ON %s IS %L', $1::text, nullif($2::text, ''))", target, text).Scan(&stmt); err != nil {
				return err
			}
			if _, err := q.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: comment: %w", m.Path, err)
			}
		}
	}
	return nil
}
