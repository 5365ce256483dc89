package project

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Watch defaults.
const (
	DefaultPoll   = 10 * time.Second
	DefaultSettle = 500 * time.Millisecond
	DefaultRescan = time.Minute
	// maxRetry bounds the wait between attempts at a batch that failed
	// (the database down, say).
	maxRetry = 30 * time.Second
)

// WatchCommand is what the ledger records as the command of a watch's
// batches (percolate.runs.command, health.runs.command).
const WatchCommand = "watch"

// WatchOptions say what a watch does.
type WatchOptions struct {
	Pipeline string
	// Sources overrides source paths for this watch: name → glob, as a
	// run's (see RunOptions).
	Sources map[string]string
	// Poll is how often sources in buckets are listed (0: DefaultPoll).
	Poll time.Duration
	// Settle is how long a local file's size and modification time must
	// stay the same before it is loaded (0: DefaultSettle; negative: none).
	Settle time.Duration
	// Rescan is how often local sources are listed whole, in case an
	// event was missed (0: DefaultRescan).
	Rescan time.Duration
	// Jobs and PublishWait are as a run's (see RunOptions).
	Jobs        int
	PublishWait time.Duration
	// OnBatch is told of each batch once it ended, or failed and will be
	// tried again.
	OnBatch func(Batch)
	// OnSeen is told of each file or object new or changed since the
	// last batch, each time it is seen at a new version (size and
	// modification time, or ETag and size).
	OnSeen func(path, version string)
	// Clock is the time the watch goes by (nil: the system's).
	Clock Clock
}

// Batch is one batch of a watch: a run of the files that were ready.
type Batch struct {
	// Files are the files the batch took; Arrived when each was first
	// seen at the version taken.
	Files   []string
	Arrived map[string]time.Time
	// Summary is the run's (nil when it could not start); Err its error.
	Summary *Summary
	Err     error
	// Retry, when set, says the batch failed and is tried again after it.
	Retry time.Duration
	Took  time.Duration
}

// Watch watches every source of a pipeline and runs a batch, recorded in
// the ledger as a run of command watch, whenever files are ready: local
// folders by their events (and a rescan every opt.Rescan), buckets by a
// listing every opt.Poll. The run lock is taken for each batch only, so a
// run or a backfill can go between two. A batch that fails (the database
// restarting, say) is tried again with a growing wait; the manifest skips
// whatever it had committed. Cancelling ctx lets the batch under way end,
// then Watch returns nil.
func (p *Folder) Watch(ctx context.Context, pool *pgxpool.Pool, opt WatchOptions) error {
	pl, err := p.Config.Pipeline(opt.Pipeline)
	if err != nil {
		return err
	}
	if err := p.checkSources(pl, RunOptions{Sources: opt.Sources}); err != nil {
		return err
	}
	opt = watchDefaults(opt)
	w, err := p.newWatcher(pl, opt)
	if err != nil {
		return err
	}
	defer w.close()
	now := opt.Clock.Now()
	rescan, poll := now, now
	var retry time.Duration
	var retryAt time.Time
	for ctx.Err() == nil {
		now = opt.Clock.Now()
		if !now.Before(rescan) {
			if err := w.scan(ctx, false); err != nil {
				return err
			}
			rescan = now.Add(opt.Rescan)
		}
		if len(w.buckets) > 0 && !now.Before(poll) {
			// A bucket that cannot be listed now may be listable at the
			// next poll: said, not fatal.
			if err := w.scan(ctx, true); err != nil && ctx.Err() == nil && opt.OnBatch != nil {
				opt.OnBatch(Batch{Err: err, Retry: opt.Poll})
			}
			poll = now.Add(opt.Poll)
		}
		w.drain()
		files, next := w.ready()
		if len(files) > 0 && !now.Before(retryAt) {
			retryAt = time.Time{}
			if retry = p.watchBatch(ctx, pool, w, files, retry); retry > 0 {
				retryAt = opt.Clock.Now().Add(retry)
			}
			continue
		}
		wake := earliest(rescan, next, retryAt)
		if len(w.buckets) > 0 {
			wake = earliest(wake, poll)
		}
		select {
		case <-ctx.Done():
		case ev := <-w.fs.Events:
			w.event(ev)
		case <-w.fs.Errors: // events lost (the queue overflowed): list again
			rescan = now
		case <-opt.Clock.Until(wake):
		}
	}
	return nil
}

func watchDefaults(opt WatchOptions) WatchOptions {
	if opt.Poll <= 0 {
		opt.Poll = DefaultPoll
	}
	if opt.Settle == 0 {
		opt.Settle = DefaultSettle
	} else if opt.Settle < 0 {
		opt.Settle = 0
	}
	if opt.Rescan <= 0 {
		opt.Rescan = DefaultRescan
	}
	if opt.Clock == nil {
		opt.Clock = systemClock{}
	}
	return opt
}

// earliest is the earliest of times that are set.
func earliest(times ...time.Time) time.Time {
	var e time.Time
	for _, t := range times {
		if !t.IsZero() && (e.IsZero() || t.Before(e)) {
			e = t
		}
	}
	return e
}

// drain takes the events already queued, so that files that arrived
// together are in one batch.
func (w *watcher) drain() {
	for {
		select {
		case ev := <-w.fs.Events:
			w.event(ev)
		default:
			return
		}
	}
}

// watchBatch runs one batch of files, under the run lock, and returns how
// long to wait before trying it again (0: it ended). Once the lock is
// held the batch runs to its end whatever ctx says: a SIGTERM finishes
// it.
func (p *Folder) watchBatch(ctx context.Context, pool *pgxpool.Pool, w *watcher, files map[string][]string, retry time.Duration) time.Duration {
	start := w.clock.Now()
	b := Batch{Arrived: map[string]time.Time{}}
	versions := map[string]string{}
	opt := RunOptions{Pipeline: w.pl.Name, Jobs: w.opt.Jobs, PublishWait: w.opt.PublishWait, Wait: true, Files: map[string][]string{}}
	for _, name := range w.pl.SourceNames() {
		paths := files[name]
		sortByDay(w.pl.Sources[name], paths)
		opt.Files[name] = paths
		for _, path := range paths {
			s := w.files[path]
			b.Files = append(b.Files, path)
			b.Arrived[path], versions[path] = s.since, s.version
		}
	}
	wk, err := p.prepare(ctx, pool, opt)
	if err == nil {
		b.Summary, err = p.step(context.WithoutCancel(ctx), pool, wk, WatchCommand, opt)
		wk.lock.Release()
	}
	b.Err, b.Took = err, w.clock.Now().Sub(start)
	if err != nil && ctx.Err() != nil && b.Summary == nil {
		return 0 // stopped waiting for the lock: nothing of it ran
	}
	if err != nil && !errors.Is(err, ErrRefused) {
		b.Retry = min(max(2*retry, time.Second/2), maxRetry)
	} else {
		w.taken(versions)
	}
	if w.opt.OnBatch != nil {
		w.opt.OnBatch(b)
	}
	return b.Retry
}
