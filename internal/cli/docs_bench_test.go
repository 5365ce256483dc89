package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDocs1000Models times `docs generate` (from the files: --offline)
// for a project of 1,000 models, each reading one or two before it, with
// documented columns and a check: the bound is under 5 s (see
// docs/performance.md).
//
//	go test ./internal/cli -run '^$' -bench Docs1000 -benchtime 3x
func BenchmarkDocs1000Models(b *testing.B) {
	b.Setenv(EnvDatabaseURL, "")
	dir := b.TempDir()
	if code := Run(context.Background(), []string{"init", dir}, strings.NewReader(""), new(bytes.Buffer), new(bytes.Buffer)); code != 0 {
		b.Fatalf("init: exit %d", code)
	}
	models := filepath.Join(dir, "models", "gen")
	if err := os.MkdirAll(models, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if err := os.WriteFile(filepath.Join(models, fmt.Sprintf("m%04d.sql", i)), []byte(generatedModel(i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	out := b.TempDir()
	args := []string{"-C", dir, "docs", "generate", "--offline", "--out", out}
	cpu := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != 0 {
			b.Fatalf("docs generate: exit %d\n%s", code, stderr.String())
		}
	}
	b.StopTimer()
	// The machine is shared: the CPU the command took says more than the
	// wall clock when others are busy.
	b.ReportMetric((cpuTime(b)-cpu).Seconds()/float64(b.N), "cpu-s/op")
	pages, _ := filepath.Glob(filepath.Join(out, "models", "*.html"))
	if len(pages) != 1001 {
		b.Fatalf("%d model pages, want 1,001 (the generated ones and the project's own)", len(pages))
	}
}

// generatedModel is model i of the benchmark's project: the first ten read
// the staging table, the others one or two models before them.
func generatedModel(i int) string {
	header := fmt.Sprintf(`-- materialized: table
-- description: Generated model %d, for the docs benchmark.
-- column id: the trip
-- column value: minutes, summed along the chain
-- check: not_null(id)
`, i)
	if i < 10 {
		return header + "SELECT trip_key AS id, trip_date AS day, start_station AS name, minutes AS value, fare AS amount FROM staging.trips\n"
	}
	a, c := i-1, (i*31+7)%i
	return header + fmt.Sprintf("SELECT x.id, x.day, x.name, x.value + y.value AS value, x.amount\nFROM gen.m%04d AS x JOIN gen.m%04d AS y ON y.id = x.id\n", a, c)
}

// cpuTime is the user and system CPU time this process has taken.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
