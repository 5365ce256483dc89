package build

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// keyed is a project with one keyed incremental model.
func keyed(key string) fstest.MapFS {
	return fstest.MapFS{"models/core/days.sql": {Data: []byte(`-- materialized: incremental
-- time_column: sales_date
-- key: ` + key + `
SELECT sales_date, shop, sum(total) AS total
FROM staging.sales
WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
GROUP BY sales_date, shop
`)}}
}

// TestKeyedDays: a keyed model's table has a unique index on its key, and
// a day replaced is merged by it: a row that comes out the same is not
// written again, a changed one is, a row gone is deleted, a new one added.
func TestKeyedDays(t *testing.T) {
	pool := warehouse(t)
	g := graph(t, keyed("shop, sales_date"))
	deliver(t, pool, "a.csv", sale{"2022-03-01", "leeds", 10}, sale{"2022-03-01", "york", 5})
	deliver(t, pool, "b.csv", sale{"2022-03-02", "york", 20})
	if _, err := run(t, pool, g, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := query[string](t, pool, `SELECT string_agg(indexdef, '; ') FROM pg_indexes WHERE schemaname = 'core' AND tablename = 'days' AND indexdef LIKE 'CREATE UNIQUE INDEX%'`); !strings.Contains(got, "(shop, sales_date)") {
		t.Errorf("unique indexes of core.days: %q, want one on (shop, sales_date)", got)
	}
	mark := query[int64](t, pool, `SELECT txid_current() % 4294967296`)
	deliver(t, pool, "a.csv", sale{"2022-03-01", "leeds", 10}, sale{"2022-03-01", "york", 5}, sale{"2022-03-01", "york", 2})
	deliver(t, pool, "b.csv", sale{"2022-03-02", "hull", 3})
	res, err := run(t, pool, g, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Plan.Steps[0]; s.Full || strings.Join(s.Days, ",") != "2022-03-01,2022-03-02" {
		t.Fatalf("core.days: full %v, days %v; want both days replaced", s.Full, s.Days)
	}
	got := query[string](t, pool, `SELECT string_agg(format('%s %s=%s %s', sales_date, shop, total, CASE WHEN xmin::text::bigint >= `+
		itoa(mark)+` THEN 'written' ELSE 'kept' END), ', ' ORDER BY sales_date, shop) FROM core.days`)
	if want := "2022-03-01 leeds=10.00 kept, 2022-03-01 york=7.00 written, 2022-03-02 hull=3.00 written"; got != want {
		t.Errorf("core.days: %s, want %s", got, want)
	}
}

// TestKeyNotUnique: rows that break the key fail the build, naming the
// model, the key's line and a duplicated value; nothing is published.
func TestKeyNotUnique(t *testing.T) {
	pool := warehouse(t)
	g := graph(t, keyed("shop"))
	deliver(t, pool, "a.csv", sale{"2022-03-01", "leeds", 10}, sale{"2022-03-02", "leeds", 5})
	_, err := run(t, pool, g, Options{})
	var me *ModelError
	if !errors.As(err, &me) || me.Path != "models/core/days.sql" || me.Line != 3 || !strings.Contains(err.Error(), "key (shop) is not unique: Key (shop)=(leeds) is duplicated") {
		t.Fatalf("got %v, want models/core/days.sql:3: key (shop) is not unique: Key (shop)=(leeds) is duplicated", err)
	}
	if n := query[int](t, pool, `SELECT count(*)::int FROM pg_class WHERE relname IN ('days', 'days__next')`); n != 0 {
		t.Errorf("%d relations core.days or its __next left, want none", n)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestKeyNotUniqueOnMerge: a day merged again whose new rows repeat a key,
// one of them equal to the row already there, fails as a first build does;
// the merge never keeps one of the two in silence.
func TestKeyNotUniqueOnMerge(t *testing.T) {
	pool := warehouse(t)
	g := graph(t, keyed("sales_date"))
	deliver(t, pool, "a.csv", sale{"2022-03-01", "leeds", 10})
	if _, err := run(t, pool, g, Options{}); err != nil {
		t.Fatal(err)
	}
	deliver(t, pool, "a.csv", sale{"2022-03-01", "leeds", 10}, sale{"2022-03-01", "york", 5})
	_, err := run(t, pool, g, Options{})
	var me *ModelError
	if !errors.As(err, &me) || me.Line != 3 || !strings.Contains(err.Error(), "key (sales_date) is not unique") {
		t.Fatalf("got %v, want models/core/days.sql:3: key (sales_date) is not unique", err)
	}
	if got := query[string](t, pool, `SELECT string_agg(format('%s %s=%s', sales_date, shop, total), ', ') FROM core.days`); got != "2022-03-01 leeds=10.00" {
		t.Errorf("core.days: %s, want the first run's row alone", got)
	}
}
