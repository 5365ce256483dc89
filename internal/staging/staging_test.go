package staging

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const pipelines = `version: 1
pipelines:
  shop:
    models: models
    sources:
      sales:
        path: in/*.csv
        table: staging.sales
        key: {column: sale_id, from: [at, basket]}
        columns:
          - name: at
            type: timestamp
            layouts: ["%d/%m/%Y %H:%M"]
            date: sales_date
          - name: shop
          - name: buyer
            personal: drop
          - name: basket
            type: items
            items: {table: staging.sale_items, separator: ",", format: "{size} {product} - {price}",
              fields: [{name: size, values: [S, L], optional: true}, product, {name: price, type: numeric, scale: 2}]}
          - name: total
            type: numeric
            scale: 2
`

func source(t *testing.T) *config.Source {
	t.Helper()
	f, err := config.Parse("pipelines.yaml", []byte(pipelines))
	if err != nil {
		t.Fatal(err)
	}
	return f.Pipelines["shop"].Sources["sales"]
}

// lineOf is the 1-based line of pipelines that holds text.
func lineOf(t *testing.T, text string) int {
	t.Helper()
	for i, l := range strings.Split(pipelines, "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("no line holds %q", text)
	return 0
}

// goodMigrations make the tables as the contract fills them, the way a
// person would write them: in two steps, one table LIKE another's
// columns, an index, a dropped column.
var goodMigrations = fstest.MapFS{
	"00001_sales.sql": {Data: []byte(`-- +goose Up
CREATE SCHEMA staging;
CREATE TABLE staging.sales (
    load_id     bigint      NOT NULL,
    source_line integer     NOT NULL,
    sale_id     uuid        NOT NULL,
    at          timestamptz NOT NULL,
    sales_date  date        NOT NULL,
    shop        text        NOT NULL,
    total       numeric(10,2) NOT NULL,
    note        text
);
CREATE TABLE staging.sale_items (LIKE staging.sales INCLUDING ALL);

-- +goose Down
DROP TABLE staging.sale_items;
`)},
	"00002_items.sql": {Data: []byte(`-- +goose Up
ALTER TABLE staging.sale_items DROP COLUMN at, DROP COLUMN shop, DROP COLUMN total, DROP COLUMN note;
ALTER TABLE staging.sale_items ADD COLUMN item_no int4 NOT NULL, ADD COLUMN size text,
    ADD COLUMN product text NOT NULL, ADD COLUMN price numeric(8, 2) NOT NULL;
ALTER TABLE staging.sale_items RENAME COLUMN sales_date TO sold_on;
ALTER TABLE staging.sale_items RENAME COLUMN sold_on TO sales_date;
CREATE INDEX ON staging.sale_items USING brin (load_id);

-- +goose Down
SELECT 1;
`)},
}

func TestMigrationsMatchTheContract(t *testing.T) {
	have, err := FromMigrations(goodMigrations)
	if err != nil {
		t.Fatal(err)
	}
	if err := Compare("pipelines.yaml", source(t), have); err != nil {
		t.Fatalf("got %v, want the migrations to match", err)
	}
}

// TestDifferencesNamed breaks the migrations one way at a time: each is
// reported at the line of pipelines.yaml that makes the column, naming the
// table's column and the migration line that makes it.
func TestDifferencesNamed(t *testing.T) {
	tests := []struct {
		name, from, to string
		line           string // the pipelines.yaml line the error points at
		want           string
	}{
		{"misspelt column", "    shop        text        NOT NULL,", "    sohp        text        NOT NULL,",
			"- name: shop", "staging.sales in the migrations has no column shop (migrations/00001_sales.sql:3), which the contract fills"},
		{"misspelt NOT NULL column, seen from the table", "    note        text\n", "    note        text NOT NULL\n",
			"path: in/*.csv", "staging.sales.note (migrations/00001_sales.sql:11) is NOT NULL with no default, but the contract fills no column of that name"},
		{"wrong type", "    at          timestamptz NOT NULL,", "    at          timestamp NOT NULL,",
			"- name: at", "staging.sales.at is timestamp (migrations/00001_sales.sql:7), but the contract fills it with timestamptz"},
		{"wrong scale", "    total       numeric(10,2) NOT NULL,", "    total       numeric(10,3) NOT NULL,",
			"- name: total", "staging.sales.total is numeric(10,3) (migrations/00001_sales.sql:10), but the contract fills it with 2 decimals"},
		{"no table", "CREATE TABLE staging.sale_items (LIKE", "CREATE TABLE staging.sale_item (LIKE",
			"- name: basket", "no table staging.sale_items in the migrations to load into: write its migration with 'percolate migrate create --source sales'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for k, v := range goodMigrations {
				fsys[k] = &fstest.MapFile{Data: v.Data}
			}
			text := string(fsys["00001_sales.sql"].Data)
			if !strings.Contains(text, tt.from) {
				t.Fatalf("the migration has no %q", tt.from)
			}
			fsys["00001_sales.sql"].Data = []byte(strings.Replace(text, tt.from, tt.to, 1))
			have, err := FromMigrations(fsys)
			if err != nil {
				t.Fatal(err)
			}
			err = Compare("pipelines.yaml", source(t), have)
			var cerr *config.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("got %v, want a *config.Error", err)
			}
			if want := lineOf(t, tt.line); cerr.Line != want || !strings.Contains(cerr.Msg, tt.want) {
				t.Errorf("got %v\nwant pipelines.yaml:%d: …%s", err, want, tt.want)
			}
		})
	}
}

// TestColumnNoLongerFilled: a table made for a loader that wrote each
// row's file path (source_file, NOT NULL) is named with the reason, and the
// generated migration lets the column be NULL, keeping what it holds.
func TestColumnNoLongerFilled(t *testing.T) {
	fsys := fstest.MapFS{}
	for k, v := range goodMigrations {
		fsys[k] = &fstest.MapFile{Data: v.Data}
	}
	fsys["00003_path.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nALTER TABLE staging.sales ADD COLUMN source_file text NOT NULL;\n")}
	have, err := FromMigrations(fsys)
	if err != nil {
		t.Fatal(err)
	}
	err = Compare("pipelines.yaml", source(t), have)
	if err == nil || !strings.Contains(err.Error(), "staging.sales.source_file (migrations/00003_path.sql:2) is NOT NULL with no default, but the contract fills no column of that name (the loader no longer writes the file's path on each row") ||
		!strings.Contains(err.Error(), "'percolate migrate create --source sales' writes a migration") {
		t.Fatalf("got %v, want source_file named with the reason and the command", err)
	}
	up, _, err := Migration(source(t), have)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(up, "ALTER TABLE \"staging\".\"sales\" ALTER COLUMN \"source_file\" DROP NOT NULL;") {
		t.Fatalf("the migration does not let source_file be NULL:\n%s", up)
	}
	fsys["00004_up.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\n" + up)}
	if have, err = FromMigrations(fsys); err != nil {
		t.Fatal(err)
	}
	if err := Compare("pipelines.yaml", source(t), have); err != nil {
		t.Errorf("after the generated migration: %v", err)
	}
}

// TestItemSizeMayBeEmpty: an item without a size is written as NULL, so a
// NOT NULL size column would fail the load.
func TestItemSizeMayBeEmpty(t *testing.T) {
	fsys := fstest.MapFS{}
	for k, v := range goodMigrations {
		fsys[k] = &fstest.MapFile{Data: v.Data}
	}
	fsys["00003_size.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nALTER TABLE staging.sale_items ALTER COLUMN size SET NOT NULL;\n")}
	have, err := FromMigrations(fsys)
	if err != nil {
		t.Fatal(err)
	}
	err = Compare("pipelines.yaml", source(t), have)
	if err == nil || !strings.Contains(err.Error(), "staging.sale_items.size is NOT NULL (migrations/00003_size.sql:2)") {
		t.Errorf("got %v, want the NOT NULL size named", err)
	}
}

// TestGeneratedMigration writes a source's migration from its contract,
// applies it to a real database, and reads it back both ways: offline and
// online, it matches the contract; a changed contract gets a migration of
// the difference.
func TestGeneratedMigration(t *testing.T) {
	ctx := context.Background()
	src := source(t)
	up, _, err := Migration(src, &Schema{Tables: map[string]*Table{}})
	if err != nil {
		t.Fatal(err)
	}
	file := "-- +goose Up\nCREATE SCHEMA staging;\n" + up + "\n-- +goose Down\n"
	have, err := FromMigrations(fstest.MapFS{"00001_sales.sql": {Data: []byte(file)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := Compare("pipelines.yaml", src, have); err != nil {
		t.Fatalf("offline: %v\n%s", err, up)
	}
	if _, _, err := Migration(src, have); !errors.Is(err, ErrUpToDate) {
		t.Errorf("a second migration: got %v, want ErrUpToDate", err)
	}

	pool, _ := pgtest.Pool(t)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA staging;\n"+up); err != nil {
		t.Fatalf("%v\n%s", err, up)
	}
	db, err := FromDatabase(ctx, pool, []string{"staging.sales", "staging.sale_items"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Compare("pipelines.yaml", src, db); err != nil {
		t.Fatalf("online: %v", err)
	}

	// The contract gains a column: the online check names it, and the next
	// migration adds it.
	src.Columns = append(src.Columns, &config.Column{Name: "till", Type: config.Integer, Line: 99})
	if err := Compare("pipelines.yaml", src, db); err == nil || !strings.Contains(err.Error(), "pipelines.yaml:99: source sales: staging.sales in the database has no column till") {
		t.Errorf("online, after the contract changed: got %v", err)
	}
	more, _, err := Migration(src, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, more); err != nil {
		t.Fatalf("%v\n%s", err, more)
	}
	if db, err = FromDatabase(ctx, pool, []string{"staging.sales", "staging.sale_items"}); err != nil {
		t.Fatal(err)
	}
	if err := Compare("pipelines.yaml", src, db); err != nil {
		t.Errorf("after the second migration: %v\n%s", err, more)
	}
}

// TestItemsInAColumn: a source that keeps its items in a column of its
// rows has no items table; its table has the column, as text, and a
// migration without it is named at the items column's line.
func TestItemsInAColumn(t *testing.T) {
	f, err := config.Parse("pipelines.yaml", []byte(strings.Replace(pipelines, "{table: staging.sale_items,", "{column: items,", 1)))
	if err != nil {
		t.Fatal(err)
	}
	src := f.Pipelines["shop"].Sources["sales"]
	up, _, err := Migration(src, &Schema{Tables: map[string]*Table{}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(up, `"items" text NOT NULL`) || strings.Contains(up, "sale_items") {
		t.Errorf("the migration of a source with its items in a column:\n%s", up)
	}
	file := "-- +goose Up\nCREATE SCHEMA staging;\n" + up + "\n-- +goose Down\n"
	have, err := FromMigrations(fstest.MapFS{"00001_sales.sql": {Data: []byte(file)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := Compare("pipelines.yaml", src, have); err != nil {
		t.Fatalf("%v\n%s", err, up)
	}
	file = strings.Replace(file, `"items" text NOT NULL,`, "", 1)
	if have, err = FromMigrations(fstest.MapFS{"00001_sales.sql": {Data: []byte(file)}}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("pipelines.yaml:%d: source sales: staging.sales in the migrations has no column items", lineOf(t, "- name: basket"))
	if err := Compare("pipelines.yaml", src, have); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
}

// TestOptionalColumnsNullable: the generated migration makes an optional
// column nullable, of every type, and a required one NOT NULL; a column
// made optional later gets its NOT NULL dropped.
func TestOptionalColumnsNullable(t *testing.T) {
	const yaml = `version: 1
pipelines:
  p:
    models: models
    sources:
      lines:
        path: in/*.csv
        table: staging.lines
        key: {column: line_id, from: [at, code]}
        columns:
          - {name: at, type: timestamp, layouts: ["%Y-%m-%d %H:%M"], date: day}
          - {name: code}
          - {name: note, optional: true}
          - {name: qty, type: integer, null_values: [NA]}
          - {name: price, type: numeric, scale: 2, optional: true}
          - {name: shipped, type: timestamp, layouts: ["%Y-%m-%d %H:%M"], local: shipped_local, optional: true}
`
	f, err := config.Parse("pipelines.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	src := f.Pipelines["p"].Sources["lines"]
	up, _, err := Migration(src, &Schema{Tables: map[string]*Table{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"code" text NOT NULL,`, `"note" text,`, `"qty" bigint,`, `"price" numeric(18,2),`, `"shipped" timestamptz,`, `"shipped_local" timestamp`, `"day" date NOT NULL,`} {
		if !strings.Contains(up, want) {
			t.Errorf("the migration has no %s:\n%s", want, up)
		}
	}
	pool, _ := pgtest.Pool(t)
	if _, err := pool.Exec(context.Background(), "CREATE SCHEMA staging;\n"+up); err != nil {
		t.Fatalf("%v\n%s", err, up)
	}
	// code becomes optional: the next migration lets it be NULL.
	src.Columns[1].Optional = true
	db, err := FromDatabase(context.Background(), pool, []string{"staging.lines"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Compare("pipelines.yaml", src, db); err == nil || !strings.Contains(err.Error(), "staging.lines.code is NOT NULL, but the contract may leave it empty") {
		t.Errorf("got %v, want code named", err)
	}
	more, _, err := Migration(src, db)
	if err != nil || !strings.Contains(more, `ALTER TABLE "staging"."lines" ALTER COLUMN "code" DROP NOT NULL;`) {
		t.Errorf("got %q (%v), want code's NOT NULL dropped", more, err)
	}
}
