package loaders

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

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
