package ledger

import (
	"context"
	"time"
)

// DeclarePipeline records how long a pipeline may go without a successful
// run before it is overdue (health.last_success).
func (Store) DeclarePipeline(ctx context.Context, q Querier, name string, successWithin time.Duration) error {
	_, err := q.Exec(ctx, `INSERT INTO percolate.pipelines (pipeline, success_within) VALUES ($1, make_interval(secs => $2))
		ON CONFLICT (pipeline) DO UPDATE SET success_within = EXCLUDED.success_within, declared_at = now()`, name, successWithin.Seconds())
	return wrap("declare pipeline", err)
}
