// Package bench times Percolate's load against psql's \copy of the same
// files, side by side on the same server, and reports the ratio.
package bench

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/project"
)

// Shape is a set of files to load.
type Shape struct {
	Name     string
	Branches int
	Days     int
	Orders   int // mean orders per file
}

// Shapes are the two the issue asks for: one big file, and a year of daily
// files from ten branches.
var Shapes = map[string]Shape{
	"one-file": {Name: "one-file", Branches: 1, Days: 1, Orders: 1_000_000},
	"daily":    {Name: "daily", Branches: 10, Days: 365, Orders: 300},
}

// Result is one timed load.
type Result struct {
	What     string
	Rows     int64
	Duration time.Duration
}

// RowsPerSec is the load's speed in orders per second.
func (r Result) RowsPerSec() float64 { return float64(r.Rows) / r.Duration.Seconds() }

// Options say what to run.
type Options struct {
	Shape   Shape
	DataDir string // where generated files are kept between runs
	URL     string // a server to create the benchmark databases on
	Project *project.Folder
	Jobs    int
	// BuildJobs is how many models the year's and the new day's runs
	// build side by side (0: the engine's default).
	BuildJobs int
	Out       io.Writer
}

// Run generates the shape's files (once), then loads them with psql's \copy
// and with Percolate into fresh databases, and prints both and the ratio.
func Run(ctx context.Context, opt Options) ([]Result, error) {
	dir := filepath.Join(opt.DataDir, opt.Shape.Name)
	files, err := ensureData(dir, opt.Shape)
	if err != nil {
		return nil, fmt.Errorf("bench load: %w", err)
	}
	fmt.Fprintf(opt.Out, "%s: %d files in %s\n", opt.Shape.Name, len(files), dir)

	psqlURL, err := freshDB(ctx, opt.URL, "bench_psql")
	if err != nil {
		return nil, fmt.Errorf("bench load: %w", err)
	}
	t, rows, err := timed(ctx, opt.URL, func() (int64, []Phase, error) { return psqlStream(ctx, psqlURL, files) })
	if err != nil {
		return nil, fmt.Errorf("bench load: %w", err)
	}
	copyRes := Result{What: `psql \copy, one stream (raw CSV)`, Rows: rows, Duration: t.Wall}
	report(opt.Out, copyRes)

	percURL, err := freshDB(ctx, opt.URL, "bench_percolate")
	if err != nil {
		return nil, fmt.Errorf("bench load: %w", err)
	}
	if _, err := settle(ctx, opt.URL); err != nil {
		return nil, fmt.Errorf("bench load: %w", err)
	}
	percRes, err := percolateLoad(ctx, opt, percURL, filepath.Join(dir, "*.csv"))
	if err != nil {
		return nil, fmt.Errorf("bench load: %w", err)
	}
	report(opt.Out, percRes)
	if percRes.Rows != copyRes.Rows {
		return nil, fmt.Errorf("percolate loaded %d orders, psql %d: the loads differ", percRes.Rows, copyRes.Rows)
	}
	fmt.Fprintf(opt.Out, "  ratio: percolate / psql \\copy = %.2f×\n", percRes.RowsPerSec()/copyRes.RowsPerSec())
	return []Result{copyRes, percRes}, nil
}

func report(w io.Writer, r Result) {
	fmt.Fprintf(w, "  %-34s %9d orders in %8.2fs = %9.0f orders/s\n", r.What, r.Rows, r.Duration.Seconds(), r.RowsPerSec())
}

func ensureData(dir string, s Shape) ([]string, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	if len(files) == s.Branches*s.Days {
		return files, nil
	}
	os.RemoveAll(dir)
	from := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: dir, Layout: generate.LayoutA, Branches: generate.Branches(s.Branches),
		From: from, To: from.AddDate(0, 0, s.Days-1), Orders: s.Orders, Seed: 42}); err != nil {
		return nil, err
	}
	return filepath.Glob(filepath.Join(dir, "*.csv"))
}

// freshDB drops and creates database name on the server of base. On a
// Citus coordinator (base's database has the extension) it does the same
// on every worker and joins them (the extension created in each, the
// workers added), as a new database on a cluster is set up.
func freshDB(ctx context.Context, base, name string) (string, error) {
	workers, err := pg.CitusWorkers(ctx, base)
	if err != nil {
		return "", err
	}
	var dbs []string
	for _, server := range append([]string{base}, workers...) {
		u, err := createDB(ctx, server, name)
		if err != nil {
			return "", err
		}
		dbs = append(dbs, u)
	}
	if len(workers) > 0 {
		if err := pg.JoinCitus(ctx, dbs[0], dbs[1:]); err != nil {
			return "", err
		}
	}
	return dbs[0], nil
}

// createDB drops and creates database name on the server of base.
func createDB(ctx context.Context, base, name string) (string, error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	id := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+id); err != nil {
		return "", err
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// psqlBinary finds psql: on PATH, else beside the server binaries.
func psqlBinary() (string, error) {
	if bin, err := exec.LookPath("psql"); err == nil {
		return bin, nil
	}
	dir, err := pg.FindBinaries()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "psql"), nil
}

func percolateLoad(ctx context.Context, opt Options, dbURL, glob string) (Result, error) {
	res := Result{What: "percolate load (typed, scrubbed, hashed, exploded)"}
	pool, err := pg.Connect(ctx, dbURL)
	if err != nil {
		return res, err
	}
	defer pool.Close()
	sum, err := opt.Project.Run(ctx, pool, project.RunOptions{LoadOnly: true, Jobs: opt.Jobs,
		Sources: map[string]string{"transactions": glob, "legacy_transactions": filepath.Join(os.TempDir(), "percolate-bench-none", "*.csv")}})
	if err != nil {
		return res, err
	}
	res.Duration = sum.Duration
	res.Rows, _, _ = sum.Rows()
	return res, nil
}
