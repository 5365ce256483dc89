package project

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/loaders"
	"github.com/percolate/percolate/migrations"
)

// RunOptions say what a run does.
type RunOptions struct {
	Pipeline string
	// Sources overrides source paths for this run: name → glob.
	Sources map[string]string
	// Jobs is how many files load at once (default: the number of cores).
	Jobs int
	// Wait makes a run wait for another one holding the lock instead of
	// failing with pg.ErrBusy.
	Wait bool
	// LoadOnly stops after loading: no models are built.
	LoadOnly bool
	// Select and Exclude pick models (see dag.Graph.Select); FullRefresh
	// rebuilds them whatever their state.
	Select, Exclude []string
	FullRefresh     bool
	// From limits the days rebuilt after a version change (see build.Options).
	From time.Time
	// OnFile is told of each file as it finishes loading.
	OnFile func(loaders.Result)
	// OnFiles, when set, is told how many files a step will look at,
	// before it loads any.
	OnFiles func(total int)
	// Files, when set for a source, are the files to load instead of its
	// glob (backfill chooses them by date).
	Files map[string][]string
}

// Summary is what a run did.
type Summary struct {
	RunID    int64
	Pipeline string
	Files    []loaders.Result
	Build    *build.Result
	// Warnings are things a person should know, such as a glob that
	// matched no file.
	Warnings []string
	Duration time.Duration
}

// Count returns how many files ended with status s.
func (s *Summary) Count(st loaders.Status) int {
	n := 0
	for _, f := range s.Files {
		if f.Status == st {
			n++
		}
	}
	return n
}

// Rows adds up rows loaded, items exploded and rows rejected.
func (s *Summary) Rows() (loaded, items, rejected int64) {
	for _, f := range s.Files {
		loaded += f.Loaded
		items += f.Items
		rejected += f.Rejected
	}
	return
}

// ErrRefused is wrapped by the error a run returns when it refused files.
var ErrRefused = errors.New("files refused")

// Run loads new files of every source of the pipeline and builds its
// models, under an advisory lock, recording the run in the ledger. Refused
// files do not stop the other files or the build; the run then returns an
// error wrapping ErrRefused along with its summary.
func (p *Project) Run(ctx context.Context, pool *pgxpool.Pool, opt RunOptions) (*Summary, error) {
	w, err := p.prepare(ctx, pool, opt)
	if err != nil {
		return nil, err
	}
	defer w.unlock()
	command := "run"
	if opt.LoadOnly {
		command = "load"
	}
	return p.step(ctx, pool, w, command, opt)
}

// work is what a run needs once it holds the lock.
type work struct {
	pl     *config.Pipeline
	g      *dag.Graph
	key    []byte
	unlock func()
}

// prepare checks the pipeline and its models (before touching anything, so
// a broken model is a configuration error), takes the run lock, applies
// migrations and checks the hash key.
func (p *Project) prepare(ctx context.Context, pool *pgxpool.Pool, opt RunOptions) (*work, error) {
	pl, err := p.Config.Pipeline(opt.Pipeline)
	if err != nil {
		return nil, err
	}
	if err := p.checkSources(pl, opt); err != nil {
		return nil, err
	}
	w := &work{pl: pl}
	if !opt.LoadOnly {
		if w.g, err = p.Graph(pl); err != nil {
			return nil, err
		}
	}
	if w.unlock, err = pg.Lock(ctx, pool, "run", opt.Wait); err != nil {
		return nil, err
	}
	if _, err := migrations.Up(ctx, pool, p.Migrations()); err != nil {
		w.unlock()
		return nil, err
	}
	if err := SetReaderPassword(ctx, pool); err != nil {
		w.unlock()
		return nil, err
	}
	if w.key, err = loaders.Key(p.KeyFile()); err != nil {
		w.unlock()
		return nil, fmt.Errorf("hash key: %w", err)
	}
	if err := loaders.CheckKey(ctx, pool, w.key); err != nil {
		w.unlock()
		return nil, err
	}
	return w, nil
}

// step is one recorded run under the lock: load, then build.
func (p *Project) step(ctx context.Context, pool *pgxpool.Pool, w *work, command string, opt RunOptions) (*Summary, error) {
	start := time.Now()
	sum := &Summary{Pipeline: w.pl.Name}
	if err := pool.QueryRow(ctx, `INSERT INTO percolate.runs (pipeline, command) VALUES ($1, $2) RETURNING run_id`, w.pl.Name, command).Scan(&sum.RunID); err != nil {
		return nil, err
	}
	runErr := p.run(ctx, pool, w.pl, w.g, w.key, opt, sum)
	sum.Duration = time.Since(start)
	p.finish(pool, sum, runErr)
	return sum, runErr
}

func (p *Project) run(ctx context.Context, pool *pgxpool.Pool, pl *config.Pipeline, g *dag.Graph, key []byte, opt RunOptions, sum *Summary) error {
	ld, err := p.Loader(ctx, pool, key)
	if err != nil {
		return err
	}
	ld.Jobs = opt.Jobs
	if ld.Jobs <= 0 {
		ld.Jobs = runtime.NumCPU()
	}
	ld.OnFile = opt.OnFile
	files := map[string][]string{}
	total := 0
	for _, name := range pl.SourceNames() {
		src := pl.Sources[name]
		paths, ok := opt.Files[name]
		if !ok {
			var err error
			if paths, err = p.Paths(ctx, src, opt.Sources[name]); err != nil {
				return err
			}
			if len(paths) == 0 {
				glob := opt.Sources[name]
				if glob == "" {
					glob = src.Path
				}
				sum.Warnings = append(sum.Warnings, fmt.Sprintf("source %s: no file matches %s", name, glob))
			}
		}
		files[name] = paths
		total += len(paths)
	}
	if opt.OnFiles != nil {
		opt.OnFiles(total)
	}
	for _, name := range pl.SourceNames() {
		res, err := ld.Load(ctx, sum.RunID, pl.Sources[name], files[name])
		for _, r := range res {
			if r.Path != "" {
				sum.Files = append(sum.Files, r)
			}
		}
		if err != nil {
			return err
		}
	}
	// A backfill chunk whose every file was refused has nothing to build:
	// the next chunk builds whatever is stale.
	chunkFailed := opt.Files != nil && len(sum.Files) > 0 &&
		sum.Count(loaders.Loaded)+sum.Count(loaders.Replaced)+sum.Count(loaders.Skipped) == 0
	if !opt.LoadOnly && !chunkFailed {
		res, err := build.Run(ctx, pool, g, sum.RunID, p.buildOptions(pl, opt))
		sum.Build = res
		if err != nil {
			return err
		}
	}
	if n := sum.Count(loaders.Refused) + sum.Count(loaders.Failed); n > 0 {
		var first error
		for _, f := range sum.Files {
			if f.Status == loaders.Refused || f.Status == loaders.Failed {
				first = f.Err
				break
			}
		}
		return fmt.Errorf("%w: %d file(s); the first: %v", ErrRefused, n, first)
	}
	return nil
}

// finish records the run's outcome; it uses a fresh context so that a
// cancelled run is still recorded as failed.
func (p *Project) finish(pool *pgxpool.Pool, sum *Summary, runErr error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, msg := "ok", ""
	if runErr != nil {
		status, msg = "failed", runErr.Error()
	}
	loaded, _, rejected := sum.Rows()
	pool.Exec(ctx, `UPDATE percolate.runs SET finished_at = now(), status = $2, files_loaded = $3, files_skipped = $4,
		rows_loaded = $5, rows_rejected = $6, models_built = $7, error = NULLIF($8, '') WHERE run_id = $1`,
		sum.RunID, status, sum.Count(loaders.Loaded)+sum.Count(loaders.Replaced), sum.Count(loaders.Skipped),
		loaded, rejected, sum.Built(), msg)
}

// Built counts the models the run built.
func (s *Summary) Built() int {
	if s.Build == nil {
		return 0
	}
	return len(s.Build.Built)
}

// buildOptions are the build options of a run of pl.
func (p *Project) buildOptions(pl *config.Pipeline, opt RunOptions) build.Options {
	return build.Options{Select: opt.Select, Exclude: opt.Exclude, FullRefresh: opt.FullRefresh, From: opt.From, Sources: SourceOf(pl)}
}

// SourceOf maps each staging table of pl to the name of its source.
func SourceOf(pl *config.Pipeline) map[string]string {
	out := map[string]string{}
	for _, s := range pl.Sources {
		out[s.Table] = s.Name
		for _, c := range s.Columns {
			if c.Items != nil {
				out[c.Items.Table] = s.Name
			}
		}
	}
	return out
}

// EnvReaderPassword names the environment variable holding the password of
// the read-only role Grafana uses.
const EnvReaderPassword = "PERCOLATE_GRAFANA_PASSWORD"

// SetReaderPassword sets the password of the role percolate_grafana from
// $PERCOLATE_GRAFANA_PASSWORD, when it is set: it is never committed.
func SetReaderPassword(ctx context.Context, pool *pgxpool.Pool) error {
	pw := os.Getenv(EnvReaderPassword)
	if pw == "" {
		return nil
	}
	var stmt string
	if err := pool.QueryRow(ctx, `SELECT format('ALTER ROLE percolate_grafana PASSWORD %L', $1::text)`, pw).Scan(&stmt); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("set the password of percolate_grafana from $%s: %w", EnvReaderPassword, err)
	}
	return nil
}
