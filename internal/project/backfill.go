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
	rep := &BackfillReport{Pipeline: pl.Name, From: opt.From.Format(time.DateOnly), To: opt.To.Format(time.DateOnly), Pending: map[string][]string{}}
	byDay := map[string]map[string][]string{} // day → source → files
	for _, name := range pl.SourceNames() {
		src := pl.Sources[name]
		paths, err := p.Paths(ctx, src, opt.Sources[name])
		if err != nil {
			return nil, err
		}
		var inRange []string
		for _, path := range paths {
			day, err := loaders.Day(ctx, src, path, p.S3)
			if err != nil {
				rep.Undated = append(rep.Undated, p.rel(path))
				continue
			}
			if day.Before(opt.From) || day.After(opt.To) {
				continue
			}
			inRange = append(inRange, path)
			d := day.Format(time.DateOnly)
			if byDay[d] == nil {
				byDay[d] = map[string][]string{}
			}
			byDay[d][name] = append(byDay[d][name], path)
		}
		rep.Found += len(inRange)
		pending, err := p.pending(ctx, pool, src, inRange, opt.Rehash)
		if err != nil {
			return nil, err
		}
		for _, f := range pending {
			rep.Pending[name] = append(rep.Pending[name], p.rel(f))
		}
		// Keep only the pending files in the day map.
		isPending := map[string]bool{}
		for _, f := range pending {
			isPending[f] = true
		}
		for d, bySource := range byDay {
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
				delete(byDay, d)
			}
		}
	}
	for d := range byDay {
		rep.Days = append(rep.Days, d)
	}
	sort.Strings(rep.Days)
	chunks := chunk(rep.Days, byDay, opt.PublishEvery)
	rep.Chunks = len(chunks)
	left := len(rep.Days)
	for i := range chunks {
		left -= chunks[i].Days
		chunks[i].DaysLeft = left
	}
	if opt.DryRun {
		ro := opt.RunOptions
		ro.Files = map[string][]string{}
		for _, c := range chunks {
			for s, fs := range c.Files {
				ro.Files[s] = append(ro.Files[s], fs...)
			}
		}
		if rep.Plan, err = p.plan(ctx, pool, ro); err != nil {
			return nil, err
		}
		rep.Duration = time.Since(start)
		return rep, nil
	}

	if onFiles != nil {
		pending := 0
		for _, fs := range rep.Pending {
			pending += len(fs)
		}
		onFiles(pending)
	}
	w, err := p.prepare(ctx, pool, opt.RunOptions)
	if err != nil {
		return nil, err
	}
	defer w.lock.Release()
	if len(chunks) == 0 {
		// Nothing new to load; still build what is stale (a gap, an edit).
		chunks = []Chunk{{From: opt.From, To: opt.To, Files: map[string][]string{}}}
	}
	var refused []error
	var published []Chunk
	for _, c := range chunks {
		ro := opt.RunOptions
		ro.Files = c.Files
		for _, name := range pl.SourceNames() {
			if ro.Files[name] == nil {
				ro.Files[name] = []string{}
			}
		}
		sum, err := p.step(ctx, pool, w, "backfill", ro)
		if sum != nil {
			rep.Runs = append(rep.Runs, sum)
		}
		var stop *InterruptedError
		if err != nil && ctx.Err() != nil && !errors.As(err, &stop) {
			stop = &InterruptedError{Err: err} // before the chunk's run began
			err = stop
		}
		if stop != nil {
			stop.Done = published
			if stop.Published {
				stop.Done = append(stop.Done, c)
			} else {
				stop.Pending = &c
			}
			rep.Duration = time.Since(start)
			return rep, err
		}
		if sum != nil && sum.Published {
			// Told only of what readers now see.
			published = append(published, c)
			if opt.OnChunk != nil {
				opt.OnChunk(c, sum)
			}
		}
		if errors.Is(err, ErrRefused) {
			// A bad file is reported, not a reason to stop the years after it.
			refused = append(refused, err)
			continue
		}
		if err != nil {
			rep.Duration = time.Since(start)
			return rep, err
		}
	}
	var last int64
	if n := len(rep.Runs); n > 0 {
		last = rep.Runs[n-1].RunID
	}
	if rep.Expectations, err = p.CheckDeliveries(ctx, pool, pl, last, opt.AsOf); err != nil {
		return rep, err
	}
	rep.Duration = time.Since(start)
	if len(refused) > 0 {
		return rep, errors.Join(fmt.Errorf("%w in %d publish(es): %w", ErrRefused, len(refused), errors.Join(refused...)), Unmet(rep.Expectations))
	}
	if err := Unmet(rep.Expectations); err != nil {
		return rep, err
	}
	rep.UpToDate = len(rep.Days) == 0 && builtNothing(rep.Runs)
	rep.Duration = time.Since(start)
	return rep, nil
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
