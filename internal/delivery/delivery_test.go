package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// pipeline is a source of daily rows per shop, summed by shop and day
// into staging.sales_sums (the table the checks read).
const pipeline = `version: 1
pipelines:
  p:
    models: models
    sources:
      sales:
        path: in/*.csv
        table: staging.sales
        key: {column: id, from: [at, shop]}
        expect: {every: day, per: shop, severity: warn}
        freshness: {warn_after: 26h, error_after: 50h}
        volume: {warn_below: 50%, warn_above: 200%}
        sums: {table: staging.sales_sums, by: [shop], count: n}
        columns:
          - name: at
            type: timestamp
            layouts: ["%Y-%m-%d %H:%M"]
            date: day
          - name: shop
`

// counting is a real connection that counts the statements run through
// it, and through the transactions it begins.
type counting struct {
	*pgxpool.Pool
	queries int
}

func (c *counting) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.queries++
	return c.Pool.Query(ctx, sql, args...)
}

func (c *counting) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := c.Pool.Begin(ctx)
	return &countingTx{Tx: tx, queries: &c.queries}, err
}

type countingTx struct {
	pgx.Tx
	queries *int
}

func (c *countingTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	*c.queries++
	return c.Tx.Query(ctx, sql, args...)
}

func (c *countingTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	*c.queries++
	return c.Tx.QueryRow(ctx, sql, args...)
}

func (c *countingTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	*c.queries++
	return c.Tx.Exec(ctx, sql, args...)
}

// TestOneQueryWhateverTheHistory: the missing days are found in a few
// statements (and the volumes in one more), not one per day or per group:
// a year of 50 shops costs the statements a week of 2 does, and each finds
// its hole.
func TestOneQueryWhateverTheHistory(t *testing.T) {
	ctx := context.Background()
	pool, pl := ledgerPool(t)
	end := time.Date(2022, 12, 31, 0, 0, 0, 0, time.UTC)
	statements := 0
	for _, c := range []struct {
		name        string
		shops, days int
	}{{"a week of 2 shops", 2, 7}, {"a year of 50 shops", 50, 365}} {
		t.Run(c.name, func(t *testing.T) {
			// Every shop every day, but shop 2's day 3 before the end.
			if _, err := pool.Exec(ctx, `TRUNCATE staging.sales_sums`); err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(ctx, `INSERT INTO staging.sales_sums (shop, day, n) SELECT 'shop ' || s, d::date, 10
				FROM generate_series(1, $1::int) AS s, generate_series($3::date - ($2::int - 1), $3::date, interval '1 day') AS d
				WHERE NOT (s = 2 AND d = $3::date - 3)`, c.shops, c.days, end); err != nil {
				t.Fatal(err)
			}
			q := &counting{Pool: pool}
			start := time.Now()
			found, err := Check(ctx, q, pl, Options{AsOf: end.AddDate(0, 0, 1), Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d shops × %d days: %d queries, %s", c.shops, c.days, q.queries, time.Since(start).Round(time.Millisecond))
			want := Finding{Source: "sales", Kind: Missing, Group: "shop 2", Date: end.AddDate(0, 0, -3).Format(time.DateOnly), Severity: "warn", Detail: "no file of shop 2 for 2022-12-28"}
			if len(found) != 1 || found[0] != want {
				t.Errorf("found %+v, want only %+v", found, want)
			}
			if statements == 0 {
				statements = q.queries
			}
			if q.queries != statements || statements > 8 {
				t.Errorf("%d statements, want %d (a week of 2 shops'), at most 8", q.queries, statements)
			}
		})
	}
}

// TestPerAnyColumn: deliveries are expected per whatever text column the
// contract names (here a supplier, counted from the source's own table),
// and what is said of them names that column.
func TestPerAnyColumn(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.Pool(t)
	if _, err := ledger.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE SCHEMA staging; CREATE TABLE staging.notes (supplier text, delivered_on date)`); err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse("pipelines.yaml", []byte(`version: 1
pipelines:
  p:
    models: models
    sources:
      notes:
        path: in/*.csv
        table: staging.notes
        key: {column: id, from: [at, supplier]}
        expect: {every: day, per: supplier, severity: error}
        freshness: {warn_after: 26h, error_after: 50h}
        columns:
          - {name: at, type: timestamp, layouts: ["%Y-%m-%d"], date: delivered_on}
          - name: supplier
`))
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2024, 5, 10, 0, 0, 0, 0, time.UTC)
	// Two suppliers every day to the 6th, but Acme's 4th.
	if _, err := pool.Exec(ctx, `INSERT INTO staging.notes SELECT s, d::date FROM unnest(ARRAY['Acme', 'Bolt']) AS s,
		generate_series('2024-05-01'::date, '2024-05-06'::date, interval '1 day') AS d WHERE NOT (s = 'Acme' AND d = '2024-05-04')`); err != nil {
		t.Fatal(err)
	}
	found, err := Check(ctx, pool, f.Pipelines["p"], Options{AsOf: end, Now: end})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range found {
		got = append(got, e.String())
	}
	want := []string{
		"notes: missing Acme 2024-05-04 [error]: no file of Acme for 2024-05-04",
		"notes: silent 2024-05-06 [error]: no files from any supplier since 2024-05-06 (3 days ago)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if s := Silence(found); s != " (notes: no files from any supplier since 2024-05-06 (3 days ago))" {
		t.Errorf("silence: got %q", s)
	}
}
