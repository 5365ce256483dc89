package cli

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/percolate/percolate/internal/bench"
	"github.com/percolate/percolate/internal/project"
)

func (a *app) benchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Time percolate's load against psql's \\copy of the same files",
		Long: `Bench generates cafe data at scale (kept in --data between runs), then loads it
into fresh databases twice, on the same server: with one psql session running
\copy of every raw file into a table of the raw columns, and with 'percolate
load' (parse, type, drop personal data, hash order ids, explode baskets, binary
COPY). It prints orders/s for both and the ratio.

Shapes: one-file (1,000,000 orders in one file) and daily (10 branches × 365
days, ~300 orders a file) time the load alone.

The shape year times the whole job on a year of ten branches (3,650 daily
files, as 'percolate generate --branches 10 --from 2022-01-01 --to 2022-12-31'
writes them): 'percolate backfill' and 'percolate run', each into an empty
database, beside one psql process copying the same raw rows as one stream
(cat *.csv | psql -c '\copy raw FROM STDIN CSV'), alternating, --runs times,
and prints the medians, the ratios, where percolate's time went and the
server's floor (the typed rows written with one binary COPY stream, and the
marts' sums, on one connection), with the client's peak memory.

Pointed at a Citus coordinator (--database-url or PERCOLATE_DATABASE_URL
naming a database with the citus extension, such as the postgres database
of ../shared/citus/cluster.sh), every fresh database is made on the
coordinator and on each of its workers, the extension created in each and
the workers added; psql copies into a table distributed by the branch's
column.

--versus URL runs the year on the server at URL too (a Citus coordinator,
say), by turns with the first: on each, psql's one-stream \copy and
'percolate backfill', each into a fresh database, the servers taking turns
(which goes first alternates), --runs times; then it prints both servers'
medians side by side: the whole backfill, its load, each model, checks and
publish, and the client's peak memory, with URL's time over the first's.
'percolate run' and the floors are not timed then.

The shape append-day times the nightly run the way the chain runs it, the
glob over every file ever delivered: after 30 days of history and after 365,
a run with nothing new and a run with a new day of ten branches.

The shape reads times the readers of the core: it backfills the year into
a fresh database (bench_reads, kept afterwards for a look), copies the core's
relations into plain tables of their own (schema keyed) with a primary key
and indexes each, vacuums and analyzes the database, and runs a fixed set of
analyst queries on both sides: each query once on each to compare its rows
(the bench fails when they differ), then --runs times each, alternating. It
prints each query's server time (planning + execution, as EXPLAIN (ANALYZE,
TIMING OFF) reports it; medians) on the core and on the keyed copies, the
ratio, and queries over their target. The queries, the copies' keys and
indexes, and the targets are the project's, in the file --queries names
(its header comments say how it is written).

The shape resend times a redelivery: after the year, the same year sent
again under new names (every order a repeat), beside a year of new days,
and prints every model's build time after each.

The shape watch times 'percolate watch' in this process on a fresh
database (bench_watch): ten branches' files arriving at random times over
--spread, then a burst of a hundred, and prints the time from each file's
arrival to its batch's publish (p50, p95); the process's CPU over 10s with
nothing arriving; and its resident memory after 1,000 files and after
--files, delivered a hundred at a time.

The shape manifest times the nightly run at a thousand branches × ten
years: 3,650 folders of 1,000 files under --data (empty stand-ins, the last
day real), recorded loaded in a fresh database (bench_manifest) by SQL, not
by loading them; then, with the source immutable: true, the plan, a run
with nothing new, a run after a new day of every branch and one after a
single new file; with --as-declared, once more without immutable (every
file stated every run: minutes). --branches and --days size it.

Every job runs on the same server, the embedded one or --database-url (and,
with --versus, on the server at its URL).`,
		Example: `  percolate bench --shape year
  PERCOLATE_DATABASE_URL=postgres://… percolate bench --shape year --runs 5
  percolate bench --shape year --versus postgres://postgres@127.0.0.1:57636/postgres --runs 3
  percolate bench --shape daily
  percolate bench --shape one-file --shape daily --data /var/tmp/percolate-bench
  percolate bench --shape append-day
  percolate bench --shape resend
  percolate bench --shape watch --files 2000
  percolate bench --shape reads --data /var/tmp/percolate-bench
  percolate bench --shape manifest --runs 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.bench(cmd, f)
		},
	}
	cmd.Flags().StringArrayVar(&f.shapes, "shape", []string{"one-file", "daily"}, "year, one-file, daily, append-day, resend, reads, watch or manifest (repeatable)")
	cmd.Flags().IntVar(&f.branches, "branches", 1000, "manifest: files a day")
	cmd.Flags().IntVar(&f.days, "days", 3650, "manifest: days of history")
	cmd.Flags().BoolVar(&f.asDeclared, "as-declared", false, "manifest: time the source without immutable: true too (minutes a run)")
	cmd.Flags().StringVar(&f.queries, "queries", filepath.Join("testdata", "bench", "reads.sql"), "reads: the query set, relative to the project folder")
	cmd.Flags().StringVar(&f.data, "data", filepath.Join(".percolate", "bench"), "folder for the generated files")
	cmd.Flags().IntVarP(&f.jobs, "jobs", "j", runtime.NumCPU(), "files percolate loads at once")
	cmd.Flags().IntVar(&f.buildJobs, "build-jobs", 0, "year and append-day: models built side by side, on both servers of --versus (default: one per core; on Citus 1)")
	cmd.Flags().DurationVar(&f.spread, "spread", time.Minute, "watch: how long the first ten files take to arrive")
	cmd.Flags().DurationVar(&f.settle, "settle", project.DefaultSettle, "watch: the watch's --settle")
	cmd.Flags().IntVar(&f.files, "files", 10_000, "watch: files the memory phase delivers in all (0: none)")
	cmd.Flags().StringVar(&f.versus, "versus", "", "year: time the year on the server at this URL too, by turns, side by side")
	cmd.Flags().IntVar(&f.runs, "runs", 3, "year and reads: runs of each job or query (the median is reported)")
	return cmd
}

// benchFlags are what bench was asked.
type benchFlags struct {
	shapes        []string
	data, queries string
	versus        string
	jobs, runs    int
	buildJobs     int
	spread        time.Duration
	settle        time.Duration
	files         int
	branches      int
	days          int
	asDeclared    bool
}

// bench runs the benchmarks of each shape asked for, in turn.
func (a *app) bench(cmd *cobra.Command, f benchFlags) error {
	if err := checkCount("--build-jobs", f.buildJobs); err != nil {
		return err
	}
	ctx := cmd.Context()
	p, err := a.project()
	if err != nil {
		return err
	}
	u, err := p.LocalURL(ctx)
	if err != nil {
		return err
	}
	opt := bench.Options{DataDir: f.data, URL: u, Project: p, Jobs: f.jobs, BuildJobs: f.buildJobs, Out: a.stdout}
	for _, name := range f.shapes {
		if err := a.benchShape(cmd, opt, f, name); err != nil {
			return err
		}
	}
	return nil
}

// benchShape runs the benchmark of one shape.
func (a *app) benchShape(cmd *cobra.Command, opt bench.Options, f benchFlags, name string) error {
	ctx := cmd.Context()
	switch name {
	case "year":
		if f.versus != "" {
			if _, err := bench.Versus(ctx, opt, f.versus, f.runs); err != nil {
				return fmt.Errorf("bench year: %w", err)
			}
			return nil
		}
		if _, err := bench.Year(ctx, opt, f.runs); err != nil {
			return fmt.Errorf("bench year: %w", err)
		}
	case "reads":
		if err := a.benchReads(cmd, opt, f.queries, f.runs); err != nil {
			return fmt.Errorf("bench reads: %w", err)
		}
	case "resend":
		if err := bench.Resend(ctx, opt); err != nil {
			return fmt.Errorf("bench resend: %w", err)
		}
	case "watch":
		if err := bench.Watch(ctx, opt, bench.WatchOptions{Spread: f.spread, Files: f.files, Settle: f.settle}); err != nil {
			return fmt.Errorf("bench watch: %w", err)
		}
	case "manifest":
		fmt.Fprintln(a.stdout, "manifest:")
		if err := bench.Manifest(ctx, opt, bench.ManifestOptions{Branches: f.branches, Days: f.days, Orders: 300, Runs: f.runs, AsDeclared: f.asDeclared}); err != nil {
			return fmt.Errorf("bench manifest: %w", err)
		}
	case "append-day":
		fmt.Fprintln(a.stdout, "append-day:")
		if err := bench.AppendDay(ctx, opt); err != nil {
			return fmt.Errorf("bench append-day: %w", err)
		}
	default:
		s, ok := bench.Shapes[name]
		if !ok {
			var known []string
			for k := range bench.Shapes {
				known = append(known, k)
			}
			sort.Strings(known)
			return usagef("--shape %q: want one of %v", name, known)
		}
		opt.Shape = s
		if _, err := bench.Run(ctx, opt); err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
	}
	return nil
}

// benchReads reads the query set, before the year is loaded, and runs
// the read benchmark.
func (a *app) benchReads(cmd *cobra.Command, opt bench.Options, queries string, runs int) error {
	if runs < 1 {
		return usagef("--runs %d: want at least 1", runs)
	}
	if !filepath.IsAbs(queries) {
		queries = filepath.Join(opt.Project.Dir, queries)
	}
	set, err := bench.ReadQuerySet(queries)
	if err != nil {
		return err
	}
	_, err = bench.Reads(cmd.Context(), opt, bench.ReadsOptions{Queries: set, Runs: runs})
	return err
}
