package cli

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/pgtest"
)

func sampleA(t *testing.T) string {
	t.Helper()
	return filepath.Join(sharedData, "chesterfield_25-08-2021_09-00-00.csv")
}

func sampleB(t *testing.T) string {
	t.Helper()
	return filepath.Join(sharedData, "2021-02-23-isle-of-wight.csv")
}

// samples reports whether the two real sample files of ../shared/data are
// here. Without them a test fails under CI (CI=true), whose runners must
// have them; elsewhere (a fresh clone) a test that needs them is skipped,
// and one that only adds them goes on without, each saying so in a line.
func samples(t *testing.T, need bool) bool {
	t.Helper()
	for _, f := range []string{sampleA(t), sampleB(t)} {
		_, err := os.Stat(f)
		switch {
		case err == nil:
			continue
		case os.Getenv("CI") == "true":
			t.Fatalf("the real sample files must be here under CI: %v", err)
		case need:
			t.Skipf("needs the real sample files of ../shared/data: %v", err)
		default:
			t.Logf("without the real sample files of ../shared/data: %v", err)
		}
		return false
	}
	return true
}

// readCSV reads a raw file with the standard library's CSV reader, apart
// from the loader, for totals computed independently.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

func pence(t *testing.T, s string) int64 {
	t.Helper()
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		t.Fatalf("price %q: %v", s, err)
	}
	if f < 0 {
		return int64(f*100 - 0.5)
	}
	return int64(f*100 + 0.5)
}

func money(p int64) string { return fmt.Sprintf("%d.%02d", p/100, p%100) }

type day struct{ branch, date string }

type dayTotals struct{ orders, items, revenue, cash, card int64 }

type productKey struct{ branch, date, product, size string }

type hourKey struct {
	branch, date string
	hour         int
}

type expected struct {
	days     map[day]*dayTotals
	products map[productKey][2]int64 // quantity, revenue
	hours    map[hourKey][2]int64    // orders, revenue
}

type rawItem struct {
	size, product string
	price         int64
}

// expect computes the marts from raw records of either layout.
func (e *expected) add(t *testing.T, branch string, at time.Time, total int64, method string, items []rawItem) {
	d := day{branch, at.Format("2006-01-02")}
	if e.days[d] == nil {
		e.days[d] = &dayTotals{}
	}
	dt := e.days[d]
	dt.orders++
	dt.items += int64(len(items))
	dt.revenue += total
	if method == "CASH" {
		dt.cash += total
	} else {
		dt.card += total
	}
	for _, it := range items {
		k := productKey{branch, d.date, it.product, it.size}
		v := e.products[k]
		e.products[k] = [2]int64{v[0] + 1, v[1] + it.price}
	}
	h := hourKey{branch, d.date, at.Hour()}
	v := e.hours[h]
	e.hours[h] = [2]int64{v[0] + 1, v[1] + total}
}

func expectFromSamples(t *testing.T) *expected {
	e := &expected{days: map[day]*dayTotals{}, products: map[productKey][2]int64{}, hours: map[hourKey][2]int64{}}
	for _, rec := range readCSV(t, sampleA(t)) {
		at, err := time.Parse("02/01/2006 15:04", rec[0])
		if err != nil {
			t.Fatal(err)
		}
		var items []rawItem
		for _, part := range strings.Split(rec[3], ", ") {
			i := strings.LastIndex(part, " - ")
			name, size := part[:i], ""
			for _, s := range []string{"Regular ", "Large "} {
				if strings.HasPrefix(name, s) {
					name, size = strings.TrimPrefix(name, s), strings.TrimSpace(s)
				}
			}
			items = append(items, rawItem{size, name, pence(t, part[i+3:])})
		}
		e.add(t, rec[1], at, pence(t, rec[4]), rec[5], items)
	}
	for _, rec := range readCSV(t, sampleB(t)) {
		at, err := time.Parse("2006-01-02 15:04:05", rec[0])
		if err != nil {
			t.Fatal(err)
		}
		var items []rawItem
		parts := strings.Split(rec[3], ",")
		for i := 0; i < len(parts); i += 3 {
			items = append(items, rawItem{parts[i], parts[i+1], pence(t, parts[i+2])})
		}
		e.add(t, rec[1], at, pence(t, rec[5]), rec[4], items)
	}
	return e
}

// TestMartsMatchRawFiles loads the two real sample files and checks every
// row of the three marts, to the penny, against totals computed here from
// the raw files with the standard library.
func TestMartsMatchRawFiles(t *testing.T) {
	samples(t, true)
	url := pgtest.URL(t)
	// As of the day after the real file's: its one day is all its branch sent.
	mustRun(t, root, url, "run", "--as-of", "2021-08-26", "--source", "transactions="+sampleA(t), "--source", "legacy_transactions="+sampleB(t))
	pool := connect(t, url)
	ctx := context.Background()
	want := expectFromSamples(t)

	t.Run("branch_daily_sales", func(t *testing.T) {
		rows, _ := pool.Query(ctx, `SELECT branch, sales_date::text, orders, items, revenue::text, cash_revenue::text, card_revenue::text, avg_order_value::text FROM marts.branch_daily_sales`)
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
			Branch, Date                  string
			Orders, Items                 int64
			Revenue, Cash, Card, AvgOrder string
		}])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want.days) {
			t.Errorf("got %d rows, want %d", len(got), len(want.days))
		}
		for _, g := range got {
			w := want.days[day{g.Branch, g.Date}]
			if w == nil {
				t.Errorf("unexpected row %+v", g)
				continue
			}
			avg := (2*w.revenue + w.orders) / (2 * w.orders) // half up, as numeric's round
			if g.Orders != w.orders || g.Items != w.items || g.Revenue != money(w.revenue) || g.Cash != money(w.cash) || g.Card != money(w.card) || g.AvgOrder != money(avg) {
				t.Errorf("%s %s: got %+v, want orders %d items %d revenue %s cash %s card %s avg %s",
					g.Branch, g.Date, g, w.orders, w.items, money(w.revenue), money(w.cash), money(w.card), money(avg))
			}
		}
	})
	t.Run("product_daily_sales", func(t *testing.T) {
		rows, _ := pool.Query(ctx, `SELECT branch, sales_date::text, product, coalesce(size, ''), quantity, revenue::text FROM marts.product_daily_sales`)
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
			Branch, Date, Product, Size string
			Quantity                    int64
			Revenue                     string
		}])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want.products) {
			t.Errorf("got %d rows, want %d", len(got), len(want.products))
		}
		for _, g := range got {
			w, ok := want.products[productKey{g.Branch, g.Date, g.Product, g.Size}]
			if !ok || g.Quantity != w[0] || g.Revenue != money(w[1]) {
				t.Errorf("%+v: want quantity %d revenue %s (known: %v)", g, w[0], money(w[1]), ok)
			}
		}
	})
	t.Run("hourly_sales", func(t *testing.T) {
		rows, _ := pool.Query(ctx, `SELECT branch, sales_date::text, hour, orders, revenue::text FROM marts.hourly_sales`)
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
			Branch, Date string
			Hour         int
			Orders       int64
			Revenue      string
		}])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want.hours) {
			t.Errorf("got %d rows, want %d", len(got), len(want.hours))
		}
		for _, g := range got {
			w, ok := want.hours[hourKey{g.Branch, g.Date, g.Hour}]
			if !ok || g.Orders != w[0] || g.Revenue != money(w[1]) {
				t.Errorf("%+v: want orders %d revenue %s (known: %v)", g, w[0], money(w[1]), ok)
			}
		}
	})
}
