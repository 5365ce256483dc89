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
	"github.com/percolate/percolate/internal/delivery"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/seed"
	"github.com/percolate/percolate/internal/staging"
	"github.com/percolate/percolate/loaders"
)

// RunOptions say what a run does.
type RunOptions struct {
	Pipeline string
	// Sources overrides source paths for this run: name → glob.
	Sources map[string]string
	// Jobs is how many files load at once; 0 means one per core.
	Jobs int
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

// Summary is what a run did.
type Summary struct {
	RunID    int64
	Pipeline string
	// Citus is the version of Citus the warehouse runs on, or "".
	Citus string
	Files []loaders.Result
	// Seeds are what the run did with each seed.
	Seeds []seed.Status
	Build *build.Result
	// Expectations are the sources' delivery expectations the run found
	// unmet, after loading and publishing (see package delivery).
	Expectations []ledger.Expectation
	// Warnings are things a person should know, such as a glob that
	// matched no file; Notes are things done that a person would not
	// expect, such as files read again after a contract changed.
	Warnings, Notes []string
	// Loading is how long the files took; Duration the whole run.
	Loading, Duration time.Duration
	// Published is true once the run's build committed its publish, or
	// found nothing to build.
	Published bool
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

// Rows adds up rows loaded, items exploded and rows rejected, of the files
// that loaded: the rejects percolate rejects lists. The rows of a file
// refused whole are none of these (see RefusedRows).
func (s *Summary) Rows() (loaded, items, rejected int64) {
	for _, f := range s.Files {
		if f.Status == loaders.Loaded || f.Status == loaders.Replaced {
			loaded += f.Loaded
			items += f.Items
			rejected += f.Rejected
		}
	}
	return
}

// RefusedRows adds up the data rows of the files refused whole this run,
// good and bad: nothing of them was loaded nor kept as rejects.
func (s *Summary) RefusedRows() (rows int64) {
	for _, f := range s.Files {
		if f.Status == loaders.Refused {
			rows += f.Rows
		}
	}
	return
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
	// citus is the version of the Citus extension the warehouse has, or "".
	citus string
	// abandoned are the runs found never ended, closed by this one; its
	// first step says so.
	abandoned []int64
}

// prepare checks the pipeline and its models (before touching anything, so
// a broken model is a configuration error), takes the run lock, applies
// migrations and checks the hash key.
func (p *Folder) prepare(ctx context.Context, pool *pgxpool.Pool, opt RunOptions) (*work, error) {
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
		// A misspelt selector is told before any file is loaded; the state
		// it may name is read when the build plans.
		if _, err := w.g.Select(opt.Select, opt.Exclude, func(*dag.Model) bool { return false }); err != nil {
			return nil, err
		}
	}
	if w.lock, err = pg.Lock(ctx, pool, "run", opt.Wait); err != nil {
		return nil, err
	}
	if err := p.locked(ctx, pool, pl, w); err != nil {
		w.lock.Release()
		return nil, err
	}
	return w, nil
}

// locked readies the warehouse for a run, under the run lock: indexes and
// migrations, the runs that never ended closed, staging checked against
// the contracts, distribution, the reader's password and the hash key.
func (p *Folder) locked(ctx context.Context, pool *pgxpool.Pool, pl *config.Pipeline, w *work) error {
	// A migration finds the indexes a killed load dropped.
	if err := p.ledger.RestoreIndexes(ctx, pool); err != nil {
		return fmt.Errorf("build again the indexes a load dropped: %w", err)
	}
	if _, err := p.Migrate(ctx, pool); err != nil {
		return err
	}
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
	if w.citus, err = p.distribute(ctx, pool, pl); err != nil {
		return err
	}
	if err := p.SetReaderPassword(ctx, pool); err != nil {
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
	sum := &Summary{Pipeline: w.pl.Name, Citus: w.citus}
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
	ld, err := p.loader(pool, loaders.Options{Key: w.key, Jobs: opt.Jobs, OnFile: opt.OnFile, Rehash: opt.Rehash, Precision: w.precision})
	if err != nil {
		return err
	}
	pl := w.pl
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
			sum.Warnings = append(sum.Warnings, p.Unreadable(name)...)
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
	}
	if sum.Seeds, err = p.loadSeeds(ctx, pool, sum.RunID); err != nil {
		return err
	}
	sum.Loading = time.Since(loading)
	// A backfill chunk whose every file was refused has nothing to build:
	// the next chunk builds whatever is stale.
	chunkFailed := opt.Files != nil && len(sum.Files) > 0 &&
		sum.Count(loaders.Loaded)+sum.Count(loaders.Replaced)+sum.Count(loaders.Skipped) == 0
	if !opt.LoadOnly && !chunkFailed {
		bo := p.buildOptions(pl, opt)
		bo.Held = w.lock.Check
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
	return errors.Join(refusals(sum), unmet(sum.Expectations))
}

// InterruptedError is the error of a run whose context was cancelled
// (Ctrl-C, SIGTERM): it stopped at the next safe point, and is recorded as
// interrupted, not failed. Every file it committed stays loaded; a publish
// either committed whole or not at all.
type InterruptedError struct {
	// Published says the run's own publish had committed when it stopped.
	Published bool
	// Done, for a backfill, are the chunks whose publish committed before
	// it stopped; Pending the chunk under way, when it published nothing.
	Done    []Chunk
	Pending *Chunk
	// Nothing says it stopped before anything was published or loaded.
	Nothing bool
	Err     error
}

func (e *InterruptedError) Error() string {
	var what string
	done := ""
	if n := len(e.Done); n > 0 {
		done = fmt.Sprintf("published %s", Chunk{From: e.Done[0].From, To: e.Done[n-1].To}.days())
	}
	switch {
	case e.Pending != nil && done != "":
		what = fmt.Sprintf("%s; nothing of this chunk (%s) was published", done, e.Pending.days())
	case e.Pending != nil:
		what = fmt.Sprintf("nothing of this chunk (%s) was published", e.Pending.days())
	case done != "":
		what = done
	case e.Published:
		what = "the models were published; the delivery checks did not run"
	case e.Nothing:
		what = "nothing was published"
	default:
		what = "nothing of this run was published; the files it loaded stay loaded"
	}
	return "interrupted: " + what + "; run the same command to resume"
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// ErrExpectations is wrapped by the error of a run that found a delivery
// expectation of severity error unmet.
var ErrExpectations = errors.New("delivery expectations unmet")

// unmet is the error for expectations of severity error, or nil.
func unmet(found []ledger.Expectation) error {
	if n := delivery.Errors(found); n > 0 {
		return fmt.Errorf("%w: %d of severity error%s", ErrExpectations, n, delivery.Silence(found))
	}
	return nil
}

// CheckDeliveries checks the expectations of pl's sources as of a day
// (zero: today), records the check under runID (0: none) and returns what
// it found unmet.
func (p *Folder) CheckDeliveries(ctx context.Context, pool *pgxpool.Pool, pl *config.Pipeline, runID int64, asOf time.Time) ([]ledger.Expectation, error) {
	found, err := delivery.Check(ctx, pool, pl, delivery.Options{AsOf: asOf, Now: time.Now()})
	if err != nil {
		return nil, err
	}
	day := asOf
	if day.IsZero() {
		day = time.Now()
	}
	return found, delivery.Record(ctx, pool, pl, runID, day, found)
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

// Built counts the models the run built.
func (s *Summary) Built() int {
	if s.Build == nil {
		return 0
	}
	return len(s.Build.Built)
}

// buildOptions are the build options of a run of pl.
func (p *Folder) buildOptions(pl *config.Pipeline, opt RunOptions) build.Options {
	return build.Options{Select: opt.Select, Exclude: opt.Exclude, FullRefresh: opt.FullRefresh, From: opt.From, Sources: SourceOf(pl), PublishWait: opt.PublishWait, OnEvent: opt.OnBuild}
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
// by that column run on the workers. It returns Citus's version, or "" on
// plain PostgreSQL, where it does nothing.
func (p *Folder) distribute(ctx context.Context, pool *pgxpool.Pool, pl *config.Pipeline) (string, error) {
	version, err := pg.Citus(ctx, pool)
	if err != nil || version == "" {
		return version, err
	}
	for _, name := range pl.SourceNames() {
		src := pl.Sources[name]
		if src.DistributedBy == "" {
			continue
		}
		for _, t := range SourceTables(&config.Pipeline{Sources: map[string]*config.Source{name: src}}) {
			if _, err := pool.Exec(ctx, `SELECT create_distributed_table(t::regclass, $2), truncate_local_data_after_distributing_table(t::regclass)
				FROM (SELECT $1::text AS t) AS r
				WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = $1::regclass)`, t, src.DistributedBy); err != nil {
				return version, fmt.Errorf("distribute %s by %s: %w", t, src.DistributedBy, err)
			}
		}
	}
	return version, nil
}
