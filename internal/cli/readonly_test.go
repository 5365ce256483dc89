package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// TestValidateRefusesWrites: validate, and a run, refuse a model that
// modifies data, a check that does, and a model in a reserved schema,
// with exit 2 naming the model file and line.
func TestValidateRefusesWrites(t *testing.T) {
	tests := []struct {
		name, file, sql, want string
	}{
		{"a DELETE in a WITH", "models/marts/wipe.sql",
			"-- materialized: table\nWITH d AS (DELETE FROM percolate.files RETURNING 1) SELECT count(*) AS n FROM d\n",
			"models/marts/wipe.sql:2: DELETE FROM percolate.files modifies data"},
		{"a check that deletes", "models/marts/wipe.sql",
			"-- check: sql WITH d AS (DELETE FROM percolate.files RETURNING 1) SELECT * FROM d\nSELECT 1 AS n\n",
			"models/marts/wipe.sql:1: check"},
		{"a model over a staging table", "models/staging/x.sql", "SELECT 1 AS n\n",
			"models/staging/x.sql: schema staging is the staging tables'"},
		{"a model over a ledger table", "models/percolate/settings.sql", "SELECT 'a' AS name, 'b' AS value\n",
			"models/percolate/settings.sql: schema percolate is the ledger's"},
	}
	url := pgtest.URL(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tempProject(t)
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, tt.file)), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, tt.file), tt.sql)
			for _, cmd := range []string{"validate", "run"} {
				r := percolate(t, dir, url, cmd)
				if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
					t.Errorf("%s: got exit %d\n%s\nwant exit 2 and %q", cmd, r.code, r.stderr, tt.want)
				}
			}
		})
	}
}
