package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/project"
	"github.com/percolate/percolate/loaders"
)

// ManifestOptions size the manifest bench: Branches files a day for Days
// days (1,000 × 3,650: ten years of a thousand branches), Orders orders a
// real file.
type ManifestOptions struct {
	Branches, Days, Orders int
	// Runs is how many times each timing is taken (the median is printed).
	Runs int
	// AsDeclared times the source without immutable: true too, once.
	AsDeclared bool
}

// manifestStart is the first day of the generated history.
var manifestStart = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)

// Manifest times the nightly run against a history of Branches × Days
// files: a folder a day under landing/, as a landing zone keeps them. The
// history's files are empty stand-ins, recorded loaded in the manifest
// straight by SQL (INSERT … SELECT generate_series): a nightly run reads
// of an old file only its name, size and modification time, never its
// content. Its last day is real files, loaded by the first run, which
// builds every model. It then times, with the source immutable: true, the
// plan, a run with nothing new, a run after a new day of every branch
// lands, and one after a single new file; with AsDeclared, then once
// without the declaration.
func Manifest(ctx context.Context, opt Options, mo ManifestOptions) error {
	data, err := filepath.Abs(filepath.Join(opt.DataDir, "manifest"))
	if err != nil {
		return err
	}
	landing := filepath.Join(data, "landing")
	branches := generate.Branches(mo.Branches)
	start := time.Now()
	if err := ensureHistory(landing, branches, mo); err != nil {
		return err
	}
	fmt.Fprintf(opt.Out, "  history: %d folders of %d files in %s (ready in %s)\n", mo.Days, mo.Branches, landing, time.Since(start).Round(time.Second))
	url, err := freshDB(ctx, opt.URL, "bench_manifest")
	if err != nil {
		return err
	}
	pool, err := pg.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	src := opt.Project.Config.Pipelines["cafe"].Sources["transactions"]
	if src == nil {
		return errors.New("the project has no pipeline cafe with a source transactions")
	}
	m := &manifestBench{opt: opt, mo: mo, pool: pool, landing: landing, branches: branches,
		sources: map[string]string{"transactions": filepath.Join(landing, "*", "*.csv"), "legacy_transactions": filepath.Join(data, "none", "*.csv")}}
	none := filepath.Join(data, "none", "*.csv")
	if _, err := opt.Project.Run(ctx, pool, project.RunOptions{LoadOnly: true, Sources: map[string]string{"transactions": none, "legacy_transactions": none}}); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	start = time.Now()
	if err := recordHistory(ctx, pool, opt.Project, src, landing, branches, mo); err != nil {
		return err
	}
	fmt.Fprintf(opt.Out, "  manifest: %d files recorded loaded by SQL in %s\n", (mo.Days-1)*mo.Branches, time.Since(start).Round(time.Second))
	// The first run lists every folder, loads the last day's real files
	// and builds every model.
	src.Immutable = true
	defer func() { src.Immutable = false }()
	first, err := m.run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(opt.Out, "  first run (every folder listed, the last day's %d real files loaded, every model built): %s\n", mo.Branches, first.Duration.Round(time.Millisecond))
	if err := m.times(ctx, true, max(1, mo.Runs)); err != nil {
		return err
	}
	if !mo.AsDeclared {
		return nil
	}
	// The same source without the declaration: every file stated and
	// matched against the manifest, every run. Minutes a run: once.
	src.Immutable = false
	return m.times(ctx, false, 1)
}

// manifestBench is the state of one manifest bench.
type manifestBench struct {
	opt      Options
	mo       ManifestOptions
	pool     *pgxpool.Pool
	landing  string
	branches []string
	sources  map[string]string
	newDays  int // days delivered after the history
}

func (m *manifestBench) run(ctx context.Context) (*project.Summary, error) {
	// Today is the day after the newest delivered: the delivery checks
	// find every branch on time.
	today := manifestStart.AddDate(0, 0, m.mo.Days+m.newDays)
	sum, err := m.opt.Project.Run(ctx, m.pool, project.RunOptions{Sources: m.sources, Jobs: m.opt.Jobs, AsOf: today})
	if err != nil {
		return sum, fmt.Errorf("run: %w", err)
	}
	return sum, nil
}

// times prints the medians of the plan, of a run with nothing new, of one
// after a new day and of one after a new file.
func (m *manifestBench) times(ctx context.Context, immutable bool, runs int) error {
	var plan, noop, noopLoad, day, dayLoad, file []time.Duration
	var loaded, orders int64
	for range runs {
		t := time.Now()
		if _, err := m.opt.Project.Plan(ctx, m.pool, project.RunOptions{Sources: m.sources}); err != nil {
			return fmt.Errorf("plan: %w", err)
		}
		plan = append(plan, time.Since(t))
		sum, err := m.run(ctx)
		if err != nil {
			return err
		}
		noop, noopLoad = append(noop, sum.Duration), append(noopLoad, sum.Loading)
		if err := m.deliver(m.branches); err != nil {
			return err
		}
		if sum, err = m.run(ctx); err != nil {
			return err
		}
		day, dayLoad, loaded = append(day, sum.Duration), append(dayLoad, sum.Loading), int64(sum.Count(loaders.Loaded))
		orders, _, _ = sum.Rows()
		if err := m.deliver(m.branches[:1]); err != nil {
			return err
		}
		if sum, err = m.run(ctx); err != nil {
			return err
		}
		file = append(file, sum.Duration)
	}
	fmt.Fprintf(m.opt.Out, "  immutable: %-5v  plan %s; run, nothing new %s (listing %s); a new day (%d files, %d orders) %s (listing and load %s); a new file %s (medians of %d)\n",
		immutable, medianOf(plan), medianOf(noop), medianOf(noopLoad), loaded, orders, medianOf(day), medianOf(dayLoad), medianOf(file), runs)
	return nil
}

// deliver lands a new day's files of branches in a folder of its own, as
// the landing zone receives them: written elsewhere, then moved in.
func (m *manifestBench) deliver(branches []string) error {
	day := manifestStart.AddDate(0, 0, m.mo.Days+m.newDays)
	m.newDays++
	tmp := filepath.Join(filepath.Dir(m.landing), "incoming")
	os.RemoveAll(tmp)
	if _, err := generate.Write(generate.Options{Dir: tmp, Layout: generate.LayoutA, Branches: branches, From: day, To: day, Orders: m.mo.Orders, Seed: uint64(m.newDays)}); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(m.landing, day.Format(time.DateOnly)))
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}

// ensureHistory makes the landing folder: a folder per day, each with a
// file per branch, empty with the day's noon for its modification time,
// but the last day's, which are real. It keeps a complete one, and
// removes the days a bench delivered after it.
func ensureHistory(landing string, branches []string, mo ManifestOptions) error {
	done := filepath.Join(landing, ".complete")
	want := fmt.Sprintf("%d×%d", mo.Branches, mo.Days)
	if b, err := os.ReadFile(done); err == nil && string(b) == want {
		for d := mo.Days; ; d++ {
			dir := filepath.Join(landing, manifestStart.AddDate(0, 0, d).Format(time.DateOnly))
			if _, err := os.Stat(dir); err != nil {
				return nil
			}
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
	}
	if err := os.RemoveAll(landing); err != nil {
		return err
	}
	days := make(chan int)
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range days {
				if err := placeholders(landing, branches, manifestStart.AddDate(0, 0, d)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for d := range mo.Days - 1 {
		days <- d
	}
	close(days)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	last := manifestStart.AddDate(0, 0, mo.Days-1)
	if _, err := generate.Write(generate.Options{Dir: filepath.Join(landing, last.Format(time.DateOnly)), Layout: generate.LayoutA,
		Branches: branches, From: last, To: last, Orders: mo.Orders, Seed: 42}); err != nil {
		return err
	}
	return os.WriteFile(done, []byte(want), 0o644)
}

// placeholders writes a day's empty stand-ins, one per branch.
func placeholders(landing string, branches []string, day time.Time) error {
	dir := filepath.Join(landing, day.Format(time.DateOnly))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	noon := day.Add(12 * time.Hour)
	for _, b := range branches {
		p := filepath.Join(dir, generate.FileName(generate.LayoutA, b, day))
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		f.Close()
		if err := os.Chtimes(p, noon, noon); err != nil {
			return err
		}
	}
	return nil
}

// recordHistory records the history's stand-ins in the manifest as loaded
// files of src (each with its day in file_days), every day but the last,
// as a run would have: one INSERT … SELECT over generate_series.
func recordHistory(ctx context.Context, pool *pgxpool.Pool, p *project.Folder, src *config.Source, landing string, branches []string, mo ManifestOptions) error {
	slugs := make([]string, len(branches))
	for i, b := range branches {
		name := generate.FileName(generate.LayoutA, b, manifestStart)
		slugs[i] = name[:len(name)-len("_01-01-2015_09-00-00.csv")]
	}
	prefix := loaders.PathText(loaders.RelPath(p.Dir, landing))
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var run int64
	if err := tx.QueryRow(ctx, `INSERT INTO percolate.runs (pipeline, command, status, finished_at) VALUES ('cafe', 'bench', 'ok', now()) RETURNING run_id`).Scan(&run); err != nil {
		return fmt.Errorf("record the history: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		WITH f AS (
		    INSERT INTO percolate.files (run_id, source, path, size, content_hash, rows_loaded, rows_rejected, status, modified_at, contract)
		    SELECT $1, $2, p.path, 0, md5(p.path), $7, 0, 'loaded', d.day + interval '12 hours', $3
		    FROM generate_series($4::timestamp, $4::timestamp + ($5 - 2) * interval '1 day', interval '1 day') AS d (day)
		    CROSS JOIN LATERAL (
		        SELECT $6 || '/' || to_char(d.day, 'YYYY-MM-DD') || '/' || s.slug || '_' || to_char(d.day, 'DD-MM-YYYY') || '_09-00-00.csv' AS path
		        FROM unnest($8::text[]) WITH ORDINALITY AS s (slug, n) ORDER BY s.n) AS p
		    ORDER BY d.day
		    RETURNING load_id, modified_at
		)
		INSERT INTO percolate.file_days (load_id, day) SELECT load_id, (modified_at AT TIME ZONE 'UTC')::date FROM f`,
		run, src.Name, loaders.Fingerprint(src), manifestStart, mo.Days, prefix, mo.Orders, slugs); err != nil {
		return fmt.Errorf("record the history: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("record the history: %w", err)
	}
	_, err = pool.Exec(ctx, `VACUUM ANALYZE percolate.files, percolate.file_days`)
	return err
}
