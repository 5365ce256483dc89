package build

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// publish is the transaction that finishes a build: the steps not built
// early, in order, their checks, and, when no error check failed, the swap
// and the ledger's record of everything built. built are the early
// steps' builds.
func (j *job) publish(ctx context.Context, built map[string]*earlyBuild, res *Result) error {
	spares, err := makeSpareSchema(ctx, j.pool, j.plan, j.g, j.whole)
	if err != nil {
		return err
	}
	tx, err := begin(ctx, j.pool, j.plan)
	if err != nil {
		return fmt.Errorf("begin the publish: %w", err)
	}
	defer tx.Rollback(context.Background())
	if err := j.buildLate(ctx, tx, built, res); err != nil {
		return err
	}
	if err := j.checkLate(ctx, tx, res); err != nil {
		return err
	}
	j.opt.tell(j.plan, Event{Kind: Publishing})
	publishing := time.Now()
	defer func() { res.Publishing = time.Since(publishing) }()
	keeps := func(m *dag.Model) bool { return spares && j.plan.keeps(m) }
	if err := swapWhenFree(ctx, tx, j.g, j.whole, keeps, cmp.Or(j.opt.PublishWait, time.Minute)); err != nil {
		return err // it says publish
	}
	if err := comment(ctx, tx, j.g); err != nil {
		return fmt.Errorf("comment the models: %w", err)
	}
	if err := dropGone(ctx, tx, j.gone); err != nil {
		return err
	}
	// The rest is the ledger's: the models' role may not write it.
	if err := pg.AsConnected(ctx, tx); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := j.record(ctx, tx, res); err != nil {
		return err
	}
	if j.opt.Held != nil {
		if err := j.opt.Held(ctx); err != nil {
			return fmt.Errorf("%w; nothing was published", err)
		}
	}
	if err := pg.Commit(ctx, tx); err != nil {
		return fmt.Errorf("commit the publish: %w", err)
	}
	return nil
}

// buildLate builds in tx the steps not built early, in order, and adds to
// res what every step built, early or not.
func (j *job) buildLate(ctx context.Context, tx pgx.Tx, built map[string]*earlyBuild, res *Result) error {
	var book ledger.Store
	for _, s := range j.plan.Steps {
		if !s.Build {
			continue
		}
		if j.early[s.Name] {
			b := built[s.Name]
			res.Built = append(res.Built, b.built)
			res.Checks = append(res.Checks, b.checks...)
			res.Checking += b.checking
		} else {
			j.opt.tell(j.plan, Event{Kind: ModelStarted, Model: s.Name})
			start := time.Now()
			var rows int64
			var err error
			if s.Full {
				rows, err = materialize(ctx, tx, j.plan, s.Model, j.whole)
			} else {
				rows, err = inPlace(ctx, tx, j.plan, s, j.whole)
			}
			if err != nil {
				return err
			}
			res.Built = append(res.Built, Built{Model: s.Model, Rows: rows, Duration: time.Since(start), Reason: s.Reason})
			j.opt.tell(j.plan, Event{Kind: ModelBuilt, Model: s.Name, Rows: rows, Took: time.Since(start)})
		}
		if err := asConnected(ctx, tx, func() error { return recordIntervals(ctx, tx, book, s, j.runID) }); err != nil {
			return err
		}
	}
	return nil
}

// checkLate runs in tx the checks the early builds left. When an error
// check failed, it rolls tx back, records the results outside it and
// returns ErrChecks.
func (j *job) checkLate(ctx context.Context, tx pgx.Tx, res *Result) error {
	j.opt.tell(j.plan, Event{Kind: Checking})
	checking := time.Now()
	checks, err := runSomeChecks(ctx, tx, j.plan, j.whole.name, func(s *Step, c *dag.Check) bool {
		// Early steps ran the checks that read nothing else new.
		return !j.early[s.Name] || readsOthersBuilt(s, c, j.whole)
	})
	if err != nil {
		return err
	}
	res.Checks = append(res.Checks, checks...)
	res.Checking += time.Since(checking)
	failed := Failed(res.Checks)
	if len(failed) == 0 {
		return nil
	}
	err = fmt.Errorf("%w: %s; nothing was published", ErrChecks, describeFailures(failed))
	if rerr := tx.Rollback(ctx); rerr != nil {
		return errors.Join(err, rerr)
	}
	// The build's transaction is gone: the results are kept outside it,
	// even when the run was cancelled meanwhile.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if rerr := recordChecks(rctx, j.pool, j.runID, res.Checks); rerr != nil {
		return errors.Join(err, fmt.Errorf("record check results: %w", rerr))
	}
	return err
}

// record writes to the ledger, in tx, what the build built and checked.
func (j *job) record(ctx context.Context, tx pgx.Tx, res *Result) error {
	var book ledger.Store
	now := time.Now()
	for _, b := range res.Built {
		m := b.Model
		if err := book.RecordBuild(ctx, tx, j.runID, ledger.Build{Model: m.Name, Version: m.Version, OwnVersion: m.OwnVersion,
			Materialization: m.Config.Materialized, Rows: b.Rows, Started: now.Add(-b.Duration), Finished: now,
			Inputs: stepOf(j.plan, m.Name).inputs, Watermark: j.plan.Watermark, Columns: m.ColumnVersions()}); err != nil {
			return err
		}
	}
	if err := recordChecks(ctx, tx, j.runID, res.Checks); err != nil {
		return err
	}
	return recordCheckVersions(ctx, tx, j.plan, j.runID)
}

func stepOf(p *Plan, name string) *Step {
	for _, s := range p.Steps {
		if s.Name == name {
			return s
		}
	}
	return &Step{}
}

// asConnected runs fn, a write to the ledger inside a build's transaction,
// as the role percolate connected as, and then the models' role again.
func asConnected(ctx context.Context, tx pgx.Tx, fn func() error) error {
	if err := pg.AsConnected(ctx, tx); err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	return pg.AsModels(ctx, tx)
}

// recordIntervals notes the days an incremental model now holds at its
// version: all its sources' days after a full build, else the days built.
func recordIntervals(ctx context.Context, tx pgx.Tx, book ledger.Store, s *Step, runID int64) error {
	m := s.Model
	if m.Config.Materialized != dag.Incremental {
		return nil
	}
	if s.Full {
		return book.ResetIntervals(ctx, tx, m.Name, m.Version, runID, s.sources)
	}
	return book.AddIntervals(ctx, tx, m.Name, m.Version, runID, s.Days)
}
