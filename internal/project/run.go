package project

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/staging"
	"github.com/percolate/percolate/internal/warehouse"
	"github.com/percolate/percolate/loaders"
)

// RunOptions say what a run does.
type RunOptions struct {
	Pipeline string
	// Sources overrides source paths for this run: name → glob.
	Sources map[string]string
	// Jobs is how many files load at once; 0 means one per core.
	Jobs int
	// BuildJobs is how many models are built side by side; 0 means the
	// engine's default (one per core; one at a time on Citus).
	BuildJobs int
	// Rehash reads every local file again to learn its content, even one
	// loaded before at the same path, size and modification time.
	Rehash bool
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
	// PublishWait bounds how long the publish waits for readers holding
	// what it replaces (see build.Options).
	PublishWait time.Duration
	// AsOf is the day the delivery checks take for today (zero: today).
	AsOf time.Time
	// OnFile is told of each file as it finishes loading.
	OnFile func(loaders.Result)
	// OnBuild is told what the build is doing (see build.Event).
	OnBuild func(build.Event)
	// OnFiles, when set, is told how many files a step will look at,
	// before it loads any.
	OnFiles func(total int)
	// Files, when set for a source, are the files to load instead of its
	// glob (backfill chooses them by date).
	Files map[string][]string
}

// ErrRefused is wrapped by the error a run returns when it refused files.
var ErrRefused = errors.New("files refused")

// Run loads new files of every source of the pipeline and builds its
// models, under the run lock, recording the run in the ledger. Refused
// files do not stop the other files or the build; the run then returns an
// error wrapping ErrRefused along with its summary.
func (p *Folder) Run(ctx context.Context, pool *pgxpool.Pool, opt RunOptions) (*Summary, error) {
	w, err := p.prepare(ctx, pool, opt)
	if err != nil {
		return nil, err
	}
	defer w.lock.Release()
	command := "run"
	if opt.LoadOnly {
		command = "load"
	}
	return p.step(ctx, pool, w, command, opt)
}

// work is what a run needs once it holds the lock.
type work struct {
	pl   *config.Pipeline
	g    *dag.Graph
	key  []byte
	lock *pg.Held
	// precision is the declared precision of each numeric staging
	// column ("schema.table.column"): the loader holds numbers to it.
	precision map[string]int
	// engine is the warehouse's engine, detected once the migrations ran.
	engine *warehouse.Engine
	// abandoned are the runs found never ended, closed by this one; its
	// first step says so.
	abandoned []int64
}

// prepare checks the pipeline and its models (before touching anything, so
// a broken model is a configuration error), takes the run lock, applies
// migrations and checks the hash key. The lock is released here only when
// it fails; else by the caller, once the run is done.
func (p *Folder) prepare(ctx context.Context, pool *pgxpool.Pool, opt RunOptions) (w *work, err error) {
	pl, err := p.Config.Pipeline(opt.Pipeline)
	if err != nil {
		return nil, err
	}
	if err := p.checkSources(pl, opt); err != nil {
		return nil, err
	}
	w = &work{pl: pl}
	if !opt.LoadOnly {
		if w.g, err = p.Graph(pl); err != nil {
			return nil, err
		}
		// A misspelt selector is told before any file is loaded; the state
		// it may name is read when the build plans.
		if _, err := w.g.Select(opt.Select, opt.Exclude, func(*dag.Model) bool { return false }); err != nil {
			return nil, err
		}
	}
	held, _, err := p.lockMigrated(ctx, pool, opt.Wait)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			held.Release()
		}
	}()
	w.lock = held
	if err = p.locked(ctx, pool, pl, w); err != nil {
		return nil, err
	}
	return w, nil
}

// locked readies the warehouse for a run, under the run lock and after
// the migrations: the runs that never ended closed, staging checked
// against the contracts, distribution, the reader's password and the hash
// key.
func (p *Folder) locked(ctx context.Context, pool *pgxpool.Pool, pl *config.Pipeline, w *work) error {
	// With the lock held, no other run is alive: one still recorded as
	// running was killed, or its server crashed.
	var err error
	if w.abandoned, err = p.ledger.CloseAbandoned(ctx, pool); err != nil {
		return err
	}
	// A staging table that differs from its contract would fail halfway
	// through a COPY: say so, and where, before loading anything.
	have, err := staging.FromDatabase(ctx, pool, SourceTables(pl))
	if err == nil {
		err = p.CheckStaging(pl, have)
	}
	if err != nil {
		return err
	}
	w.precision = have.Precision()
	if w.engine, err = warehouse.Detect(ctx, pool); err != nil {
		return err
	}
	if err := p.distribute(ctx, pool, w.engine, pl); err != nil {
		return err
	}
	if err := p.setReaderPassword(ctx, pool, w.engine); err != nil {
		return err
	}
	if w.key, err = p.hashKey(); err != nil {
		return fmt.Errorf("hash key: %w", err)
	}
	return loaders.CheckKey(ctx, pool, w.key)
}

// step is one recorded run under the lock: load, then build.
func (p *Folder) step(ctx context.Context, pool *pgxpool.Pool, w *work, command string, opt RunOptions) (*Summary, error) {
	start := time.Now()
	sum := &Summary{Pipeline: w.pl.Name, Citus: w.engine.Citus}
	var err error
	// Recorded whatever happens to ctx: a cancel during the INSERT's round
	// trip may leave it committed, and a run never closed reads running.
	if sum.RunID, err = p.ledger.StartRun(context.WithoutCancel(ctx), pool, w.pl.Name, command); err != nil {
		return nil, err
	}
	if len(w.abandoned) > 0 {
		sum.Warnings = append(sum.Warnings, fmt.Sprintf("closed %d earlier run(s) that never recorded their end (killed, or the server stopped) as abandoned: %s; see health.runs",
			len(w.abandoned), runIDs(w.abandoned)))
		w.abandoned = nil
	}
	runErr := p.run(ctx, pool, w, opt, sum)
	sum.Duration = time.Since(start)
	if runErr != nil && ctx.Err() != nil {
		runErr = &InterruptedError{Published: sum.Published, Err: runErr}
	}
	if err := p.finish(pool, sum, runErr); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("record the run's end: %w", err))
	}
	return sum, runErr
}

func (p *Folder) run(ctx context.Context, pool *pgxpool.Pool, w *work, opt RunOptions, sum *Summary) error {
	ld, err := p.loader(pool, loaders.Options{Key: w.key, Jobs: opt.Jobs, OnFile: opt.OnFile, Rehash: opt.Rehash, Precision: w.precision, Engine: w.engine})
	if err != nil {
		return err
	}
	pl := w.pl
	files, err := p.runFiles(ctx, pool, pl, opt, sum)
	if err != nil {
		return err
	}
	for _, name := range pl.SourceNames() {
		old, err := p.ledger.Outdated(ctx, pool, name, loaders.Fingerprint(pl.Sources[name]))
		if err != nil {
			return err
		}
		if len(old) > 0 {
			sum.Notes = append(sum.Notes, fmt.Sprintf("source %s: its contract changed: %d file(s) refused or with rejects under the earlier one are read again", name, len(old)))
		}
	}
	loading := time.Now()
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
		if err := p.recordFolders(ctx, pool, pl.Sources[name], res); err != nil {
			return err
		}
	}
	if sum.Seeds, err = p.loadSeeds(ctx, pool, w.engine, sum.RunID); err != nil {
		return err
	}
	sum.Loading = time.Since(loading)
	// A backfill chunk whose every file was refused has nothing to build:
	// the next chunk builds whatever is stale.
	chunkFailed := opt.Files != nil && len(sum.Files) > 0 &&
		sum.Count(loaders.Loaded)+sum.Count(loaders.Replaced)+sum.Count(loaders.Skipped) == 0
	if !opt.LoadOnly && !chunkFailed {
		bo := p.buildOptions(pl, opt)
		bo.Held, bo.Engine = w.lock.Check, w.engine
		if bo.Functions, err = p.declaredFunctions(); err != nil {
			return err
		}
		res, err := build.Run(ctx, pool, w.g, sum.RunID, bo)
		sum.Build = res
		if err != nil {
			return err
		}
		sum.Published = true
	}
	if opt.Files == nil { // a backfill checks once, after its last chunk
		if sum.Expectations, err = p.CheckDeliveries(ctx, pool, pl, sum.RunID, opt.AsOf); err != nil {
			return err
		}
	}
	return errors.Join(refusals(sum), Unmet(sum.Expectations))
}

// runFiles lists the files a run of pl looks at, by source: those
// opt.Files gives, else those of the source's glob, warning of a glob
// that matches none; OnFiles is told how many.
func (p *Folder) runFiles(ctx context.Context, pool *pgxpool.Pool, pl *config.Pipeline, opt RunOptions, sum *Summary) (map[string][]string, error) {
	files := map[string][]string{}
	total := 0
	for _, name := range pl.SourceNames() {
		src := pl.Sources[name]
		paths, ok := opt.Files[name]
		if !ok {
			var err error
			if paths, err = p.runPaths(ctx, pool, src, opt.Sources[name], opt.Rehash); err != nil {
				return nil, err
			}
			sum.Warnings = append(sum.Warnings, p.Unreadable(name)...)
			if len(paths) == 0 && p.passedOver(name) == 0 {
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
	return files, nil
}

// refusals warns of the files refused by earlier runs (the run still
// succeeds) and returns an error wrapping ErrRefused naming the files this
// run refused or could not read, with why.
func refusals(sum *Summary) error {
	var earlier, now []string
	for _, f := range sum.Files {
		why := ""
		if f.Err != nil {
			why, _, _ = strings.Cut(strings.TrimPrefix(f.Err.Error(), f.Path+": "), "\n")
		}
		switch f.Status {
		case loaders.RefusedEarlier:
			earlier = append(earlier, f.Path+" ("+why+")")
		case loaders.Refused, loaders.Failed:
			now = append(now, f.Path+": "+why)
		}
	}
	if len(earlier) > 0 {
		more := ""
		if len(earlier) > 3 {
			more = fmt.Sprintf(" and %d more", len(earlier)-3)
			earlier = earlier[:3]
		}
		sum.Warnings = append(sum.Warnings, "refused earlier: "+strings.Join(earlier, ", ")+more+"; see percolate files --status refused")
	}
	if len(now) > 0 {
		return fmt.Errorf("%w: %d file(s):\n  %s", ErrRefused, len(now), strings.Join(now, "\n  "))
	}
	return nil
}

// finish records the run's outcome; it uses a fresh context so that a
// cancelled run is still recorded as failed.
func (p *Folder) finish(pool *pgxpool.Pool, sum *Summary, runErr error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := ledger.RunOutcome{ID: sum.RunID, Status: ledger.RunOK, FilesLoaded: sum.Count(loaders.Loaded) + sum.Count(loaders.Replaced),
		FilesSkipped: sum.Count(loaders.Skipped), ModelsBuilt: sum.Built()}
	var stop *InterruptedError
	switch {
	case errors.As(runErr, &stop):
		o.Status, o.Error = ledger.RunInterrupted, stop.Error()
	case runErr != nil:
		o.Status, o.Error = ledger.RunFailed, runErr.Error()
	}
	o.RowsLoaded, _, o.RowsRejected = sum.Rows()
	return p.ledger.FinishRun(ctx, pool, o)
}

// runIDs lists run ids as #1, #2.
func runIDs(ids []int64) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprintf("#%d", id)
	}
	return strings.Join(out, ", ")
}

// buildOptions are the build options of a run of pl.
func (p *Folder) buildOptions(pl *config.Pipeline, opt RunOptions) build.Options {
	return build.Options{Select: opt.Select, Exclude: opt.Exclude, FullRefresh: opt.FullRefresh, From: opt.From, Sources: SourceOf(pl), PublishWait: opt.PublishWait, OnEvent: opt.OnBuild, Workers: opt.BuildJobs}
}

// SourceOf maps each staging table of pl to the name of its source.
func SourceOf(pl *config.Pipeline) map[string]string {
	out := map[string]string{}
	for _, s := range pl.Sources {
		out[s.Table] = s.Name
		if s.Sums != nil {
			out[s.Sums.Table] = s.Name
		}
		for _, c := range s.Columns {
			if c.Items == nil {
				continue
			}
			if c.Items.Table != "" {
				out[c.Items.Table] = s.Name
			}
			if c.Items.Sums != nil {
				out[c.Items.Sums.Table] = s.Name
			}
		}
	}
	return out
}

// distribute shards the staging tables of the sources that declare
// distributed_by, on a warehouse with Citus, the first time it sees them
// local (create_distributed_table, keeping their rows): tables sharded by
// columns of one type share shards (co-located), so their joins and sums
// by that column run on the workers. On plain PostgreSQL it does nothing.
func (p *Folder) distribute(ctx context.Context, pool *pgxpool.Pool, e *warehouse.Engine, pl *config.Pipeline) error {
	for _, name := range pl.SourceNames() {
		src := pl.Sources[name]
		if src.DistributedBy == "" {
			continue
		}
		for _, t := range SourceTables(&config.Pipeline{Sources: map[string]*config.Source{name: src}}) {
			if err := e.DistributeLoaded(ctx, pool, t, src.DistributedBy); err != nil {
				return err
			}
		}
	}
	return nil
}
