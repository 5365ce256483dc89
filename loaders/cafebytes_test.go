package loaders

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/generate"
)

// TestCafeStagingUnchanged loads the cafe's sample files and a generated
// month of both layouts, and holds what every staging table stores to
// testdata/cafe_staging.golden: a digest of each table's rows, every
// column but load_id (which the file's path stands for). The cafe's
// models and migrations read these bytes; a change of the loader that
// changes them (an items column written otherwise, sums grouped
// otherwise, another row key) fails here. Refresh with -update, only for
// a change meant to reach the cafe's tables.
func TestCafeStagingUnchanged(t *testing.T) {
	ctx := context.Background()
	pool := warehouse(t)
	pl := cafe(t)
	day := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	gen := map[string]string{"transactions": generate.LayoutA, "legacy_transactions": generate.LayoutB}
	var got strings.Builder
	for _, name := range pl.SourceNames() {
		src := pl.Sources[name]
		paths, err := filepath.Glob(filepath.Join("..", src.Path))
		if err != nil || len(paths) == 0 {
			t.Fatalf("%s: no sample files (%v)", name, err)
		}
		dir := t.TempDir()
		if _, err := generate.Write(generate.Options{Dir: dir, Layout: gen[name], Branches: generate.Branches(3),
			From: day, To: day.AddDate(0, 0, 29), Orders: 40, Seed: 5}); err != nil {
			t.Fatal(err)
		}
		more, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
		for _, r := range load(t, pool, src, append(paths, more...)...) {
			if r.Status != Loaded {
				t.Fatalf("%s: %s %v", r.Path, r.Status, r.Err)
			}
		}
		tables, err := Staging(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			var cols []string
			for _, c := range tb.Columns {
				if c.Name != "load_id" {
					cols = append(cols, pgx.Identifier{c.Name}.Sanitize())
				}
			}
			var n int
			var digest string
			q := fmt.Sprintf(`SELECT count(*), md5(coalesce(string_agg(r, E'\n' ORDER BY r), '')) FROM (
				SELECT (SELECT regexp_replace(path, '^.*/', '') FROM percolate.files f WHERE f.load_id = t.load_id) || ' ' || (%s)::text AS r
				FROM %s AS t) AS x`, "ROW("+strings.Join(cols, ", ")+")", pgx.Identifier(strings.Split(tb.Name, ".")).Sanitize())
			if err := pool.QueryRow(ctx, q).Scan(&n, &digest); err != nil {
				t.Fatalf("%s: %v", tb.Name, err)
			}
			fmt.Fprintf(&got, "%s (%s): %d rows, md5 %s\n", tb.Name, strings.Join(cols, ", "), n, digest)
		}
	}
	golden := filepath.Join("testdata", "cafe_staging.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := readFile(t, golden); got.String() != want {
		t.Errorf("the cafe's staging tables changed:\ngot:\n%s\nwant (%s):\n%s", got.String(), golden, want)
	}
}
