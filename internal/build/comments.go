package build

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// comment writes each model's description, and its `-- column` lines, as
// the comments of its published relation and columns, where they differ
// from what the database has: psql's \d+ and Grafana's query editor show
// them. One query reads every model's comments (a run that builds nothing
// calls it too); a relation not built yet is left for the build that makes
// it.
func comment(ctx context.Context, q ledger.Querier, g *dag.Graph) error {
	rels := make([]string, len(g.Models))
	for i, m := range g.Models {
		rels[i] = pg.Ident(m.Schema, m.Rel)
	}
	rows, err := q.Query(ctx, `SELECT r.rel, '', coalesce(obj_description(c.oid, 'pg_class'), ''), c.relkind = 'v'
		FROM unnest($1::text[]) AS r (rel) JOIN pg_class c ON c.oid = to_regclass(r.rel)
		UNION ALL
		SELECT r.rel, a.attname, coalesce(col_description(a.attrelid, a.attnum), ''), false
		FROM unnest($1::text[]) AS r (rel) JOIN pg_attribute a ON a.attrelid = to_regclass(r.rel) AND a.attnum > 0 AND NOT a.attisdropped`, rels)
	if err != nil {
		return err
	}
	type key struct{ rel, col string }
	have, views := map[key]string{}, map[string]bool{}
	var rel, col, text string
	var view bool
	if _, err := pgx.ForEachRow(rows, []any{&rel, &col, &text, &view}, func() error {
		have[key{rel, col}] = text
		if col == "" && view {
			views[rel] = true
		}
		return nil
	}); err != nil {
		return err
	}
	for i, m := range g.Models {
		want := map[string]string{"": m.Config.Description}
		for _, c := range m.Config.Columns {
			want[c.Name] = c.Text
		}
		// A column no longer described loses its comment: a table kept
		// from an earlier build (a spare, on Citus) has it still.
		for k, text := range have {
			if _, ok := want[k.col]; !ok && k.rel == rels[i] && text != "" {
				want[k.col] = ""
			}
		}
		for col, text := range want {
			got, ok := have[key{rels[i], col}]
			if !ok || got == text {
				continue // not built yet, or as it should be
			}
			target := "TABLE " + rels[i]
			switch {
			case col != "":
				target = "COLUMN " + rels[i] + "." + pg.Ident(col)
			case views[rels[i]]:
				target = "VIEW " + rels[i]
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
