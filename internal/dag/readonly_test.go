package dag

import (
	"errors"
	"strings"
	"testing"
)

// TestModelsWriteNothing: a model or a check that modifies data, locks
// rows or builds in a reserved schema is refused, naming the file and
// the line; a SELECT that merely mentions such words is not.
func TestModelsWriteNothing(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // "" when the models load
	}{
		{"a DELETE in a WITH", map[string]string{"marts/n.sql": "-- materialized: table\nWITH d AS (DELETE FROM percolate.files RETURNING 1) SELECT count(*) AS n FROM d"},
			"models/marts/n.sql:2: DELETE FROM percolate.files modifies data"},
		{"an UPDATE in a WITH", map[string]string{"marts/n.sql": "WITH u AS (\n  UPDATE percolate.settings SET value = 'x' RETURNING 1\n)\nSELECT count(*) AS n FROM u"},
			"models/marts/n.sql:2: UPDATE percolate.settings modifies data"},
		{"an INSERT in a nested WITH", map[string]string{"marts/n.sql": "SELECT * FROM (WITH i AS (INSERT INTO staging.orders DEFAULT VALUES RETURNING 1) SELECT * FROM i) AS s"},
			"models/marts/n.sql:1: INSERT INTO staging.orders modifies data"},
		{"a MERGE in a WITH", map[string]string{"marts/n.sql": "WITH m AS (MERGE INTO staging.orders o USING staging.orders s ON false WHEN NOT MATCHED THEN DO NOTHING RETURNING 1)\nSELECT 1 AS n FROM m"},
			"MERGE INTO staging.orders modifies data"},
		{"FOR UPDATE", map[string]string{"core/a.sql": "SELECT *\nFROM staging.orders\nFOR UPDATE"},
			"models/core/a.sql:3: FOR UPDATE/SHARE (a row lock) modifies data"},
		{"FOR SHARE in a subquery", map[string]string{"core/a.sql": "SELECT * FROM (SELECT * FROM staging.orders FOR KEY SHARE) AS o"},
			"models/core/a.sql:1: FOR UPDATE/SHARE"},
		{"SELECT INTO", map[string]string{"core/a.sql": "SELECT 1 AS n\nINTO staging.copy"}, "models/core/a.sql:2: SELECT INTO staging.copy modifies data"},
		{"a check that deletes", map[string]string{"core/a.sql": "-- description: x\n-- check: sql WITH d AS (DELETE FROM percolate.files RETURNING 1) SELECT * FROM d\nSELECT 1 AS n"},
			"models/core/a.sql:2: check \"sql WITH d AS (DELETE FROM percolate.files RETURNING 1) SELECT * FROM d\": DELETE FROM percolate.files modifies data"},
		{"a check that is no SELECT", map[string]string{"core/a.sql": "-- check: sql DELETE FROM percolate.files\nSELECT 1 AS n"},
			"models/core/a.sql:1: check \"sql DELETE FROM percolate.files\": a sql check is exactly one SELECT"},
		{"a check that locks", map[string]string{"core/a.sql": "-- check: sql SELECT * FROM staging.orders FOR UPDATE\nSELECT 1 AS n"},
			"models/core/a.sql:1: check \"sql SELECT * FROM staging.orders FOR UPDATE\": FOR UPDATE/SHARE"},
		{"a check reading nothing known", map[string]string{"core/a.sql": "-- check: sql SELECT * FROM core.nope\nSELECT 1 AS n"},
			"models/core/a.sql:1: check sql SELECT * FROM core.nope: relation core.nope is neither a model nor a source table"},
		{"a model in the staging schema", map[string]string{"staging/x.sql": "SELECT 1 AS n"},
			"models/staging/x.sql: schema staging is the staging tables' (staging.orders)"},
		{"a model in the ledger's schema", map[string]string{"percolate/settings.sql": "SELECT 'a' AS name, 'b' AS value"},
			"models/percolate/settings.sql: schema percolate is the ledger's"},
		{"a model in pg_catalog", map[string]string{"pg_catalog/x.sql": "SELECT 1 AS n"}, "models/pg_catalog/x.sql: schema pg_catalog is PostgreSQL's"},
		{"a model in the spares' schema", map[string]string{"percolate_spare/x.sql": "SELECT 1 AS n"},
			"models/percolate_spare/x.sql: schema percolate_spare is Percolate's (where a build on Citus keeps emptied tables)"},
		{"words in strings and names are no writes", map[string]string{"core/a.sql": "-- check: sql SELECT * FROM core.a WHERE note = 'DELETE FROM x FOR UPDATE'\nSELECT 'UPDATE percolate.settings' AS note, 1 AS \"delete\", o.* FROM staging.orders AS o"}, ""},
		{"a check that reads the ledger", map[string]string{"core/a.sql": "-- check: sql SELECT * FROM percolate.runs WHERE false\nSELECT 1 AS n"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.files)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want the models to load", err)
				}
				return
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("got %T (%v), want a *dag.Error containing %q", err, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
