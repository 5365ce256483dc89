package staging

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/migrate"
	"github.com/percolate/percolate/internal/pgtest"
)

// TestGeneratedMigrationOddNames: a column whose name holds what goose or
// SQL read as syntax (a semicolon, a comment, a quote) gets a generated
// migration that goose applies as written, and a later one adding a
// column so named applies too.
func TestGeneratedMigrationOddNames(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"a;b", "a; b", "till;", "a -- b", `say "hi"`, "x;\ny", `back\slash`, "café;", "tip 💷"} {
		t.Run(name, func(t *testing.T) {
			src := source(t)
			src.Columns = append(src.Columns, &config.Column{Name: name, Type: config.Integer, Line: 99})
			up, _, err := Migration(src, &Schema{Tables: map[string]*Table{}})
			if err != nil {
				t.Fatal(err)
			}
			pool, _ := pgtest.Pool(t)
			fsys := fstest.MapFS{"00001_sales.sql": {Data: []byte("-- +goose Up\nCREATE SCHEMA staging;\n" + up + "\n-- +goose Down\n")}}
			if _, err := migrate.Up(ctx, pool, fsys, migrate.ProjectTable); err != nil {
				t.Fatalf("goose up: %v\n%s", err, up)
			}
			db, err := FromDatabase(ctx, pool, []string{"staging.sales", "staging.sale_items"})
			if err != nil {
				t.Fatal(err)
			}
			if err := Compare("pipelines.yaml", src, db); err != nil {
				t.Errorf("after goose applied it: %v\n%s", err, up)
			}

			// The contract gains another such column: the next migration
			// adds it, through goose too.
			src.Columns = append(src.Columns, &config.Column{Name: name + "2", Type: config.Text, Line: 100})
			more, down, err := Migration(src, db)
			if err != nil {
				t.Fatal(err)
			}
			fsys["00002_more.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\n" + more + "\n-- +goose Down\n" + down)}
			if _, err := migrate.Up(ctx, pool, fsys, migrate.ProjectTable); err != nil {
				t.Fatalf("goose up: %v\n%s", err, more)
			}
			if db, err = FromDatabase(ctx, pool, []string{"staging.sales", "staging.sale_items"}); err != nil {
				t.Fatal(err)
			}
			if err := Compare("pipelines.yaml", src, db); err != nil {
				t.Errorf("after goose applied the second: %v\n%s", err, more)
			}
			// And it reads offline as the contract, as percolate check does.
			offline, err := FromMigrations(fsys)
			if err != nil {
				t.Fatal(err)
			}
			if err := Compare("pipelines.yaml", src, offline); err != nil {
				t.Errorf("offline: %v", err)
			}
		})
	}
}
