package project

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/delivery"
	"github.com/percolate/percolate/internal/pg"
)

// ErrExpectations is wrapped by the error of a run that found a delivery
// expectation of severity error unmet.
var ErrExpectations = errors.New("delivery expectations unmet")

// Unmet is the error for the expectations of severity error among found,
// wrapping ErrExpectations, or nil when there are none.
func Unmet(found []Expectation) error {
	if n := delivery.Errors(found); n > 0 {
		return fmt.Errorf("%w: %d of severity error%s", ErrExpectations, n, delivery.Silence(found))
	}
	return nil
}

// CheckDeliveries checks the expectations of pl's sources as of a day
// (zero: today), records the check under runID (0: none) and returns what
// it found unmet. The caller holds the run lock: what the check read of
// the sources' tables is kept for the next (delivery.Options.Keep).
func (p *Folder) CheckDeliveries(ctx context.Context, pool *pgxpool.Pool, pl *config.Pipeline, runID int64, asOf time.Time) ([]Expectation, error) {
	found, err := delivery.Check(ctx, pool, pl, delivery.Options{AsOf: asOf, Now: time.Now(), Keep: true})
	if err != nil {
		return nil, err
	}
	day := asOf
	if day.IsZero() {
		day = time.Now()
	}
	return found, delivery.Record(ctx, pool, pl, runID, day, found)
}

// CheckSources is CheckDeliveries by no run, listing missing days from
// since (zero: each group's first day) only, the sources' tables read
// whole with full; it returns too the day it took for today. What a check
// read of the tables is kept by runs, which hold the run lock (a run
// loading may commit a file while a check reads), and by a full check when
// no run holds it; a routine check takes no lock and keeps nothing: a
// check from a monitor, holding the run lock, would turn away the nightly
// run that starts meanwhile (exit 3).
func (p *Folder) CheckSources(ctx context.Context, pool *pgxpool.Pool, pl *config.Pipeline, asOf, since time.Time, full bool) ([]Expectation, time.Time, error) {
	opt := delivery.Options{AsOf: asOf, Since: since, Now: time.Now(), Full: full}
	day := cmp.Or(opt.AsOf, opt.Now)
	if full {
		held, err := p.lock(ctx, pool, false)
		switch {
		case err == nil:
			defer held.Release()
			opt.Keep = true
		case !errors.Is(err, pg.ErrBusy):
			return nil, day, err
		}
	}
	found, err := delivery.Check(ctx, pool, pl, opt)
	if err != nil {
		return nil, day, err
	}
	return found, day, delivery.Record(ctx, pool, pl, 0, day, found)
}
