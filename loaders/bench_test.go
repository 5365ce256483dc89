package loaders

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/generate"
)

// BenchmarkLoadDailyFile loads cafe files of ~300 orders, one transaction
// each: the shape of a backfill. Reported: orders/s.
func BenchmarkLoadDailyFile(b *testing.B) {
	benchmarkLoad(b, 300)
}

// BenchmarkLoadBigFile loads files of ~100,000 orders.
func BenchmarkLoadBigFile(b *testing.B) {
	benchmarkLoad(b, 100_000)
}

func benchmarkLoad(b *testing.B, orders int) {
	pool := warehouse(b)
	src := cafe(b).Sources["transactions"]
	dir := b.TempDir()
	day := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: dir, Layout: generate.LayoutA, Branches: generate.Branches(1),
		From: day, To: day.AddDate(0, 0, b.N-1), Orders: orders, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	ld := csvLoader(b, pool, Options{})
	b.ResetTimer()
	res, err := ld.Load(context.Background(), 0, src, paths)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	var n int64
	for _, r := range res {
		n += r.Loaded
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkParse measures the loader's own work on a daily file, without
// a database: read, type, scrub, hash and explode its rows into Arrow
// batches and encode them for binary COPY. Reported: orders/s on one core.
func BenchmarkParse(b *testing.B) {
	src := cafe(b).Sources["transactions"]
	data, err := os.ReadFile(bigFile(b, 300))
	if err != nil {
		b.Fatal(err)
	}
	c, err := newContract(src, testKey)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	var orders int64
	var buf arenas
	for range b.N {
		fl := newFileLoad(c, bytes.NewReader(data), 1, "daily.csv")
		buf.cut([4]int{})
		if err := fl.encodeAll(&buf); err != nil {
			b.Fatal(err)
		}
		orders += fl.rows
		fl.release()
	}
	b.ReportMetric(float64(orders)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkBasket compares the two ways of getting one row per basket item,
// end to end on the same file: exploded by the loader into the items
// staging table, or loaded as text and split by SQL afterwards. Reported:
// orders/s for load plus split.
func BenchmarkBasket(b *testing.B) {
	path := bigFile(b, 100_000)
	ctx := context.Background()
	b.Run("loader", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			pool := warehouse(b)
			src := cafe(b).Sources["transactions"]
			b.StartTimer()
			res, err := csvLoader(b, pool, Options{}).Load(ctx, 0, src, []string{path})
			if err != nil || res[0].Status != Loaded {
				b.Fatal(err, res[0].Err)
			}
			b.ReportMetric(float64(res[0].Loaded)*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
		}
	})
	b.Run("sql", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			pool := warehouse(b)
			src := *cafe(b).Sources["transactions"]
			src.Table = "staging.raw_transactions"
			cols := make([]*config.Column, len(src.Columns))
			for i, c := range src.Columns {
				cc := *c
				if cc.Type == config.List {
					cc.Type, cc.Items = config.Text, nil
				}
				if cc.SumOf != "" {
					cc.SumOf = ""
				}
				cols[i] = &cc
			}
			src.Columns = cols
			if _, err := pool.Exec(ctx, `CREATE TABLE staging.raw_transactions (LIKE staging.transactions);
				ALTER TABLE staging.raw_transactions ADD COLUMN basket text, ALTER COLUMN item_count DROP NOT NULL`); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			res, err := csvLoader(b, pool, Options{}).Load(ctx, 0, &src, []string{path})
			if err != nil || res[0].Status != Loaded {
				b.Fatal(err, res[0].Err)
			}
			if _, err := pool.Exec(ctx, `INSERT INTO staging.transaction_items (load_id, source_line, order_id, branch, item_no, size, product, price)
				SELECT t.load_id, t.source_line, t.order_id, t.branch, i.n,
				       substring(i.item FROM '^(Regular|Large) '),
				       regexp_replace(regexp_replace(i.item, '^(Regular|Large) ', ''), ' - [0-9.]+$', ''),
				       substring(i.item FROM ' - ([0-9.]+)$')::numeric
				FROM staging.raw_transactions t,
				     LATERAL unnest(string_to_array(t.basket, ', ')) WITH ORDINALITY AS i(item, n)`); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res[0].Loaded)*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
		}
	})
}
