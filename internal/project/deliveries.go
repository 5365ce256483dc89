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
// it found unmet.
func (p *Folder) CheckDeliveries(ctx context.Context, pool *pgxpool.Pool, pl *config.Pipeline, runID int64, asOf time.Time) ([]Expectation, error) {
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

// CheckSources is CheckDeliveries by no run, listing missing days from
// since (zero: each group's first day) only; it returns too the day it
// took for today.
func (p *Folder) CheckSources(ctx context.Context, pool *pgxpool.Pool, pl *config.Pipeline, asOf, since time.Time) ([]Expectation, time.Time, error) {
	opt := delivery.Options{AsOf: asOf, Since: since, Now: time.Now()}
	day := cmp.Or(opt.AsOf, opt.Now)
	found, err := delivery.Check(ctx, pool, pl, opt)
	if err != nil {
		return nil, day, err
	}
	return found, day, delivery.Record(ctx, pool, pl, 0, day, found)
}
