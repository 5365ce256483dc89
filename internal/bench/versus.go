package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/project"
)

// Server is one server's jobs in a Versus: psql's one-stream \copy and
// percolate backfill of the year, one Timing per run.
type Server struct {
	Name     string
	URL      string
	Copy     []Timing
	Backfill []Timing
}

// Versus times the year on two servers by turns: on each, psql's
// one-stream \copy into a fresh database (a distributed table on Citus)
// and percolate backfill into another, the servers taking turns (which
// goes first alternates run by run), runs times. It prints both sides'
// medians side by side: the whole backfill, its load, each model, checks
// and publish, and the client's peak memory, with the second side's time
// over the first's.
func Versus(ctx context.Context, opt Options, other string, runs int) ([]*Server, error) {
	dir := filepath.Join(opt.DataDir, "year")
	files, err := yearFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("bench year: %w", err)
	}
	sides := []*Server{{Name: "one server", URL: opt.URL}, {Name: "versus", URL: other}}
	for _, s := range sides {
		if workers, err := workersOf(ctx, s.URL); err != nil {
			return nil, err
		} else if workers > 0 {
			s.Name = fmt.Sprintf("Citus (%d nodes)", workers+1)
		}
	}
	fmt.Fprintf(opt.Out, "year: %d files in %s; %s versus %s by turns, %d run(s)\n", len(files), dir, sides[0].Name, sides[1].Name, runs)
	for i := range runs {
		order := []*Server{sides[0], sides[1]}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, s := range order {
			if err := s.run(ctx, opt, files); err != nil {
				return nil, fmt.Errorf("bench year on %s: %w", s.Name, err)
			}
			fmt.Fprintf(opt.Out, "  run %d on %s: psql %s, backfill %s, client peak RSS %d MiB\n", i+1, s.Name,
				secs(s.Copy[i].Wall), secs(s.Backfill[i].Wall), s.Backfill[i].PeakRSS>>20)
		}
	}
	printVersus(opt.Out, sides)
	return sides, nil
}

// workersOf counts the Citus workers of the server at u (0: not Citus).
func workersOf(ctx context.Context, u string) (int, error) {
	w, err := pg.CitusWorkers(ctx, u)
	return len(w), err
}

// run times psql's stream and a backfill of the year on the side's server.
func (s *Server) run(ctx context.Context, opt Options, files []string) error {
	u, err := freshDB(ctx, s.URL, "bench_psql")
	if err != nil {
		return err
	}
	t, _, err := timed(ctx, s.URL, func() (int64, []Phase, error) { return psqlStream(ctx, u, files) })
	if err != nil {
		return fmt.Errorf("psql: %w", err)
	}
	s.Copy = append(s.Copy, t)
	pool, done, err := emptyDB(ctx, s.URL, "bench_backfill")
	if err != nil {
		return err
	}
	defer done()
	t, _, err = timed(ctx, s.URL, func() (int64, []Phase, error) {
		runs, err := backfillYear(ctx, opt, pool)
		if err != nil {
			return 0, nil, err
		}
		return orders(runs), phases(runs), nil
	})
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	s.Backfill = append(s.Backfill, t)
	return nil
}

// backfillYear backfills the year's files into pool.
func backfillYear(ctx context.Context, opt Options, pool *pgxpool.Pool) ([]*project.Summary, error) {
	rep, err := opt.Project.Backfill(ctx, pool, project.BackfillOptions{From: yearShape.From, To: yearShape.To,
		RunOptions: project.RunOptions{Jobs: opt.Jobs, BuildJobs: opt.BuildJobs, Sources: yearSources(filepath.Join(opt.DataDir, "year"))}})
	if err != nil {
		return nil, err
	}
	return rep.Runs, nil
}

// printVersus prints the two sides' medians, phase by phase.
func printVersus(w io.Writer, sides []*Server) {
	a, b := sides[0], sides[1]
	row := func(name string, x, y time.Duration) {
		ratio := "-"
		if x > 0 {
			ratio = fmt.Sprintf("%.2f×", y.Seconds()/x.Seconds())
		}
		fmt.Fprintf(w, "  %-40s %12s %16s %8s\n", name, secs3(x), secs3(y), ratio)
	}
	fmt.Fprintf(w, "  %-40s %12s %16s %8s\n", "medians", a.Name, b.Name, "ratio")
	row("psql \\copy, one stream", median(a.Copy).Wall, median(b.Copy).Wall)
	row("percolate backfill", median(a.Backfill).Wall, median(b.Backfill).Wall)
	pa, pb := phaseMedians(a.Backfill), phaseMedians(b.Backfill)
	for _, name := range phaseNames(a.Backfill, b.Backfill) {
		row("  "+name, pa[name], pb[name])
	}
	ra, rb := median(a.Backfill).PeakRSS>>20, median(b.Backfill).PeakRSS>>20
	fmt.Fprintf(w, "  %-40s %8d MiB %12d MiB\n", "client peak RSS (backfill)", ra, rb)
}

// secs3 writes d to the millisecond: the small models take tens of them.
func secs3(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

// phaseMedians is each phase's median duration over runs.
func phaseMedians(ts []Timing) map[string]time.Duration {
	all := map[string][]time.Duration{}
	for _, t := range ts {
		for _, p := range t.Phases {
			all[p.Name] = append(all[p.Name], p.Duration)
		}
	}
	out := map[string]time.Duration{}
	for name, ds := range all {
		for len(ds) < len(ts) { // a model a run did not build
			ds = append(ds, 0)
		}
		slices.Sort(ds)
		out[name] = ds[len(ds)/2]
	}
	return out
}

// phaseNames are the phases of either side's runs, in the order of the
// first run that names each.
func phaseNames(sets ...[]Timing) []string {
	var names []string
	for _, ts := range sets {
		for _, t := range ts {
			for _, p := range t.Phases {
				if !slices.Contains(names, p.Name) {
					names = append(names, p.Name)
				}
			}
		}
	}
	return names
}

// resetPeakRSS has the kernel count this process's peak resident memory
// from now (Linux: 5 written to /proc/self/clear_refs), after a
// collection, so that a job's peak is its own and not the jobs' before.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS is this process's peak resident memory since resetPeakRSS, in
// bytes (VmHWM of /proc/self/status), or 0 where the kernel does not say.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
