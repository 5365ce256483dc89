package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pgtest"
)

// ledgerPool is a fresh database with the ledger and staging.sales_sums,
// and the pipeline of its source.
func ledgerPool(t *testing.T) (*pgxpool.Pool, *config.Pipeline) {
	t.Helper()
	ctx := context.Background()
	pool, _ := pgtest.Pool(t)
	if _, err := ledger.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE SCHEMA staging; CREATE TABLE staging.sales_sums (load_id bigint, shop text, day date, n int)`); err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse("pipelines.yaml", []byte(pipeline))
	if err != nil {
		t.Fatal(err)
	}
	return pool, f.Pipelines["p"]
}

// night is day n of March 2022.
func night(n int) time.Time { return time.Date(2022, 3, n, 0, 0, 0, 0, time.UTC) }

// deliver loads a file at path as the loader would: recorded in the
// manifest with its days, its rows in the sums table, and the file loaded
// at that path before replaced, its rows deleted.
func deliver(t *testing.T, pool *pgxpool.Pool, path, shop string, days ...int) {
	t.Helper()
	ctx := context.Background()
	var id int64
	if err := pool.QueryRow(ctx, `INSERT INTO percolate.files (source, path, size, content_hash, rows_loaded, rows_rejected, status)
		VALUES ('sales', $1, 0, md5(random()::text), 1, 0, 'loaded') RETURNING load_id`, path).Scan(&id); err != nil {
		t.Fatal(err)
	}
	for _, n := range days {
		if _, err := pool.Exec(ctx, `WITH d AS (INSERT INTO percolate.file_days VALUES ($1, $2))
			INSERT INTO staging.sales_sums VALUES ($1, $3, $2, 10)`, id, night(n), shop); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `WITH old AS (
		    UPDATE percolate.files SET status = 'replaced', replaced_by = $1 WHERE source = 'sales' AND path = $2 AND load_id <> $1 AND status = 'loaded' RETURNING load_id
		)
		DELETE FROM staging.sales_sums WHERE load_id IN (SELECT load_id FROM old)`, id, path); err != nil {
		t.Fatal(err)
	}
}

// said is what a check found, a line each.
func said(t *testing.T, pool *pgxpool.Pool, pl *config.Pipeline, opt Options) string {
	t.Helper()
	found, err := Check(context.Background(), pool, pl, opt)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range found {
		out = append(out, f.String())
	}
	return strings.Join(out, "\n")
}

// TestNightlyMatchesFull: night after night, a check that reads only the
// days loaded since the last finds what a check reading the whole table
// does, whatever the night brought: a gap far in the past found again
// every night (it is still missing), a late file filling it, a new shop,
// a file replaced by one of other days, an older file before a shop's
// first day; and as of an earlier day, since a day, or with a shop
// retired.
func TestNightlyMatchesFull(t *testing.T) {
	pool, pl := ledgerPool(t)
	// Two shops from the 1st to the 10th, but Bath's 3rd.
	for n := 1; n <= 10; n++ {
		deliver(t, pool, fmt.Sprintf("york_%d.csv", n), "York", n)
		if n != 3 {
			deliver(t, pool, fmt.Sprintf("bath_%d.csv", n), "Bath", n)
		}
	}
	for _, c := range []struct {
		name    string
		deliver func()
		asOf    int
		want    []string // what the nightly check finds that matters here
	}{
		{"the first check reads the table whole", func() {}, 11, []string{"missing Bath 2022-03-03"}},
		{"an old gap is found again", func() {
			deliver(t, pool, "york_11.csv", "York", 11)
			deliver(t, pool, "bath_11.csv", "Bath", 11)
		}, 12, []string{"missing Bath 2022-03-03"}},
		{"a late file fills it; a new shop; a day not sent", func() {
			deliver(t, pool, "bath_3.csv", "Bath", 3)
			deliver(t, pool, "york_12.csv", "York", 12)
			deliver(t, pool, "leeds_12.csv", "Leeds", 12)
		}, 13, []string{"missing Bath 2022-03-12"}},
		{"a file replaced by other days; an older file", func() {
			deliver(t, pool, "york_5.csv", "York", 13)
			deliver(t, pool, "leeds_9.csv", "Leeds", 9)
			deliver(t, pool, "bath_12.csv", "Bath", 12, 13)
		}, 14, []string{"missing York 2022-03-05", "missing Leeds 2022-03-10", "missing Leeds 2022-03-11", "missing Leeds 2022-03-13"}},
		{"a shop's files replaced by another's", func() {
			deliver(t, pool, "leeds_9.csv", "York", 9)
			deliver(t, pool, "leeds_12.csv", "York", 12)
		}, 14, []string{"missing York 2022-03-05"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.deliver()
			opt := Options{AsOf: night(c.asOf), Now: night(c.asOf), Keep: true}
			got := said(t, pool, pl, opt)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("the nightly check found\n%s\nwant %s among it", got, w)
				}
			}
			// The full checks read the table whole, but keep nothing: the
			// next night starts from what the nightly ones kept.
			for _, o := range []Options{
				{AsOf: night(c.asOf), Now: night(c.asOf)},
				{AsOf: night(8), Now: night(8)},
				{AsOf: night(c.asOf), Now: night(c.asOf), Since: night(4)},
			} {
				nightly := said(t, pool, pl, o)
				o.Full = true
				if full := said(t, pool, pl, o); nightly != full {
					t.Errorf("as of %s since %s: the nightly check found\n%s\nthe full one\n%s", o.AsOf.Format(time.DateOnly), o.Since.Format(time.DateOnly), nightly, full)
				}
			}
			retired := *pl.Sources["sales"]
			e := *retired.Expect
			e.Retired = config.Groups{"York"}
			retired.Expect = &e
			rp := *pl
			rp.Sources = map[string]*config.Source{"sales": &retired}
			nightly := said(t, pool, &rp, Options{AsOf: night(c.asOf), Now: night(c.asOf)})
			if full := said(t, pool, &rp, Options{AsOf: night(c.asOf), Now: night(c.asOf), Full: true}); nightly != full {
				t.Errorf("York retired: the nightly check found\n%s\nthe full one\n%s", nightly, full)
			}
		})
	}
}
