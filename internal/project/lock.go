package project

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/pg"
)

// lockName names the run lock: one run, migration or diff at a time on a
// database.
const lockName = "run"

// lock takes the run lock, the one place it is taken: with wait false it
// fails at once with pg.ErrBusy when another process holds it.
func (p *Folder) lock(ctx context.Context, pool *pgxpool.Pool, wait bool) (*pg.Held, error) {
	return pg.Lock(ctx, pool, lockName, wait)
}

// lockRestored takes the run lock and builds again the indexes a killed
// load dropped (a migration finds them): what a command that changes the
// warehouse's schema does first. The caller releases the lock.
func (p *Folder) lockRestored(ctx context.Context, pool *pgxpool.Pool, wait bool) (*pg.Held, error) {
	held, err := p.lock(ctx, pool, wait)
	if err != nil {
		return nil, err
	}
	// A migration finds the indexes a killed load dropped.
	if err := p.RestoreIndexes(ctx, pool); err != nil {
		held.Release()
		return nil, err
	}
	return held, nil
}

// lockMigrated is lockRestored, then every pending migration applied
// (see Migrate): the warehouse as a run or migrate up wants it, no other
// run loading or building while its schema changes. What was applied is
// returned even when a migration failed; the lock is then released.
func (p *Folder) lockMigrated(ctx context.Context, pool *pgxpool.Pool, wait bool) (*pg.Held, Migrated, error) {
	held, err := p.lockRestored(ctx, pool, wait)
	if err != nil {
		return nil, Migrated{}, err
	}
	res, err := p.Migrate(ctx, pool)
	if err != nil {
		held.Release()
		return nil, res, err
	}
	return held, res, nil
}
