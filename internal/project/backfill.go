package project

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/loaders"
)

// BackfillOptions say what a backfill takes.
type BackfillOptions struct {
	RunOptions
	From, To time.Time // days, inclusive
	// PublishEvery publishes after each chunk of this many days (0: once,
	// at the end), so dashboards fill in as a long backfill goes.
	PublishEvery int
	DryRun       bool
	// OnChunk is told of each chunk as it is published.
	OnChunk func(Chunk, *Summary)
}

// Chunk is a range of days a backfill loads and publishes together.
type Chunk struct {
	From, To time.Time
	Files    map[string][]string // by source: the files not loaded yet
	Days     int
	// DaysLeft counts the days of the chunks after this one.
	DaysLeft int
}

// BackfillReport is what a backfill found and did.
type BackfillReport struct {
	Pipeline string              `json:"pipeline"`
	From     string              `json:"from"`
	To       string              `json:"to"`
	Found    int                 `json:"files_in_range"`
	Pending  map[string][]string `json:"files_to_load"`
	Days     []string            `json:"days_with_new_files"`
	Runs     []*Summary          `json:"-"`
	Chunks   int                 `json:"chunks"`
	Duration time.Duration       `json:"-"`
	UpToDate bool                `json:"up_to_date"`
	Undated  []string            `json:"undated_files,omitempty"`
	// Expectations are the delivery expectations found unmet after the
	// backfill's last publish.
	Expectations []ledger.Expectation `json:"expectations,omitempty"`
	Plan         *PlanReport          `json:"plan,omitempty"`
}

// Backfill loads the files of the pipeline's sources whose day is in
// [From, To] and are not loaded yet, and builds the days they touch,
// publishing once at the end or after every PublishEvery days. Everything
// it does is recorded file by file and run by run, so killing it and
// running it again carries on where it stopped; a second identical backfill
// does nothing.
func (p *Folder) Backfill(ctx context.Context, pool *pgxpool.Pool, opt BackfillOptions) (*BackfillReport, error) {
	start := time.Now()
	if opt.To.Before(opt.From) {
		return nil, fmt.Errorf("backfill: the range ends on %s, before it starts on %s", opt.To.Format(time.DateOnly), opt.From.Format(time.DateOnly))
	}
	pl, err := p.Config.Pipeline(opt.Pipeline)
	if err != nil {
		return nil, err
	}
	if err := p.checkSources(pl, opt.RunOptions); err != nil {
		return nil, err
	}
	// The steps load chunk by chunk; progress wants the whole count once.
	onFiles := opt.OnFiles
	opt.OnFiles = nil
	b := &backfill{p: p, pool: pool, pl: pl, opt: opt, byDay: map[string]map[string][]string{},
		rep: &BackfillReport{Pipeline: pl.Name, From: opt.From.Format(time.DateOnly), To: opt.To.Format(time.DateOnly), Pending: map[string][]string{}}}
	defer func() { b.rep.Duration = time.Since(start) }()
	chunks, err := b.find(ctx)
	if err != nil {
		return nil, err
	}
	if opt.DryRun {
		if b.rep.Plan, err = p.plan(ctx, pool, b.planOptions(chunks)); err != nil {
			return nil, err
		}
		return b.rep, nil
	}
	if onFiles != nil {
		pending := 0
		for _, fs := range b.rep.Pending {
			pending += len(fs)
		}
		onFiles(pending)
	}
	w, err := p.prepare(ctx, pool, opt.RunOptions)
	if err != nil {
		return nil, err
	}
	defer w.lock.Release()
	return b.rep, b.load(ctx, w, chunks)
}

// backfill is one Backfill's state: what it was asked, the files it found
// by day, and its report.
type backfill struct {
	p     *Folder
	pool  *pgxpool.Pool
	pl    *config.Pipeline
	opt   BackfillOptions
	rep   *BackfillReport
	byDay map[string]map[string][]string // day → source → files not loaded yet
}

// find lists the files of every source in the range and not loaded yet,
// by day, into the report, and splits their days into chunks.
func (b *backfill) find(ctx context.Context) ([]Chunk, error) {
	for _, name := range b.pl.SourceNames() {
		if err := b.findSource(ctx, name); err != nil {
			return nil, err
		}
	}
	for d := range b.byDay {
		b.rep.Days = append(b.rep.Days, d)
	}
	sort.Strings(b.rep.Days)
	chunks := chunk(b.rep.Days, b.byDay, b.opt.PublishEvery)
	b.rep.Chunks = len(chunks)
	left := len(b.rep.Days)
	for i := range chunks {
		left -= chunks[i].Days
		chunks[i].DaysLeft = left
	}
	return chunks, nil
}

// findSource adds the files of a source whose day is in the range, and
// that are not loaded yet, to the report and the day map.
func (b *backfill) findSource(ctx context.Context, name string) error {
	src := b.pl.Sources[name]
	paths, err := b.p.Paths(ctx, src, b.opt.Sources[name])
	if err != nil {
		return err
	}
	var inRange []string
	for _, path := range paths {
		day, err := loaders.Day(ctx, src, path, b.p.S3)
		if err != nil {
			b.rep.Undated = append(b.rep.Undated, b.p.rel(path))
			continue
		}
		if day.Before(b.opt.From) || day.After(b.opt.To) {
			continue
		}
		inRange = append(inRange, path)
		d := day.Format(time.DateOnly)
		if b.byDay[d] == nil {
			b.byDay[d] = map[string][]string{}
		}
		b.byDay[d][name] = append(b.byDay[d][name], path)
	}
	b.rep.Found += len(inRange)
	pending, err := b.p.pending(ctx, b.pool, src, inRange, b.opt.Rehash)
	if err != nil {
		return err
	}
	for _, f := range pending {
		b.rep.Pending[name] = append(b.rep.Pending[name], b.p.rel(f))
	}
	b.keepPending(name, pending)
	return nil
}

// keepPending keeps only the pending files of a source in the day map.
func (b *backfill) keepPending(name string, pending []string) {
	isPending := map[string]bool{}
	for _, f := range pending {
		isPending[f] = true
	}
	for d, bySource := range b.byDay {
		var keep []string
		for _, f := range bySource[name] {
			if isPending[f] {
				keep = append(keep, f)
			}
		}
		if len(keep) == 0 {
			delete(bySource, name)
		} else {
			bySource[name] = keep
		}
		if len(bySource) == 0 {
			delete(b.byDay, d)
		}
	}
}

// planOptions are the options of a run that loads every chunk's files.
func (b *backfill) planOptions(chunks []Chunk) RunOptions {
	ro := b.opt.RunOptions
	ro.Files = map[string][]string{}
	for _, c := range chunks {
		for s, fs := range c.Files {
			ro.Files[s] = append(ro.Files[s], fs...)
		}
	}
	return ro
}

// load runs a step for each chunk, under the lock w holds, then checks the
// deliveries once.
func (b *backfill) load(ctx context.Context, w *work, chunks []Chunk) error {
	if len(chunks) == 0 {
		// Nothing new to load; still build what is stale (a gap, an edit).
		chunks = []Chunk{{From: b.opt.From, To: b.opt.To, Files: map[string][]string{}}}
	}
	var refused []error
	var published []Chunk
	for _, c := range chunks {
		err := b.step(ctx, w, c, &published)
		if err != nil && ctx.Err() != nil {
			return err // interrupted: it says what was published
		}
		if errors.Is(err, ErrRefused) {
			// A bad file is reported, not a reason to stop the years after it.
			refused = append(refused, err)
			continue
		}
		if err != nil {
			return err
		}
	}
	return b.finish(ctx, refused)
}

// step loads and publishes one chunk, adding it to published once readers
// see it. An interruption says which chunks were published.
func (b *backfill) step(ctx context.Context, w *work, c Chunk, published *[]Chunk) error {
	ro := b.opt.RunOptions
	ro.Files = c.Files
	for _, name := range b.pl.SourceNames() {
		if ro.Files[name] == nil {
			ro.Files[name] = []string{}
		}
	}
	sum, err := b.p.step(ctx, b.pool, w, "backfill", ro)
	if sum != nil {
		b.rep.Runs = append(b.rep.Runs, sum)
	}
	var stop *InterruptedError
	if err != nil && ctx.Err() != nil && !errors.As(err, &stop) {
		stop = &InterruptedError{Err: err} // before the chunk's run began
		err = stop
	}
	if stop != nil {
		stop.Done = *published
		if stop.Published {
			stop.Done = append(stop.Done, c)
		} else {
			stop.Pending = &c
		}
		return err
	}
	if sum != nil && sum.Published {
		// Told only of what readers now see.
		*published = append(*published, c)
		if b.opt.OnChunk != nil {
			b.opt.OnChunk(c, sum)
		}
	}
	return err
}

// finish checks the deliveries after the last publish and says how the
// backfill went: the files refused, the expectations unmet, or whether
// there was nothing to do.
func (b *backfill) finish(ctx context.Context, refused []error) error {
	rep := b.rep
	var last int64
	if n := len(rep.Runs); n > 0 {
		last = rep.Runs[n-1].RunID
	}
	var err error
	if rep.Expectations, err = b.p.CheckDeliveries(ctx, b.pool, b.pl, last, b.opt.AsOf); err != nil {
		return err
	}
	if len(refused) > 0 {
		return errors.Join(fmt.Errorf("%w in %d publish(es): %w", ErrRefused, len(refused), errors.Join(refused...)), Unmet(rep.Expectations))
	}
	if err := Unmet(rep.Expectations); err != nil {
		return err
	}
	rep.UpToDate = len(rep.Days) == 0 && builtNothing(rep.Runs)
	return nil
}

func builtNothing(runs []*Summary) bool {
	for _, r := range runs {
		if r.Built() > 0 {
			return false
		}
	}
	return true
}

// days names a chunk's range of days.
func (c Chunk) days() string {
	if c.From.Equal(c.To) {
		return c.From.Format(time.DateOnly)
	}
	return c.From.Format(time.DateOnly) + " … " + c.To.Format(time.DateOnly)
}

// chunk splits the days into chunks of every days (0: one chunk).
func chunk(days []string, byDay map[string]map[string][]string, every int) []Chunk {
	var out []Chunk
	for i, d := range days {
		if every <= 0 && i > 0 || every > 0 && i%every != 0 {
			c := &out[len(out)-1]
			c.To, _ = time.Parse(time.DateOnly, d)
			c.Days++
			for s, fs := range byDay[d] {
				c.Files[s] = append(c.Files[s], fs...)
			}
			continue
		}
		t, _ := time.Parse(time.DateOnly, d)
		c := Chunk{From: t, To: t, Days: 1, Files: map[string][]string{}}
		for s, fs := range byDay[d] {
			c.Files[s] = append(c.Files[s], fs...)
		}
		out = append(out, c)
	}
	return out
}

// pending returns the paths of a source whose content is not loaded yet;
// on a database without the ledger, all of them.
func (p *Folder) pending(ctx context.Context, pool *pgxpool.Pool, src *config.Source, paths []string, rehash bool) ([]string, error) {
	ready, err := p.ledger.Ready(ctx, pool)
	if err != nil || !ready {
		return paths, err
	}
	ld, err := p.loader(pool, loaders.Options{Rehash: rehash})
	if err != nil {
		return nil, err
	}
	return ld.Pending(ctx, src, paths)
}
