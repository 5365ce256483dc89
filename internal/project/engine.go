package project

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/warehouse"
)

// Engine detects the engine of the warehouse pool reaches (plain
// PostgreSQL or Citus, its version and workers), for a caller to pass
// down rather than ask again.
func (p *Folder) Engine(ctx context.Context, pool *pgxpool.Pool) (*warehouse.Engine, error) {
	return warehouse.Detect(ctx, pool)
}

// RestoreIndexes builds again the staging indexes a load dropped and
// was killed before it built them (warehouse.RestoreIndexes): a migration
// or a load finds them.
func (p *Folder) RestoreIndexes(ctx context.Context, pool *pgxpool.Pool) error {
	if err := warehouse.RestoreIndexes(ctx, pool); err != nil {
		return fmt.Errorf("build again the indexes a load dropped: %w", err)
	}
	return nil
}
